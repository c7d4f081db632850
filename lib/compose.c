/* compose.c: mail-send's messages: requests validated and normalised,
 * the content hash, and the RFC 5322 message built with GMime (From with
 * the send-as name, RFC 2047 subject, multipart/alternative, signature,
 * tracking pixel). */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <gmime/gmime.h>
#include <openssl/evp.h>

#include "gmailops.h"

#define MAX_HEADER	4096	/* a subject or name, bytes (GMime folds it) */
#define MAX_ADDR	254	/* one address, bytes (RFC 5321 path) */
#define MAX_ID		256	/* thread id, Message-ID */

void
ops_mime_init(void)
{
	static int done;

	if (!done) {
		g_mime_init();
		done = 1;
	}
}

static int __attribute__((format(printf, 3, 4)))
refuse(char *why, size_t whylen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, whylen, fmt, ap);
	va_end(ap);
	return -1;
}

/* CR or LF: header injection; other C0 controls (but TAB) and DEL too.
 * Address lists have no length cap here: each address has its own. */
static int
check_header_chars(const char *field, const char *s, char *why, size_t whylen)
{
	const unsigned char *p;

	if (strpbrk(s, "\r\n") != NULL)
		return refuse(why, whylen, "header injection refused: CR or LF "
		    "in %s", field);
	for (p = (const unsigned char *)s; *p != '\0'; p++)
		if ((*p < 0x20 && *p != '\t') || *p == 0x7f)
			return refuse(why, whylen, "control character in %s",
			    field);
	return 0;
}

/* ... and no longer than MAX_HEADER. */
static int
check_header_value(const char *field, const char *s, char *why, size_t whylen)
{
	if (check_header_chars(field, s, why, whylen) != 0)
		return -1;
	if (strlen(s) > MAX_HEADER)
		return refuse(why, whylen, "%s longer than %d bytes", field,
		    MAX_HEADER);
	return 0;
}

int
ops_addr_check(const char *addr, char *why, size_t whylen)
{
	const char *at = strchr(addr, '@'), *dom, *p;

	if (at == NULL || strchr(at + 1, '@') != NULL)
		return refuse(why, whylen, "invalid address \"%.100s\": not exactly "
		    "one @", addr);
	if (at == addr)
		return refuse(why, whylen, "invalid address \"%.100s\": nothing "
		    "before the @", addr);
	if (strlen(addr) > MAX_ADDR)
		return refuse(why, whylen, "invalid address: longer than %d "
		    "bytes", MAX_ADDR);
	for (p = addr; *p != '\0'; p++)
		if (isspace((unsigned char)*p) || iscntrl((unsigned char)*p) ||
		    strchr("<>()[],;:\\\"", *p) != NULL)
			return refuse(why, whylen, "invalid address \"%.100s\": "
			    "space or special character", addr);
	dom = at + 1;
	if (strchr(dom, '.') == NULL || *dom == '.' ||
	    dom[strlen(dom) - 1] == '.' || strstr(dom, "..") != NULL)
		return refuse(why, whylen, "invalid address \"%.100s\": the domain "
		    "needs a dot between names", addr);
	for (p = dom; *p != '\0'; p++)
		if (!isalnum((unsigned char)*p) && *p != '.' && *p != '-' &&
		    (unsigned char)*p < 0x80)
			return refuse(why, whylen, "invalid address \"%.100s\": bad "
			    "character in the domain", addr);
	return 0;
}

/* The addresses a list's text holds at its top level (commas outside
 * quotes, comments and angle brackets), so that GMime dropping a part it
 * could not read is noticed. -1 on a ';' (groups, or a wrong separator). */
static int
count_items(const char *s)
{
	int n = 0, any = 0, quote = 0, angle = 0, paren = 0;

	for (; *s != '\0'; s++) {
		if (quote) {
			if (*s == '\\' && s[1] != '\0')
				s++;
			else if (*s == '"')
				quote = 0;
			continue;
		}
		switch (*s) {
		case '"':
			quote = 1;
			break;
		case '(':
			paren++;
			break;
		case ')':
			if (paren > 0)
				paren--;
			break;
		case '<':
			angle++;
			break;
		case '>':
			if (angle > 0)
				angle--;
			break;
		case ';':
			if (paren == 0 && angle == 0)
				return -1;
			break;
		case ',':
			if (paren == 0 && angle == 0) {
				n += any;
				any = 0;
				continue;
			}
			break;
		}
		if (!isspace((unsigned char)*s))
			any = 1;
	}
	return n + any;
}

