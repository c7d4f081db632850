/* mime.c: a raw message read with GMime: its sender, subject, date, the
 * receiving server's authentication verdict, Drive links, and the parts
 * a person would call attachments, each decoded in one pass that hashes,
 * sniffs and stores it.
 *
 * Untrusted bytes: the raw header block is measured before GMime sees
 * it, the tree is walked by hand so depth and part count are bounded, and
 * every string that leaves is valid UTF-8. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <gmime/gmime.h>
#include <openssl/evp.h>

#include "gmailops.h"

#define MAX_REF		998		/* a cid: reference */
#define MAX_REFS	10000		/* cid: references per message */
#define MAX_URL		2048

static int gmime_ready;

/* --- small helpers ------------------------------------------------------ */

char *
ops_mime_utf8(const char *s)
{
	char *v, *d;

	if (s == NULL || *s == '\0')
		return NULL;
	v = g_utf8_make_valid(s, -1);
	d = ops_xstrdup(v);
	g_free(v);
	return d;
}

#define utf8dup ops_mime_utf8

/* *s made valid UTF-8 in place (a new string); "" becomes NULL. */
static void
make_valid(char **s)
{
	char *v = utf8dup(*s);

	free(*s);
	*s = v;
}

static char *
lower(char *s)
{
	char *p;

	for (p = s; p != NULL && *p != '\0'; p++)
		*p = (char)tolower((unsigned char)*p);
	return s;
}

static void
push(char ***v, size_t *n, size_t *size, char *s)
{
	if (*n == *size) {
		*size = *size * 2 + 8;
		*v = ops_xrealloc(*v, *size * sizeof(**v));
	}
	(*v)[(*n)++] = s;
}

/* --- the raw bytes, before GMime ---------------------------------------- */

/* The top header block: no line over the line bound, the block within
 * its bound. NULL, or why not. */
static const char *
check_header_block(const unsigned char *p, size_t n)
{
	const unsigned char *nl;
	size_t i = 0, line, total = 0;

	while (i < n) {
		nl = memchr(p + i, '\n', n - i);
		line = nl != NULL ? (size_t)(nl - (p + i)) : n - i;
		if (line > OPS_MIME_MAX_HEADER_LINE)
			return "header line longer than 64 KiB";
		if (line == 0 || (line == 1 && p[i] == '\r'))
			return NULL;
		total += line + 1;
		if (total > OPS_MIME_MAX_HEADER)
			return "header block larger than 256 KiB";
		i += line + 1;
	}
	return NULL;
}

/* Does a header line opening a multipart or a message start at p?
 * "Content-Type :" and a value folded onto the next line count too. */
