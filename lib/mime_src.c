/* mime_src.c: where raw messages come from when not from Gmail: one
 * RFC 822 message, an mbox (mboxrd: ">From " unescaped), a Maildir; and
 * telling them and NDJSON apart by their first bytes. */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "gmailops.h"

#define PEEK_MAX	4096	/* blank bytes before deciding */
#define SRC_CHUNK	65536
#define FROM_LOOKAHEAD	256	/* ">>>From " fits */

/* --- peeking ---------------------------------------------------------- */

/* The first bytes are read with read(2), never through fp's stdio buffer,
 * so what follows them can be read from the descriptor in large pieces:
 * whatever a pipe holds, never waiting for more. */
struct ops_mime_peek {
	int		 fd;
	unsigned char	 head[PEEK_MAX + 8];
	size_t		 pos, len;
};

/* One read(2) more into head: its count, 0 at the end, -1/errno. */
static ssize_t
peek_fill(struct ops_mime_peek *p)
{
	ssize_t n;

	do
		n = read(p->fd, p->head + p->len, sizeof(p->head) - p->len);
	while (n < 0 && errno == EINTR);
	if (n > 0)
		p->len += (size_t)n;
	return n;
}

struct ops_mime_peek *
ops_mime_peek_open(FILE *fp, enum ops_mime_kind *kind)
{
	struct ops_mime_peek *p = ops_xmalloc(sizeof(*p));
	size_t i = 0;
	ssize_t n = 1;
	int c;

	p->fd = fileno(fp);
	p->pos = p->len = 0;
	*kind = OPS_MIME_RFC822;
	if (p->fd < 0) {
		free(p);
		errno = EBADF;
		return NULL;
	}
	while (i < PEEK_MAX) {
		if (i == p->len && (n = peek_fill(p)) <= 0)
			break;
		c = p->head[i++];
		if (c == ' ' || c == '\t' || c == '\r' || c == '\n')
			continue;
		if (c == '{')
			*kind = OPS_MIME_NDJSON;
		else if (c == 'F' && i == 1) {
			while (p->len < 5 && (n = peek_fill(p)) > 0)
				;
			if (p->len >= 5 && memcmp(p->head, "From ", 5) == 0)
				*kind = OPS_MIME_MBOX;
		}
		break;
	}
	if (n < 0) {
		free(p);
		return NULL;
	}
	return p;
}

ssize_t
ops_mime_peek_read(void *arg, char *buf, size_t size)
{
	struct ops_mime_peek *p = arg;
	ssize_t n;

	if (p->pos < p->len) {
		n = (ssize_t)(p->len - p->pos < size ? p->len - p->pos : size);
		memcpy(buf, p->head + p->pos, (size_t)n);
		p->pos += (size_t)n;
		return n;
	}
	do
		n = read(p->fd, buf, size);
	while (n < 0 && errno == EINTR);
	return n;
}

void
ops_mime_peek_close(struct ops_mime_peek *p)
{
	free(p);
}

static int
peek_close(void *cookie)
{
	ops_mime_peek_close(cookie);
	return 0;
}

static int
peek_keep(void *cookie)
{
	(void)cookie;
	return 0;
}

/* A stream of the peeked bytes and the rest; closing it frees p when
 * owned. */
static FILE *
peek_stream(struct ops_mime_peek *p, int owned)
{
	cookie_io_functions_t io = {
		.read = ops_mime_peek_read,
		.close = owned ? peek_close : peek_keep
	};

	return fopencookie(p, "r", io);
}

FILE *
ops_mime_peek_stream(struct ops_mime_peek *p)
{
	return peek_stream(p, 0);
}

FILE *
ops_mime_peek(FILE *fp, enum ops_mime_kind *kind)
{
	struct ops_mime_peek *p = ops_mime_peek_open(fp, kind);
	FILE *out;

	if (p == NULL)
		return NULL;
	if ((out = peek_stream(p, 1)) == NULL)
		ops_mime_peek_close(p);
	return out;
}

/* --- raw messages from a stream ----------------------------------------- */

struct ops_mime_src {
	FILE		*fp;
	enum ops_mime_kind kind;
	size_t		 max;
	unsigned char	*buf;
	size_t		 pos, fill;
	int		 eof;
	int		 bol;		/* at the beginning of a line */
	int		 prev_blank;	/* the line before was empty */
	int		 started;	/* mbox: past the first From line */
	int		 done;
	unsigned long	 n;
	/* the message being read */
	struct ops_buf	 msg;
	uint64_t	 size;
	int		 over;
	EVP_MD_CTX	*sha;
};