/* Parses one text into list (appended); the number of addresses or -1. */
static int
parse_addresses(const char *field, const char *text, InternetAddressList *list,
    char *why, size_t whylen)
{
	GMimeParserOptions *po;
	InternetAddressList *l;
	InternetAddress *ia;
	int n, i, want;

	if (check_header_chars(field, text, why, whylen) != 0)
		return -1;
	want = count_items(text);
	if (want < 0)
		return refuse(why, whylen, "invalid %s \"%.100s\": use commas "
		    "between addresses (no groups)", field, text);
	if (want == 0)
		return refuse(why, whylen, "missing address in %s", field);
	po = g_mime_parser_options_new();
	g_mime_parser_options_set_address_compliance_mode(po,
	    GMIME_RFC_COMPLIANCE_STRICT);
	l = internet_address_list_parse(po, text);
	g_mime_parser_options_free(po);
	if (l == NULL)
		return refuse(why, whylen, "invalid address in %s: \"%.100s\"",
		    field, text);
	n = internet_address_list_length(l);
	if (n != want) {
		g_object_unref(l);
		return refuse(why, whylen, "invalid address in %s: \"%.100s\"",
		    field, text);
	}
	for (i = 0; i < n; i++) {
		ia = internet_address_list_get_address(l, i);
		if (!INTERNET_ADDRESS_IS_MAILBOX(ia)) {
			g_object_unref(l);
			return refuse(why, whylen, "invalid %s: address groups "
			    "are not supported", field);
		}
		if (ops_addr_check(internet_address_mailbox_get_addr(
		    (InternetAddressMailbox *)ia), why, whylen) != 0) {
			g_object_unref(l);
			return -1;
		}
		internet_address_set_charset(ia, "utf-8");
	}
	internet_address_list_append(list, l);
	g_object_unref(l);
	return n;
}

/* An address field: a string of comma-separated addresses, or an array
 * of them. *out: the normalised list, or NULL when absent or empty. */
static int
address_field(yajl_val obj, const char *field, int required, char **out,
    int *count, char *why, size_t whylen)
{
	yajl_val v = ops_json_get(obj, field);
	InternetAddressList *list;
	size_t i;
	int n;

	*out = NULL;
	if (v == NULL || YAJL_IS_NULL(v) || (YAJL_IS_STRING(v) &&
	    count_items(YAJL_GET_STRING(v)) == 0) || (YAJL_IS_ARRAY(v) &&
	    v->u.array.len == 0)) {
		if (required)
			return refuse(why, whylen, "missing address in %s",
			    field);
		return 0;
	}
	if (!YAJL_IS_STRING(v) && !YAJL_IS_ARRAY(v))
		return refuse(why, whylen, "%s: not a string or an array",
		    field);
	list = internet_address_list_new();
	if (YAJL_IS_STRING(v)) {
		n = parse_addresses(field, YAJL_GET_STRING(v), list, why,
		    whylen);
		if (n < 0)
			goto fail;
		*count += n;
	} else {
		for (i = 0; i < v->u.array.len; i++) {
			if (!YAJL_IS_STRING(v->u.array.values[i])) {
				refuse(why, whylen, "%s: not an array of "
				    "strings", field);
				goto fail;
			}
			n = parse_addresses(field,
			    YAJL_GET_STRING(v->u.array.values[i]), list, why,
			    whylen);
			if (n < 0)
				goto fail;
			*count += n;
			if (*count > OPS_MAIL_MAX_RCPT)
				break;
		}
	}
	{
		char *s = internet_address_list_to_string(list, NULL, FALSE);
		*out = ops_xstrdup(s);
		g_free(s);
	}
	g_object_unref(list);
	return 0;
fail:
	g_object_unref(list);
	return -1;
}

/* An optional string field; *out NULL when absent or null. */
static int
string_field(yajl_val obj, const char *field, char **out, char *why,
    size_t whylen)
{
	yajl_val v = ops_json_get(obj, field);

	*out = NULL;
	if (v == NULL || YAJL_IS_NULL(v))
		return 0;
	if (!YAJL_IS_STRING(v))
		return refuse(why, whylen, "%s: not a string", field);
	*out = ops_xstrdup(YAJL_GET_STRING(v));
	return 0;
}