static int
opens_container(const unsigned char *p, const unsigned char *e)
{
	const unsigned char *s = p + 12;

	if (e - p <= 12 ||
	    strncasecmp((const char *)p, "content-type", 12) != 0)
		return 0;
	while (s < e && (*s == ' ' || *s == '\t'))
		s++;
	if (s == e || *s != ':')
		return 0;
	s++;
	while (s < e && (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n'))
		s++;
	return e - s >= 10 && (strncasecmp((const char *)s, "multipart/", 10) ==
	    0 || strncasecmp((const char *)s, "message/", 8) == 0);
}

/* GMime builds the whole tree before we walk it: 200,000 empty parts
 * cost it 270 MB. Every part it makes follows a line starting with "--"
 * (a delimiter) or a header line opening a multipart or a message
 * (GMime also recurses into those): count both on the raw bytes. */
static const char *
check_part_lines(const unsigned char *p, size_t n)
{
	const unsigned char *nl, *e = p + n;
	size_t containers = 0, dashes = 0;

	while (p < e) {
		if (e - p >= 2 && p[0] == '-' && p[1] == '-')
			dashes++;
		if (dashes > OPS_MIME_MAX_DELIMS)
			return "more than 10000 lines that may be MIME "
			    "boundaries";
		if (opens_container(p, e))
			containers++;
		if (containers > OPS_MIME_MAX_PARTS)
			return "more than 1000 MIME parts";
		nl = memchr(p, '\n', (size_t)(e - p));
		if (nl == NULL)
			break;
		p = nl + 1;
	}
	return NULL;
}

/* --- the message's own headers ------------------------------------------ */

static void
address(struct ops_mime_msg *m, GMimeMessage *msg)
{
	InternetAddressList *from = g_mime_message_get_from(msg);
	InternetAddress *ia = NULL;
	const char *at;

	if (from != NULL && internet_address_list_length(from) > 0)
		ia = internet_address_list_get_address(from, 0);
	if (ia != NULL && INTERNET_ADDRESS_IS_GROUP(ia)) {
		from = internet_address_group_get_members(
		    INTERNET_ADDRESS_GROUP(ia));
		ia = from != NULL && internet_address_list_length(from) > 0 ?
		    internet_address_list_get_address(from, 0) : NULL;
	}
	if (ia == NULL || !INTERNET_ADDRESS_IS_MAILBOX(ia))
		return;
	m->sender = lower(utf8dup(internet_address_mailbox_get_addr(
	    INTERNET_ADDRESS_MAILBOX(ia))));
	m->sender_name = utf8dup(internet_address_get_name(ia));
	if (m->sender != NULL) {
		at = strrchr(m->sender, '@');
		if (at != NULL && at[1] != '\0')
			m->auth.from_domain = ops_xstrdup(at + 1);
	}
}

/* The topmost Authentication-Results of the receiving server: it adds
 * its own above what the mail arrived with, which the sender wrote. */
static void
authentication(struct ops_mime_msg *m, GMimeMessage *msg)
{
	GMimeHeaderList *hl = g_mime_object_get_header_list(GMIME_OBJECT(msg));
	GMimeHeader *h;
	const char *v;
	int i, n = hl != NULL ? g_mime_header_list_get_count(hl) : 0;

	for (i = 0; i < n && !m->has_auth; i++) {
		h = g_mime_header_list_get_header_at(hl, i);
		if (strcasecmp(g_mime_header_get_name(h),
		    "Authentication-Results") != 0)
			continue;
		v = g_mime_header_get_raw_value(h);
		if (v != NULL && ops_mime_auth_parse(v, OPS_MIME_AUTHSERV,
		    &m->auth))
			m->has_auth = 1;
	}
	if (!m->has_auth) {
		ops_mime_auth_free(&m->auth);
		return;
	}
	/* Gmail writes ASCII; a forged or mangled header need not. */
	make_valid(&m->auth.dkim);
	make_valid(&m->auth.dkim_domain);
	make_valid(&m->auth.spf);
	make_valid(&m->auth.spf_domain);
	make_valid(&m->auth.dmarc);
	make_valid(&m->auth.dmarc_domain);
}

static void
headers(struct ops_mime_msg *m, GMimeMessage *msg)
{
	GDateTime *date;

	address(m, msg);
	m->subject = utf8dup(g_mime_message_get_subject(msg));
	m->message_id = utf8dup(g_mime_message_get_message_id(msg));
	date = g_mime_message_get_date(msg);
	if (date != NULL) {
		m->date = (time_t)g_date_time_to_unix(date);
		m->has_date = 1;
	}
	authentication(m, msg);
}

/* --- bodies: links and cid: references ---------------------------------- */

static int
url_stop(unsigned char c)
{
	return c <= ' ' || c == 0x7f || c == '"' || c == '\'' || c == '<' ||
	    c == '>' || c == '`';
}

/* Drive and Docs URLs, deduplicated, in order; HTML's &amp; undone. */
static void
scan_links(struct ops_mime_msg *m, size_t *size, const char *text, int html)
{
	static const char *const prefix[] = {
		"https://drive.google.com/", "https://docs.google.com/"
	};
	const char *p = text, *e;
	char *url, *o;
	size_t i, k;

	while (m->nlinks < OPS_MIME_MAX_LINKS) {
		p = strcasestr(p, "https://");
		if (p == NULL)
			break;
		for (k = 0; k < 2; k++)
			if (strncasecmp(p, prefix[k], strlen(prefix[k])) == 0)
				break;
		if (k == 2) {
			p += 8;
			continue;
		}
		for (e = p; *e != '\0' && !url_stop((unsigned char)*e) &&
		    e - p < MAX_URL; e++)
			;
		url = o = ops_xmalloc((size_t)(e - p) + 1);
		for (; p < e; p++) {
			*o++ = *p;
			if (html && *p == '&' && e - p >= 5 &&
			    strncmp(p, "&amp;", 5) == 0)
				p += 4;
		}
		while (o > url && strchr(".,;:!?)]", o[-1]) != NULL)
			o--;
		*o = '\0';
		o = utf8dup(url);
		free(url);
		for (i = 0; o != NULL && i < m->nlinks; i++)
			if (strcmp(m->links[i], o) == 0)
				break;
		if (o == NULL || i < m->nlinks)
			free(o);
		else
			push(&m->links, &m->nlinks, size, o);
	}
}

/* "cid:" URLs (RFC 2392: a Content-ID, %-encoded) in an HTML body. */
static void
scan_cids(char ***refs, size_t *n, size_t *size, const char *html)
{
	const char *p = html, *e;
	char *ref, *o;

	while (*n < MAX_REFS) {
		p = strcasestr(p, "cid:");
		if (p == NULL)
			break;
		if (p > html && isalnum((unsigned char)p[-1])) {
			p += 4;
			continue;
		}
		p += 4;
		for (e = p; *e != '\0' && !url_stop((unsigned char)*e) &&
		    *e != ')' && e - p < MAX_REF; e++)
			;
		if (e == p)
			continue;
		ref = o = ops_xmalloc((size_t)(e - p) + 1);
		for (; p < e; p++) {
			if (*p == '%' && e - p >= 3 && ops_hexval(p[1]) >= 0 &&
			    ops_hexval(p[2]) >= 0) {
				*o++ = (char)(ops_hexval(p[1]) << 4 |
				    ops_hexval(p[2]));
				p += 2;
			} else
				*o++ = *p;
		}
		*o = '\0';
		push(refs, n, size, ref);
	}
}

/* --- the walk ----------------------------------------------------------- */

struct cand {
	struct ops_mime_part	 part;
	const char		*cid;	/* borrowed from GMime */
};

struct walk {
	struct ops_mime_msg	*m;
	int			 nobj;
	const char		*error;	/* static */
	struct cand		*cands;
	size_t			 ncands, candsize;
	char			**refs;	/* cid: references */
	size_t			 nrefs, refsize;
	size_t			 linksize;
};

static char *
section(const char *prefix, int n)
{
	return *prefix == '\0' ? ops_xasprintf("%d", n) :
	    ops_xasprintf("%s.%d", prefix, n);
}

static size_t
header_size(GMimeObject *obj)
{
	GMimeHeaderList *hl = g_mime_object_get_header_list(obj);
	GMimeHeader *h;
	const char *v;
	size_t total = 0;
	int i, n = hl != NULL ? g_mime_header_list_get_count(hl) : 0;

	for (i = 0; i < n; i++) {
		h = g_mime_header_list_get_header_at(hl, i);
		v = g_mime_header_get_raw_value(h);
		total += strlen(g_mime_header_get_name(h)) + 2 +
		    (v != NULL ? strlen(v) : 0);
	}
	return total;
}

static int
is_signature(const char *type)
{
	return type != NULL &&
	    (strcmp(type, "application/pgp-signature") == 0 ||
	    strcmp(type, "application/pkcs7-signature") == 0 ||
	    strcmp(type, "application/x-pkcs7-signature") == 0);
}

/* RFC 2183 2.8: an unknown disposition is treated as attachment. */
static const char *
disposition(GMimeObject *obj)
{
	GMimeContentDisposition *d = g_mime_object_get_content_disposition(obj);
	const char *v;

	if (d == NULL)
		return NULL;
	v = g_mime_content_disposition_get_disposition(d);
	if (v == NULL || *v == '\0')
		return NULL;
	return strcasecmp(v, "inline") == 0 ? "inline" : "attachment";
}

static void
leaf(struct walk *w, GMimeObject *obj, const char *path, int signature)
{
	GMimeContentType *ct = g_mime_object_get_content_type(obj);
	const char *disp = disposition(obj);
	char *type, *filename, *text;
	struct cand *c;
	int html;

	type = ct != NULL ? g_mime_content_type_get_mime_type(ct) : NULL;
	lower(type);
	if (signature || is_signature(type)) {
		g_free(type);
		return;
	}
	filename = utf8dup(g_mime_part_get_filename(GMIME_PART(obj)));
	/* A body, a delivery report: text with no name, not attached. */
	if (filename == NULL && (disp == NULL || strcmp(disp, "inline") == 0) &&
	    type != NULL && (strncmp(type, "text/", 5) == 0 ||
	    strncmp(type, "message/", 8) == 0)) {
		html = strcmp(type, "text/html") == 0;
		if ((html || strcmp(type, "text/plain") == 0) &&
		    GMIME_IS_TEXT_PART(obj)) {
			text = g_mime_text_part_get_text(GMIME_TEXT_PART(obj));
			if (text != NULL) {
				scan_links(w->m, &w->linksize, text, html);
				if (html)
					scan_cids(&w->refs, &w->nrefs,
					    &w->refsize, text);
				g_free(text);
			}
		}
		g_free(type);
		return;
	}
	if (w->ncands == w->candsize) {
		w->candsize = w->candsize * 2 + 8;
		w->cands = ops_xrealloc(w->cands, w->candsize *
		    sizeof(*w->cands));
	}
	c = &w->cands[w->ncands++];
	c->part.path = ops_xstrdup(path);
	c->part.filename = filename;
	/* What the part declares; GMime's text/plain default is not that. */
	c->part.content_type = g_mime_object_get_header(obj, "Content-Type") !=
	    NULL ? utf8dup(type) : NULL;
	c->part.disposition = disp;
	c->part.obj = obj;
	c->cid = g_mime_object_get_content_id(obj);
	g_free(type);
}

static void walk_body(struct walk *, GMimeObject *, const char *, int);

static void
walk_obj(struct walk *w, GMimeObject *obj, const char *path, int depth,
    int signature)
{
	GMimeMessage *inner;
	GMimeObject *child;
	char *sub;
	int i, n, is_signed;

	if (w->error != NULL)
		return;
	if (++w->nobj > OPS_MIME_MAX_PARTS) {
		w->error = "more than 1000 MIME parts";
		return;
	}
	if (depth > OPS_MIME_MAX_DEPTH) {
		w->error = "MIME parts nested deeper than 32";
		return;
	}
	if (header_size(obj) > OPS_MIME_MAX_HEADER) {
		w->error = "a part's header block is larger than 256 KiB";
		return;
	}
	if (GMIME_IS_MULTIPART_ENCRYPTED(obj)) {
		return;			/* nothing readable inside */
	} else if (GMIME_IS_MULTIPART(obj)) {
		/* multipart/signed: the second part is the signature. */
		is_signed = GMIME_IS_MULTIPART_SIGNED(obj);
		n = g_mime_multipart_get_count(GMIME_MULTIPART(obj));
		for (i = 0; i < n && w->error == NULL; i++) {
			child = g_mime_multipart_get_part(GMIME_MULTIPART(obj),
			    i);
			sub = section(path, i + 1);
			walk_obj(w, child, sub, depth + 1, is_signed && i == 1);
			free(sub);
		}
	} else if (GMIME_IS_MESSAGE_PART(obj)) {
		inner = g_mime_message_part_get_message(
		    GMIME_MESSAGE_PART(obj));
		if (inner == NULL)
			return;
		if (header_size(GMIME_OBJECT(inner)) > OPS_MIME_MAX_HEADER) {
			w->error = "a part's header block is larger than "
			    "256 KiB";
			return;
		}
		child = g_mime_message_get_mime_part(inner);
		if (child != NULL)
			walk_body(w, child, path, depth + 1);
	} else if (GMIME_IS_PART(obj)) {
		leaf(w, obj, path, signature);
	}
}

/* A message's body: a multipart's parts are prefix.1, prefix.2...; a
 * single part is prefix.1 (IMAP's numbering). */
static void
walk_body(struct walk *w, GMimeObject *body, const char *prefix, int depth)
{
	char *sub;

	if (GMIME_IS_MULTIPART(body)) {
		walk_obj(w, body, prefix, depth, 0);
		return;
	}
	sub = section(prefix, 1);
	walk_obj(w, body, sub, depth, 0);
	free(sub);
}

static int
referenced(const struct walk *w, const char *cid)
{
	size_t i;

	for (i = 0; cid != NULL && *cid != '\0' && i < w->nrefs; i++)
		if (strcasecmp(w->refs[i], cid) == 0)
			return 1;
	return 0;
}

static void
part_free(struct ops_mime_part *p)
{
	free(p->path);
	free(p->filename);
	free(p->content_type);
}

/* Walks the tree; keeps as attachments the candidates no HTML body shows
 * by cid:. */
static void
walk(struct ops_mime_msg *m, GMimeMessage *msg)
{
	struct walk w;
	GMimeObject *body = g_mime_message_get_mime_part(msg);
	size_t i;

	memset(&w, 0, sizeof(w));
	w.m = m;
	if (body != NULL)
		walk_body(&w, body, "", 1);
	if (w.error != NULL)
		m->error = ops_xstrdup(w.error);
	m->parts = ops_xmalloc((w.ncands + 1) * sizeof(*m->parts));
	for (i = 0; i < w.ncands; i++) {
		if (w.error == NULL && !referenced(&w, w.cands[i].cid))
			m->parts[m->nparts++] = w.cands[i].part;
		else
			part_free(&w.cands[i].part);
	}
	free(w.cands);
	for (i = 0; i < w.nrefs; i++)
		free(w.refs[i]);
	free(w.refs);
}

/* GMime takes its "locale charset" from LC_ALL, LC_CTYPE or LANG when
 * initialised, and decodes text that is bad in its declared charset (an
 * RFC 2231 name in UTF-8 with stray bytes, say) by it: in a C locale as
 * Latin-1, in a UTF-8 one with U+FFFD. It is pinned to UTF-8, so that a
 * message gives the same record under cron as in a shell. */
static void
gmime_init(void)
{
	const char *lc_all = getenv("LC_ALL");
	char *saved = lc_all != NULL ? ops_xstrdup(lc_all) : NULL;

	if (setenv("LC_ALL", "C.UTF-8", 1) != 0)
		ops_die(OPS_EX_SOFTWARE, "setenv: out of memory");
	g_mime_init();
	if (saved != NULL)
		(void)setenv("LC_ALL", saved, 1);
	else
		(void)unsetenv("LC_ALL");
	free(saved);
}

int
ops_mime_parse(struct ops_mime_raw *raw, struct ops_mime_msg *m)
{
	GMimeStream *stream;
	GMimeParser *parser;
	GMimeMessage *msg;
	const char *why;

	memset(m, 0, sizeof(*m));
	if (!gmime_ready) {		/* g_mime_init() once, on first use */
		gmime_init();
		gmime_ready = 1;
	}
	if (raw->no_hash)
		m->raw_sha256[0] = '\0';
	else if (raw->data != NULL && raw->sha256[0] == '\0')
		ops_sha256_hex(raw->data, raw->len, m->raw_sha256);
	else
		memcpy(m->raw_sha256, raw->sha256, sizeof(m->raw_sha256));
	if (raw->data == NULL || raw->len > OPS_MIME_MAX_SIZE) {
		m->error = ops_xasprintf("message larger than 64 MiB (%llu "
		    "bytes)", (unsigned long long)raw->size);
		goto refused;
	}
	why = check_header_block(raw->data, raw->len);
	if (why == NULL)
		why = check_part_lines(raw->data, raw->len);
	if (why != NULL) {
		m->error = ops_xstrdup(why);
		goto refused;
	}

	/* m owns the bytes from here, until ops_mime_free(): the parts
	 * point into them rather than copying (GMime's persistent stream),
	 * and a caller may read them meanwhile (mime-extract hashes them on
	 * another thread) even when GMime lets its stream go early. */
	m->bytes = g_byte_array_new_take(raw->data, raw->len);
	raw->data = NULL;
	stream = g_mime_stream_mem_new_with_byte_array(m->bytes);
	g_mime_stream_mem_set_owner(GMIME_STREAM_MEM(stream), FALSE);
	parser = g_mime_parser_new_with_stream(stream);
	g_mime_parser_set_format(parser, GMIME_FORMAT_MESSAGE);
	msg = g_mime_parser_construct_message(parser, NULL);
	g_object_unref(parser);
	g_object_unref(stream);
	if (msg == NULL) {
		m->error = ops_xstrdup("not a MIME message");
		return -1;
	}
	m->gmsg = msg;
	headers(m, msg);
	walk(m, msg);
	return m->error != NULL ? -1 : 0;

refused:
	return -1;
}

void
ops_mime_free(struct ops_mime_msg *m)
{
	size_t i;

	free(m->message_id);
	free(m->sender);
	free(m->sender_name);
	free(m->subject);
	ops_mime_auth_free(&m->auth);
	for (i = 0; i < m->nlinks; i++)
		free(m->links[i]);
	free(m->links);
	for (i = 0; i < m->nparts; i++)
		part_free(&m->parts[i]);
	free(m->parts);
	free(m->error);
	if (m->gmsg != NULL)
		g_object_unref(m->gmsg);
	if (m->bytes != NULL)
		g_byte_array_free(m->bytes, TRUE);
	memset(m, 0, sizeof(*m));
}

/* --- decoding: one pass over a part's bytes ----------------------------- */

struct sink {
	EVP_MD_CTX	*sha;
	uint64_t	 size;
	unsigned char	 head[OPS_MIME_HEAD];
	size_t		 nhead;
	unsigned char	 tail[OPS_MIME_TAIL];
	size_t		 ntail;
	int		 fd;		/* spool file, or -1 */
	int		 err;		/* errno of the first failure */
	struct ops_buf	*b64;		/* base64 text, or NULL */
	unsigned char	 carry[3];	/* bytes not yet base64-coded */
	size_t		 ncarry;
};

static const char b64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int
b64_group(struct ops_buf *b, const unsigned char *in, size_t n)
{
	char out[4];
	unsigned long v = (unsigned long)in[0] << 16;

	if (n > 1)
		v |= (unsigned long)in[1] << 8;
	if (n > 2)
		v |= in[2];
	out[0] = b64[v >> 18 & 63];
	out[1] = b64[v >> 12 & 63];
	out[2] = n > 1 ? b64[v >> 6 & 63] : '=';
	out[3] = n > 2 ? b64[v & 63] : '=';
	return ops_buf_add(b, out, 4);
}

/* Codes whole groups, keeping up to two bytes for the next call. */
static int
b64_add(struct sink *s, const unsigned char *p, size_t n)
{
	char out[4096];
	size_t o;

	while (s->ncarry > 0 && s->ncarry < 3 && n > 0) {
		s->carry[s->ncarry++] = *p++;
		n--;
	}
	if (s->ncarry == 3) {
		if (b64_group(s->b64, s->carry, 3) != 0)
			return -1;
		s->ncarry = 0;
	}
	while (n >= 3) {
		for (o = 0; n >= 3 && o + 4 <= sizeof(out); o += 4, p += 3,
		    n -= 3) {
			unsigned long v = (unsigned long)p[0] << 16 |
			    (unsigned long)p[1] << 8 | p[2];
			out[o] = b64[v >> 18 & 63];
			out[o + 1] = b64[v >> 12 & 63];
			out[o + 2] = b64[v >> 6 & 63];
			out[o + 3] = b64[v & 63];
		}
		if (ops_buf_add(s->b64, out, o) != 0)
			return -1;
	}
	memcpy(s->carry + s->ncarry, p, n);
	s->ncarry += n;
	return 0;
}

static int
sink_add(struct sink *s, const unsigned char *p, size_t n)
{
	size_t keep, k;
	ssize_t w;

	if (s->err != 0)
		return -1;
	EVP_DigestUpdate(s->sha, p, n);
	s->size += n;
	if (s->nhead < sizeof(s->head)) {
		k = sizeof(s->head) - s->nhead;
		if (k > n)
			k = n;
		memcpy(s->head + s->nhead, p, k);
		s->nhead += k;
	}
	if (n >= sizeof(s->tail)) {
		memcpy(s->tail, p + n - sizeof(s->tail), sizeof(s->tail));
		s->ntail = sizeof(s->tail);
	} else {
		keep = s->ntail < sizeof(s->tail) - n ? s->ntail :
		    sizeof(s->tail) - n;
		memmove(s->tail, s->tail + s->ntail - keep, keep);
		memcpy(s->tail + keep, p, n);
		s->ntail = keep + n;
	}
	if (s->b64 != NULL && b64_add(s, p, n) != 0) {
		s->err = EFBIG;
		return -1;
	}
	for (k = 0; s->fd >= 0 && k < n; k += (size_t)w) {
		w = write(s->fd, p + k, n - k);
		if (w < 0 && errno == EINTR) {
			w = 0;
		} else if (w < 0) {
			s->err = errno;
			return -1;
		}
	}
	return 0;
}

/* A GMimeStream that hands what is written to a sink. GObject's type
 * macros want these typedef'd names. */
typedef struct {
	GMimeStream	 parent;
	struct sink	*sink;
} OpsSinkStream;
typedef struct {
	GMimeStreamClass parent_class;
} OpsSinkStreamClass;

G_DEFINE_TYPE(OpsSinkStream, ops_sink_stream, GMIME_TYPE_STREAM)

static ssize_t
sink_stream_write(GMimeStream *stream, const char *buf, size_t len)
{
	OpsSinkStream *ss = (OpsSinkStream *)stream;

	if (sink_add(ss->sink, (const unsigned char *)buf, len) != 0)
		return -1;
	stream->position += (gint64)len;
	return (ssize_t)len;
}

static ssize_t
sink_stream_read(GMimeStream *stream, char *buf, size_t len)
{
	(void)stream, (void)buf, (void)len;
	return -1;
}

static int
sink_stream_zero(GMimeStream *stream)
{
	(void)stream;
	return 0;
}

static gboolean
sink_stream_eos(GMimeStream *stream)
{
	(void)stream;
	return TRUE;
}

static gint64
sink_stream_seek(GMimeStream *stream, gint64 offset, GMimeSeekWhence whence)
{
	(void)stream, (void)offset, (void)whence;
	return -1;
}

static gint64
sink_stream_tell(GMimeStream *stream)
{
	return stream->position;
}

static gint64
sink_stream_length(GMimeStream *stream)
{
	(void)stream;
	return -1;
}

static GMimeStream *
sink_stream_substream(GMimeStream *stream, gint64 start, gint64 end)
{
	(void)stream, (void)start, (void)end;
	return NULL;
}

static void
ops_sink_stream_class_init(OpsSinkStreamClass *klass)
{
	GMimeStreamClass *sc = GMIME_STREAM_CLASS(klass);

	sc->read = sink_stream_read;
	sc->write = sink_stream_write;
	sc->flush = sink_stream_zero;
	sc->close = sink_stream_zero;
	sc->eos = sink_stream_eos;
	sc->reset = sink_stream_zero;
	sc->seek = sink_stream_seek;
	sc->tell = sink_stream_tell;
	sc->length = sink_stream_length;
	sc->substream = sink_stream_substream;
}

static void
ops_sink_stream_init(OpsSinkStream *ss)
{
	ss->sink = NULL;
}

/* Base64 is decoded here rather than by GMime's filter, which drops a
 * last group that lacks its '=' padding (a whole PDF then looks cut
 * short) and goes a character at a time. */
#define DECODE_CHUNK	65536

static int
write_base64(GMimeStream *in, struct sink *s)
{
	struct ops_b64_dec dec;
	unsigned char *out;
	char *buf;
	ssize_t n;
	size_t len;
	int rc = -1;

	if (g_mime_stream_reset(in) != 0)
		return -1;
	buf = ops_xmalloc(DECODE_CHUNK + DECODE_CHUNK / 4 * 3 + 6);
	out = (unsigned char *)buf + DECODE_CHUNK;
	ops_b64_dec_init(&dec);
	while (!g_mime_stream_eos(in)) {
		n = g_mime_stream_read(in, buf, DECODE_CHUNK);
		if (n < 0)
			goto done;
		if (n == 0)
			break;
		len = ops_b64_dec_step(&dec, buf, (size_t)n, out);
		if (sink_add(s, out, len) != 0)
			goto done;
	}
	len = ops_b64_dec_end(&dec, out);
	rc = sink_add(s, out, len);
done:
	free(buf);
	return rc;
}

static int
spool_open(const char *dir, char **path)
{
	char *token;
	int fd, tries;

	for (tries = 0; tries < 8; tries++) {
		token = ops_random_token(12);
		*path = ops_xasprintf("%s/.spool-%s", dir, token);
		free(token);
		fd = open(*path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
		    O_CLOEXEC, 0600);
		if (fd >= 0 || errno != EEXIST)
			break;
		free(*path);
		*path = NULL;
	}
	if (fd < 0) {
		int saved = errno;

		free(*path);
		*path = NULL;
		errno = saved;
	}
	return fd;
}

int
ops_mime_decode(const struct ops_mime_part *p, enum ops_mime_out out,
    const char *spool_dir, struct ops_mime_body *b)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	GMimeDataWrapper *content;
	struct ops_buf data;
	OpsSinkStream *ss;
	struct sink s;
	unsigned int mdlen;
	int rc = -1, saved, written = 0;

	memset(b, 0, sizeof(*b));
	memset(&s, 0, sizeof(s));
	s.fd = -1;
	s.sha = EVP_MD_CTX_new();
	if (s.sha == NULL || EVP_DigestInit_ex(s.sha, EVP_sha256(), NULL) != 1)
		ops_die(OPS_EX_SOFTWARE, "sha256: cannot initialise");
	ops_buf_init(&data, OPS_NDJSON_MAX_LINE - 4096);
	if (out == OPS_MIME_OUT_DATA) {
		s.b64 = &data;
	} else if (out == OPS_MIME_OUT_SPOOL) {
		s.fd = spool_open(spool_dir, &b->spool);
		if (s.fd < 0)
			goto sha_free;
	}

	ss = g_object_new(ops_sink_stream_get_type(), NULL);
	g_mime_stream_construct(GMIME_STREAM(ss), 0, -1);
	ss->sink = &s;
	content = g_mime_part_get_content(GMIME_PART(p->obj));
	if (content != NULL && g_mime_data_wrapper_get_encoding(content) ==
	    GMIME_CONTENT_ENCODING_BASE64)
		written = write_base64(g_mime_data_wrapper_get_stream(content),
		    &s);
	else if (content != NULL)
		written = g_mime_data_wrapper_write_to_stream(content,
		    GMIME_STREAM(ss)) < 0 ? -1 : 0;
	if (written != 0 && s.err == 0)
		s.err = EIO;
	g_object_unref(ss);
	if (s.err == 0 && s.b64 != NULL && s.ncarry > 0 &&
	    b64_group(s.b64, s.carry, s.ncarry) != 0)
		s.err = EFBIG;
	if (s.fd >= 0 && close(s.fd) != 0 && s.err == 0)
		s.err = errno;
	if (s.err != 0)
		goto unlink;

	EVP_DigestFinal_ex(s.sha, md, &mdlen);
	ops_hex(md, mdlen, b->sha256);
	b->size = s.size;
	b->sniffed = ops_mime_sniff(s.head, s.nhead);
	b->defect = ops_mime_defect(b->sniffed, s.size, s.tail, s.ntail);
	if (out == OPS_MIME_OUT_DATA)
		b->data = data.data != NULL ? ops_buf_steal(&data) :
		    ops_xstrdup("");
	rc = 0;
	goto sha_free;

unlink:
	if (b->spool != NULL) {
		unlink(b->spool);
		free(b->spool);
		b->spool = NULL;
	}
	errno = s.err;
sha_free:
	saved = errno;
	ops_buf_free(&data);
	EVP_MD_CTX_free(s.sha);
	errno = saved;
	return rc;
}

void
ops_mime_body_free(struct ops_mime_body *b)
{
	free(b->spool);
	free(b->data);
	memset(b, 0, sizeof(*b));
}