struct ops_mime_src *
ops_mime_src_open(FILE *fp, enum ops_mime_kind kind, size_t max)
{
	struct ops_mime_src *s = ops_xmalloc(sizeof(*s));

	memset(s, 0, sizeof(*s));
	s->fp = fp;
	s->kind = kind;
	s->max = max;
	s->buf = ops_xmalloc(SRC_CHUNK);
	s->bol = 1;
	s->prev_blank = 1;
	s->started = kind != OPS_MIME_MBOX;
	ops_buf_init(&s->msg, max);
	s->sha = EVP_MD_CTX_new();
	if (s->sha == NULL)
		ops_die(OPS_EX_SOFTWARE, "out of memory");
	return s;
}

void
ops_mime_src_close(struct ops_mime_src *s)
{
	if (s == NULL)
		return;
	EVP_MD_CTX_free(s->sha);
	ops_buf_free(&s->msg);
	free(s->buf);
	free(s);
}

/* Keeps at least want bytes (or all that is left) after pos. -1: error. */
static int
fill(struct ops_mime_src *s, size_t want)
{
	size_t n;

	if (s->fill - s->pos >= want || s->eof)
		return 0;
	memmove(s->buf, s->buf + s->pos, s->fill - s->pos);
	s->fill -= s->pos;
	s->pos = 0;
	while (s->fill < want && !s->eof) {
		n = fread(s->buf + s->fill, 1, SRC_CHUNK - s->fill, s->fp);
		if (n == 0) {
			if (ferror(s->fp))
				return -1;
			s->eof = 1;
		}
		s->fill += n;
	}
	return 0;
}

static void
msg_begin(struct ops_mime_src *s)
{
	ops_buf_reset(&s->msg);
	s->size = 0;
	s->over = 0;
	if (EVP_DigestInit_ex(s->sha, EVP_sha256(), NULL) != 1)
		ops_die(OPS_EX_SOFTWARE, "sha256: cannot initialise");
}

/* Past the bound the bytes are only counted and hashed. */
static void
msg_add(struct ops_mime_src *s, const void *p, size_t n)
{
	s->size += n;
	if (!s->over && ops_buf_add(&s->msg, p, n) == 0)
		return;
	if (!s->over) {
		s->over = 1;
		EVP_DigestUpdate(s->sha, s->msg.data, s->msg.len);
		ops_buf_free(&s->msg);
		ops_buf_init(&s->msg, s->max);
	}
	EVP_DigestUpdate(s->sha, p, n);
}

static void
msg_end(struct ops_mime_src *s, struct ops_mime_raw *r)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen;

	/* mbox: the blank line before the next From line is not the
	 * message's (unless the message is too big to still hold it). */
	if (s->kind == OPS_MIME_MBOX && !s->over) {
		if (s->msg.len >= 2 && memcmp(s->msg.data + s->msg.len - 2,
		    "\n\n", 2) == 0)
			s->msg.len--;
		else if (s->msg.len >= 4 && memcmp(s->msg.data + s->msg.len -
		    4, "\r\n\r\n", 4) == 0)
			s->msg.len -= 2;
		s->size = s->msg.len;
	}
	/* A message held whole is hashed by whoever needs it (mime-extract
	 * on another core); one too large to hold, here, as it was read. */
	memset(r, 0, sizeof(*r));
	if (s->over) {
		EVP_DigestFinal_ex(s->sha, md, &mdlen);
		ops_hex(md, mdlen, r->sha256);
	}
	r->size = s->size;
	r->len = s->over ? 0 : s->msg.len;
	r->data = NULL;
	if (!s->over) {
		r->data = (unsigned char *)ops_buf_steal(&s->msg);
		if (r->data == NULL)		/* an empty message */
			r->data = ops_xmalloc(1);
		ops_buf_init(&s->msg, s->max);
	}
	r->n = ++s->n;
}

/* Does a From_ line start at pos? (">From " lines are not.) */
static int
at_from_line(struct ops_mime_src *s)
{
	return s->fill - s->pos >= 5 && memcmp(s->buf + s->pos, "From ", 5) ==
	    0;
}