/* Bodies: CRLF and lone CR become LF, so the hash and the message do not
 * depend on the writer's line ends. */
static void
normalise_newlines(char *s)
{
	char *r, *w;

	if (s == NULL)
		return;
	for (r = w = s; *r != '\0'; r++) {
		if (*r == '\r') {
			*w++ = '\n';
			if (r[1] == '\n')
				r++;
		} else {
			*w++ = *r;
		}
	}
	*w = '\0';
}

static int
check_msgid(const char *field, char **s, char *why, size_t whylen)
{
	const char *p, *b;
	size_t n;
	char *id;

	if (check_header_value(field, *s, why, whylen) != 0)
		return -1;
	b = *s;
	while (isspace((unsigned char)*b))
		b++;
	n = strlen(b);
	while (n > 0 && isspace((unsigned char)b[n - 1]))
		n--;
	if (n >= 2 && b[0] == '<' && b[n - 1] == '>') {
		b++;
		n -= 2;
	}
	if (n == 0 || n > MAX_ID)
		return refuse(why, whylen, "%s: not a Message-ID", field);
	for (p = b; p < b + n; p++)
		if ((unsigned char)*p <= ' ' || (unsigned char)*p >= 0x7f ||
		    strchr("<>\"", *p) != NULL)
			return refuse(why, whylen, "%s: not a Message-ID",
			    field);
	if (memchr(b, '@', n) == NULL)
		return refuse(why, whylen, "%s: not a Message-ID (no @)",
		    field);
	id = ops_xasprintf("<%.*s>", (int)n, b);
	free(*s);
	*s = id;
	return 0;
}

static const char *const content_keys[] = { "to", "cc", "bcc", "subject",
	"reply_to", "thread_id", "in_reply_to", "html", NULL };

int
ops_mail_parse(yajl_val obj, const char *body_key, int strict,
    struct ops_mail *m, char *why, size_t whylen)
{
	const char *p;
	size_t i, j;
	int known;

	ops_mime_init();
	memset(m, 0, sizeof(*m));
	if (obj == NULL || !YAJL_IS_OBJECT(obj))
		return refuse(why, whylen, "not a JSON object");
	if (strict) {
		for (i = 0; i < obj->u.object.len; i++) {
			const char *k = obj->u.object.keys[i];
			known = strcmp(k, body_key) == 0 ||
			    strcmp(k, "mode") == 0;
			for (j = 0; !known && content_keys[j] != NULL; j++)
				known = strcmp(k, content_keys[j]) == 0;
			if (!known)
				return refuse(why, whylen, "unknown field "
				    "\"%.100s\"", k);
		}
	}
	if (address_field(obj, "to", 1, &m->to, &m->nrcpt, why, whylen) != 0 ||
	    address_field(obj, "cc", 0, &m->cc, &m->nrcpt, why, whylen) != 0 ||
	    address_field(obj, "bcc", 0, &m->bcc, &m->nrcpt, why, whylen) != 0)
		goto fail;
	if (m->nrcpt > OPS_MAIL_MAX_RCPT) {
		refuse(why, whylen, "too many recipients: more than %d in to, "
		    "cc and bcc", OPS_MAIL_MAX_RCPT);
		goto fail;
	}
	if (string_field(obj, "subject", &m->subject, why, whylen) != 0)
		goto fail;
	if (m->subject == NULL) {
		refuse(why, whylen, "missing subject");
		goto fail;
	}
	if (check_header_value("subject", m->subject, why, whylen) != 0)
		goto fail;
	if (string_field(obj, body_key, &m->body, why, whylen) != 0 ||
	    string_field(obj, "html", &m->html, why, whylen) != 0)
		goto fail;
	if (m->body == NULL && m->html == NULL) {
		refuse(why, whylen, "missing %s (or html)", body_key);
		goto fail;
	}
	normalise_newlines(m->body);
	normalise_newlines(m->html);
	if (string_field(obj, "reply_to", &m->reply_to, why, whylen) != 0)
		goto fail;
	if (m->reply_to != NULL) {
		InternetAddressList *l = internet_address_list_new();
		int n = parse_addresses("reply_to", m->reply_to, l, why, whylen);
		char *s = n == 1 ? internet_address_list_to_string(l, NULL,
		    FALSE) : NULL;

		g_object_unref(l);
		if (n > 1)
			refuse(why, whylen, "reply_to: one address only");
		if (n != 1)
			goto fail;
		free(m->reply_to);
		m->reply_to = ops_xstrdup(s);
		g_free(s);
	}
	if (string_field(obj, "thread_id", &m->thread_id, why, whylen) != 0)
		goto fail;
	if (m->thread_id != NULL) {
		if (check_header_value("thread_id", m->thread_id, why,
		    whylen) != 0)
			goto fail;
		for (p = m->thread_id; *p != '\0'; p++)
			if (!isalnum((unsigned char)*p))
				break;
		if (*p != '\0' || p == m->thread_id ||
		    strlen(m->thread_id) > MAX_ID) {
			refuse(why, whylen, "thread_id: not a Gmail thread id");
			goto fail;
		}
	}
	if (string_field(obj, "in_reply_to", &m->in_reply_to, why,
	    whylen) != 0)
		goto fail;
	if (m->in_reply_to != NULL && check_msgid("in_reply_to",
	    &m->in_reply_to, why, whylen) != 0)
		goto fail;
	return 0;
fail:
	ops_mail_free(m);
	return -1;
}

void
ops_mail_free(struct ops_mail *m)
{
	if (m == NULL)
		return;
	free(m->to);
	free(m->cc);
	free(m->bcc);
	free(m->subject);
	free(m->body);
	free(m->html);
	free(m->reply_to);
	free(m->thread_id);
	free(m->in_reply_to);
	memset(m, 0, sizeof(*m));
}

/* The canonical form: "mail-send draft v1\n", then for each field in this
 * order "NAME:LEN:VALUE\n" (LEN the byte count in decimal), or "NAME\n"
 * when absent. */
void
ops_mail_sha256(const struct ops_mail *m, char hex[65])
{
	const struct { const char *name, *val; } f[] = {
		{ "to", m->to }, { "cc", m->cc }, { "bcc", m->bcc },
		{ "subject", m->subject }, { "body", m->body },
		{ "html", m->html }, { "reply_to", m->reply_to },
		{ "thread_id", m->thread_id },
		{ "in_reply_to", m->in_reply_to },
	};
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0, i;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	char len[32];

	if (ctx == NULL || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1)
		ops_die(OPS_EX_SOFTWARE, "sha256: out of memory");
	EVP_DigestUpdate(ctx, "mail-send draft v1\n", 19);
	for (i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
		EVP_DigestUpdate(ctx, f[i].name, strlen(f[i].name));
		if (f[i].val != NULL) {
			snprintf(len, sizeof(len), ":%zu:", strlen(f[i].val));
			EVP_DigestUpdate(ctx, len, strlen(len));
			EVP_DigestUpdate(ctx, f[i].val, strlen(f[i].val));
		}
		EVP_DigestUpdate(ctx, "\n", 1);
	}
	EVP_DigestFinal_ex(ctx, md, &mdlen);
	EVP_MD_CTX_free(ctx);
	ops_hex(md, mdlen < 32 ? mdlen : 32, hex);
}

/* ---------------------------------------------------------------- HTML */

char *
ops_html_escape(const char *s)
{
	struct ops_buf b;

	ops_buf_init(&b, 0);
	ops_buf_add(&b, "", 0);
	for (; *s != '\0'; s++) {
		switch (*s) {
		case '&': ops_buf_addstr(&b, "&amp;"); break;
		case '<': ops_buf_addstr(&b, "&lt;"); break;
		case '>': ops_buf_addstr(&b, "&gt;"); break;
		case '"': ops_buf_addstr(&b, "&quot;"); break;
		case '\'': ops_buf_addstr(&b, "&#39;"); break;
		default: ops_buf_add(&b, s, 1); break;
		}
	}
	return ops_buf_steal(&b);
}