/* mboxrd: one '>' less before ">*From ". 1 when one was dropped. */
static int
quoted_from(struct ops_mime_src *s)
{
	size_t i = s->pos;

	while (i < s->fill && s->buf[i] == '>')
		i++;
	return i > s->pos && s->fill - i >= 5 &&
	    memcmp(s->buf + i, "From ", 5) == 0;
}

/* Drops the rest of the line at pos, however long. -1: read error. */
static int
skip_line(struct ops_mime_src *s)
{
	unsigned char *nl;

	for (;;) {
		if (fill(s, 1) != 0)
			return -1;
		if (s->pos == s->fill)
			return 0;
		nl = memchr(s->buf + s->pos, '\n', s->fill - s->pos);
		if (nl != NULL) {
			s->pos = (size_t)(nl - s->buf) + 1;
			return 0;
		}
		s->pos = s->fill;
	}
}

int
ops_mime_src_next(struct ops_mime_src *s, struct ops_mime_raw *r)
{
	unsigned char *nl;
	size_t n, len;
	int any = 0;

	if (s->done)
		return 0;
	msg_begin(s);
	for (;;) {
		if (fill(s, s->bol && s->kind == OPS_MIME_MBOX ?
		    FROM_LOOKAHEAD : 1) != 0)
			return -1;
		if (s->pos == s->fill)
			break;
		if (s->bol && s->kind == OPS_MIME_MBOX) {
			if (at_from_line(s) && (s->prev_blank || !s->started)) {
				/* Skip the From_ line, whatever its length. */
				int first = !s->started;

				s->started = 1;
				if (!first && any) {
					msg_end(s, r);
					return 1;
				}
				if (skip_line(s) != 0)
					return -1;
				s->prev_blank = 0;
				any = 1;
				continue;
			}
			if (quoted_from(s))
				s->pos++;
		}
		s->started = 1;		/* junk before a first From_ line */
		any = 1;
		len = s->fill - s->pos;
		if (s->kind != OPS_MIME_MBOX) {	/* one message: no lines */
			msg_add(s, s->buf + s->pos, len);
			s->pos += len;
			continue;
		}
		nl = memchr(s->buf + s->pos, '\n', len);
		n = nl != NULL ? (size_t)(nl - (s->buf + s->pos)) + 1 : len;
		if (s->bol)
			s->prev_blank = (n == 1 && nl != NULL) ||
			    (n == 2 && nl != NULL && s->buf[s->pos] == '\r');
		else if (n > 1 || nl == NULL)
			s->prev_blank = 0;
		msg_add(s, s->buf + s->pos, n);
		s->pos += n;
		s->bol = nl != NULL;
	}
	s->done = 1;
	/* An empty mbox has no message; an empty file is one, bad. */
	if (!any && s->kind == OPS_MIME_MBOX)
		return 0;
	msg_end(s, r);
	return 1;
}

/* --- Maildir ------------------------------------------------------------ */

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Appends the regular files of dir/sub (not dot files), sorted. */
static int
list_sub(const char *dir, const char *sub, char ***v, size_t *n,
    size_t *size)
{
	char *path = ops_path_join(dir, sub), *f;
	size_t first = *n;
	struct dirent *de;
	struct stat st;
	DIR *d;

	d = opendir(path);
	if (d == NULL) {
		free(path);
		return -1;
	}
	for (;;) {
		de = readdir(d);
		if (de == NULL)
			break;
		if (de->d_name[0] == '.')
			continue;
		f = ops_path_join(path, de->d_name);
		if (stat(f, &st) != 0 || !S_ISREG(st.st_mode)) {
			free(f);
			continue;
		}
		if (*n + 2 > *size) {
			*size = *size * 2 + 16;
			*v = ops_xrealloc(*v, *size * sizeof(**v));
		}
		(*v)[(*n)++] = f;
	}
	closedir(d);
	free(path);
	qsort(*v + first, *n - first, sizeof(**v), cmp_str);
	return 0;
}

char **
ops_maildir_list(const char *dir)
{
	char **v = NULL;
	size_t n = 0, size = 0, i;
	int saved;

	v = ops_xmalloc(sizeof(*v));
	size = 1;
	if (list_sub(dir, "new", &v, &n, &size) != 0 ||
	    list_sub(dir, "cur", &v, &n, &size) != 0) {
		saved = errno;
		for (i = 0; i < n; i++)
			free(v[i]);
		free(v);
		errno = saved;
		return NULL;
	}
	v[n] = NULL;
	return v;
}