static void
add_utf8(struct ops_buf *b, unsigned long c)
{
	char u[4];

	if (c == 0 || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		c = 0xfffd;
	if (c < 0x80) {
		u[0] = (char)c;
		ops_buf_add(b, u, 1);
	} else if (c < 0x800) {
		u[0] = (char)(0xc0 | c >> 6);
		u[1] = (char)(0x80 | (c & 0x3f));
		ops_buf_add(b, u, 2);
	} else if (c < 0x10000) {
		u[0] = (char)(0xe0 | c >> 12);
		u[1] = (char)(0x80 | ((c >> 6) & 0x3f));
		u[2] = (char)(0x80 | (c & 0x3f));
		ops_buf_add(b, u, 3);
	} else {
		u[0] = (char)(0xf0 | c >> 18);
		u[1] = (char)(0x80 | ((c >> 12) & 0x3f));
		u[2] = (char)(0x80 | ((c >> 6) & 0x3f));
		u[3] = (char)(0x80 | (c & 0x3f));
		ops_buf_add(b, u, 4);
	}
}

/* An entity at s ('&'): appends its text, returns the bytes used. */
static size_t
entity(struct ops_buf *b, const char *s)
{
	static const struct { const char *name, *text; } named[] = {
		{ "amp;", "&" }, { "lt;", "<" }, { "gt;", ">" },
		{ "quot;", "\"" }, { "apos;", "'" }, { "nbsp;", " " },
	};
	unsigned long c;
	char *end;
	size_t i;

	if (s[1] == '#') {
		if (s[2] == 'x' || s[2] == 'X')
			c = strtoul(s + 3, &end, 16);
		else
			c = strtoul(s + 2, &end, 10);
		if (*end == ';' && end > s + 2 && end - s < 12) {
			add_utf8(b, c);
			return (size_t)(end - s) + 1;
		}
	}
	for (i = 0; i < sizeof(named) / sizeof(named[0]); i++)
		if (strncmp(s + 1, named[i].name, strlen(named[i].name)) == 0) {
			ops_buf_addstr(b, named[i].text);
			return strlen(named[i].name) + 1;
		}
	ops_buf_add(b, "&", 1);
	return 1;
}

/* Tags that end a line of text. */
static int
is_block(const char *name)
{
	static const char *const blocks[] = { "p", "div", "tr", "li", "h1",
		"h2", "h3", "h4", "h5", "h6", "table", "blockquote", "ul", "ol",
		"pre", "hr", NULL };
	size_t i;

	for (i = 0; blocks[i] != NULL; i++)
		if (strcasecmp(name, blocks[i]) == 0)
			return 1;
	return 0;
}

static void
newline(struct ops_buf *b)
{
	while (b->len > 0 && b->data[b->len - 1] == ' ' &&
	    !(b->len >= 3 && memcmp(b->data + b->len - 3, "-- ", 3) == 0 &&
	    (b->len == 3 || b->data[b->len - 4] == '\n')))
		b->len--;
	ops_buf_add(b, "\n", 1);
}

/* A plain rendering: tags dropped, <br> and block ends as line breaks,
 * entities decoded, white space collapsed, head/style/script skipped. */
char *
ops_html_to_text(const char *html)
{
	struct ops_buf b;
	const char *p = html, *q;
	char name[16], *out;
	size_t n, nl;
	int closing;

	ops_buf_init(&b, 0);
	ops_buf_add(&b, "", 0);
	while (*p != '\0') {
		if (strncmp(p, "<!--", 4) == 0) {
			q = strstr(p + 4, "-->");
			p = q != NULL ? q + 3 : p + strlen(p);
			continue;
		}
		if (*p == '<' && (isalpha((unsigned char)p[1]) ||
		    (p[1] == '/' && isalpha((unsigned char)p[2])) ||
		    p[1] == '!')) {
			closing = p[1] == '/';
			q = p + 1 + closing;
			for (n = 0; isalnum((unsigned char)q[n]) &&
			    n < sizeof(name) - 1; n++)
				name[n] = q[n];
			name[n] = '\0';
			q = strchr(p, '>');
			if (q == NULL)
				break;
			p = q + 1;
			if (!closing && (strcasecmp(name, "style") == 0 ||
			    strcasecmp(name, "script") == 0 ||
			    strcasecmp(name, "head") == 0 ||
			    strcasecmp(name, "title") == 0)) {
				char end[24];
				snprintf(end, sizeof(end), "</%s", name);
				q = strcasestr(p, end);
				p = q != NULL ? q : p + strlen(p);
				continue;
			}
			if (strcasecmp(name, "br") == 0 || (is_block(name) &&
			    b.len > 0 && b.data[b.len - 1] != '\n'))
				newline(&b);
			continue;
		}
		if (*p == '&') {
			p += entity(&b, p);
			continue;
		}
		if (isspace((unsigned char)*p)) {
			if (b.len > 0 && b.data[b.len - 1] != ' ' &&
			    b.data[b.len - 1] != '\n')
				ops_buf_add(&b, " ", 1);
			p++;
			continue;
		}
		ops_buf_add(&b, p, 1);
		p++;
	}
	/* At most one blank line in a row; none at either end. */
	out = ops_xmalloc(b.len + 1);
	for (n = 0, nl = 0, q = b.data; q < b.data + b.len; q++) {
		if (*q == '\n') {
			if (n == 0 || ++nl > 2)
				continue;
		} else {
			nl = 0;
		}
		out[n++] = *q;
	}
	while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == ' '))
		n--;
	out[n] = '\0';
	ops_buf_free(&b);
	return out;
}

/* ---------------------------------------------------------------- MIME */

/* A text/SUBTYPE; charset=utf-8 part with the best 7-bit encoding. */
static GMimeObject *
text_part(const char *subtype, const char *text)
{
	GMimeTextPart *tp = g_mime_text_part_new_with_subtype(subtype);
	GMimeStream *ms = g_mime_stream_mem_new_with_buffer(text, strlen(text));
	GMimeDataWrapper *dw = g_mime_data_wrapper_new_with_stream(ms,
	    GMIME_CONTENT_ENCODING_DEFAULT);

	g_object_unref(ms);
	g_mime_part_set_content((GMimePart *)tp, dw);
	g_object_unref(dw);
	g_mime_object_set_content_type_parameter((GMimeObject *)tp, "charset",
	    "utf-8");
	g_mime_part_set_content_encoding((GMimePart *)tp,
	    g_mime_part_get_best_content_encoding((GMimePart *)tp,
	    GMIME_ENCODING_CONSTRAINT_7BIT));
	return (GMimeObject *)tp;
}

/* The text alternative: the body (or the HTML's rendering), then the
 * signature's rendering after a blank line. Caller frees. */
static char *
text_alternative(const struct ops_mail *m, const struct ops_compose *o)
{
	char *body = m->body != NULL ? ops_xstrdup(m->body) :
	    ops_html_to_text(m->html), *sig, *out;
	size_t n = strlen(body);

	while (n > 0 && body[n - 1] == '\n')
		body[--n] = '\0';
	if (o->signature == NULL || *o->signature == '\0')
		out = ops_xasprintf("%s\n", body);
	else {
		sig = ops_html_to_text(o->signature);
		out = *sig != '\0' ? ops_xasprintf("%s\n\n%s\n", body, sig) :
		    ops_xasprintf("%s\n", body);
		free(sig);
	}
	free(body);
	return out;
}

/* The HTML alternative: the html (or the escaped text), with the
 * signature and the pixel before </body> or at the end. Caller frees. */
static char *
html_alternative(const struct ops_mail *m, const struct ops_compose *o)
{
	struct ops_buf b, tail;
	const char *body, *end = NULL, *p;
	char *esc = NULL, *url;

	ops_buf_init(&b, 0);
	ops_buf_init(&tail, 0);
	ops_buf_add(&tail, "", 0);
	if (m->html != NULL) {
		body = m->html;
	} else {
		struct ops_buf d;
		char *t = ops_html_escape(m->body);

		ops_buf_init(&d, 0);
		ops_buf_addstr(&d, "<div dir=\"ltr\">");
		for (p = t; *p != '\0'; p++) {
			if (*p == '\n')
				ops_buf_addstr(&d, "<br>\n");
			else
				ops_buf_add(&d, p, 1);
		}
		ops_buf_addstr(&d, "</div>\n");
		free(t);
		esc = ops_buf_steal(&d);
		body = esc;
	}
	if (o->signature != NULL && *o->signature != '\0')
		ops_buf_addf(&tail, "<br>\n<div class=\"gmail_signature\">%s"
		    "</div>\n", o->signature);
	if (o->pixel_url != NULL) {
		url = ops_html_escape(o->pixel_url);
		ops_buf_addf(&tail, "<img src=\"%s\" width=\"1\" height=\"1\" "
		    "alt=\"\">\n", url);
		free(url);
	}
	for (p = strcasestr(body, "</body"); p != NULL;
	    p = strcasestr(p + 1, "</body"))
		end = p;
	if (end == NULL)
		end = body + strlen(body);
	ops_buf_add(&b, body, (size_t)(end - body));
	ops_buf_add(&b, tail.data, tail.len);
	ops_buf_addstr(&b, end);
	ops_buf_free(&tail);
	free(esc);
	return ops_buf_steal(&b);
}

static int
add_list(GMimeMessage *msg, GMimeAddressType type, const char *text,
    char *why, size_t whylen)
{
	InternetAddressList *l;
	int n;

	if (text == NULL)
		return 0;
	l = internet_address_list_new();
	n = parse_addresses("address", text, l, why, whylen);
	if (n > 0)
		internet_address_list_append(g_mime_message_get_addresses(msg,
		    type), l);
	g_object_unref(l);
	return n < 0 ? -1 : 0;
}

char *
ops_mail_compose(const struct ops_mail *m, const struct ops_compose *o,
    size_t *len, char **text_out, char **html_out, char *why, size_t whylen)
{
	GMimeMessage *msg;
	GMimeMultipart *alt;
	GMimeObject *part;
	GMimeFormatOptions *fo;
	GMimeStream *ms;
	GByteArray *bytes;
	InternetAddress *from;
	GDateTime *date;
	char *text = NULL, *html = NULL, *out = NULL;

	ops_mime_init();
	if (text_out != NULL)
		*text_out = NULL;
	if (html_out != NULL)
		*html_out = NULL;
	if (ops_addr_check(o->from_addr, why, whylen) != 0)
		return NULL;
	if (o->from_name != NULL && check_header_value("display name",
	    o->from_name, why, whylen) != 0)
		return NULL;
	msg = g_mime_message_new(TRUE);
	from = internet_address_mailbox_new(o->from_name != NULL &&
	    *o->from_name != '\0' ? o->from_name : NULL, o->from_addr);
	internet_address_set_charset(from, "utf-8");
	internet_address_list_add(g_mime_message_get_from(msg), from);
	g_object_unref(from);
	if (add_list(msg, GMIME_ADDRESS_TYPE_TO, m->to, why, whylen) != 0 ||
	    add_list(msg, GMIME_ADDRESS_TYPE_CC, m->cc, why, whylen) != 0 ||
	    add_list(msg, GMIME_ADDRESS_TYPE_BCC, m->bcc, why, whylen) != 0 ||
	    add_list(msg, GMIME_ADDRESS_TYPE_REPLY_TO, m->reply_to != NULL ?
	    m->reply_to : o->reply_to != NULL && *o->reply_to != '\0' ?
	    o->reply_to : NULL, why, whylen) != 0)
		goto out;
	g_mime_message_set_subject(msg, m->subject, "utf-8");
	date = g_date_time_new_from_unix_utc((gint64)o->date);
	g_mime_message_set_date(msg, date);
	g_date_time_unref(date);
	g_mime_message_set_message_id(msg, o->message_id);
	if (m->in_reply_to != NULL) {
		g_mime_object_set_header((GMimeObject *)msg, "In-Reply-To",
		    m->in_reply_to, NULL);
		g_mime_object_set_header((GMimeObject *)msg, "References",
		    m->in_reply_to, NULL);
	}

	text = text_alternative(m, o);
	html = html_alternative(m, o);
	alt = g_mime_multipart_new_with_subtype("alternative");
	part = text_part("plain", text);
	g_mime_multipart_add(alt, part);
	g_object_unref(part);
	part = text_part("html", html);
	g_mime_multipart_add(alt, part);
	g_object_unref(part);
	g_mime_message_set_mime_part(msg, (GMimeObject *)alt);
	g_object_unref(alt);

	fo = g_mime_format_options_new();
	g_mime_format_options_set_newline_format(fo, GMIME_NEWLINE_FORMAT_DOS);
	ms = g_mime_stream_mem_new();
	if (g_mime_object_write_to_stream((GMimeObject *)msg, fo, ms) < 0) {
		refuse(why, whylen, "composing the message failed");
	} else {
		bytes = g_mime_stream_mem_get_byte_array((GMimeStreamMem *)ms);
		if (bytes->len > OPS_MAIL_MAX_SIZE) {
			refuse(why, whylen, "message too large: %u bytes, more "
			    "than Gmail's 35 MB", bytes->len);
		} else {
			out = ops_xmalloc(bytes->len + 1);
			memcpy(out, bytes->data, bytes->len);
			out[bytes->len] = '\0';
			*len = bytes->len;
		}
	}
	g_object_unref(ms);
	g_mime_format_options_free(fo);
out:
	g_object_unref(msg);
	if (out != NULL && text_out != NULL) {
		*text_out = text;
		text = NULL;
	}
	if (out != NULL && html_out != NULL) {
		*html_out = html;
		html = NULL;
	}
	free(text);
	free(html);
	return out;
}
