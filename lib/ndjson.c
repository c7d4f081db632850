/* ndjson.c: an NDJSON reader: lines of any length up to a cap, one object
 * each; a bad line is reported with its number, counted and skipped. */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gmailops.h"

struct ops_ndjson {
	FILE		*fp;
	ssize_t		(*rd)(void *, char *, size_t);	/* or a reader */
	void		*rd_arg;
	char		*name;
	size_t		 maxline;
	unsigned long	 lineno;
	unsigned long	 bad;
	struct ops_buf	 line;
	char		 chunk[65536];
	size_t		 pos, fill;
	int		 eof;
};

struct ops_ndjson *
ops_ndjson_open(FILE *fp, const char *name, size_t maxline)
{
	struct ops_ndjson *r = ops_xmalloc(sizeof(*r));

	r->fp = fp;
	r->rd = NULL;
	r->rd_arg = NULL;
	r->name = ops_xstrdup(name != NULL ? name : "");
	r->maxline = maxline != 0 ? maxline : OPS_NDJSON_MAX_LINE;
	r->lineno = 0;
	r->bad = 0;
	/* The buffer's own cap is one more than a line may be, so an
	 * over-long line is noticed rather than refused mid-append. */
	ops_buf_init(&r->line, r->maxline + 1);
	r->pos = r->fill = 0;
	r->eof = 0;
	return r;
}

struct ops_ndjson *
ops_ndjson_open_reader(ssize_t (*rd)(void *, char *, size_t), void *arg,
    const char *name, size_t maxline)
{
	struct ops_ndjson *r = ops_ndjson_open(NULL, name, maxline);

	r->rd = rd;
	r->rd_arg = arg;
	return r;
}

/* Fills the chunk with what is there now, never waiting for a full
 * chunk: a record must reach the next stage as soon as it is written.
 * A stream with a descriptor is read directly; another (a cookie
 * stream) a line at a time through stdio. */
static int
chunk_read(struct ops_ndjson *r)
{
	int fd, c;
	ssize_t n;

	if (r->rd != NULL) {
		n = r->rd(r->rd_arg, r->chunk, sizeof(r->chunk));
		r->fill = n > 0 ? (size_t)n : 0;
		return n < 0 ? -1 : 0;
	}
	if ((fd = fileno(r->fp)) >= 0) {
		do
			n = read(fd, r->chunk, sizeof(r->chunk));
		while (n < 0 && errno == EINTR);
		r->fill = n > 0 ? (size_t)n : 0;
		return n < 0 ? -1 : 0;
	}
	r->fill = 0;
	while (r->fill < sizeof(r->chunk)) {
		c = getc(r->fp);
		if (c == EOF)
			return ferror(r->fp) ? -1 : 0;
		r->chunk[r->fill++] = (char)c;
		if (c == '\n')
			break;
	}
	return 0;
}

/* Reads one line into r->line without its "\n". 1: line; 0: end; -1:
 * read error. *toolong is set when the line passed the cap (its rest is
 * discarded). */
static int
read_line(struct ops_ndjson *r, int *toolong)
{
	int any = 0;

	ops_buf_reset(&r->line);
	*toolong = 0;
	for (;;) {
		char *nl;
		size_t n;

		if (r->pos == r->fill) {
			if (r->eof)
				return any ? 1 : 0;
			if (chunk_read(r) < 0)
				return -1;
			r->pos = 0;
			if (r->fill == 0) {
				r->eof = 1;
				continue;
			}
		}
		any = 1;
		nl = memchr(r->chunk + r->pos, '\n', r->fill - r->pos);
		n = nl != NULL ? (size_t)(nl - (r->chunk + r->pos)) :
		    r->fill - r->pos;
		if (!*toolong && ops_buf_add(&r->line, r->chunk + r->pos, n) != 0) {
			*toolong = 1;
			ops_buf_free(&r->line);
		}
		r->pos += n;
		if (nl != NULL) {
			r->pos++;
			return 1;
		}
	}
}

/* "prog: [NAME: ]line N: why", counted as a bad record. */
void
ops_ndjson_bad_line(struct ops_ndjson *r, const char *fmt, ...)
{
	char why[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	if (*r->name != '\0')
		ops_warnx("%s: line %lu: %s", r->name, r->lineno, why);
	else
		ops_warnx("line %lu: %s", r->lineno, why);
	r->bad++;
}

static int
is_blank(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
			return 0;
	return 1;
}

int
ops_ndjson_next_line(struct ops_ndjson *r, char **line, size_t *len)
{
	int toolong, rc;

	for (;;) {
		/* A line may be tens of megabytes: do not keep its buffer. */
		if (r->line.size > sizeof(r->chunk) * 4)
			ops_buf_free(&r->line);
		rc = read_line(r, &toolong);
		if (rc <= 0) {
			if (rc < 0)
				ops_warn("%s", *r->name ? r->name : "stdin");
			return rc;
		}
		r->lineno++;
		if (toolong || r->line.len > r->maxline) {
			ops_ndjson_bad_line(r, "longer than %zu bytes, skipped",
			    r->maxline);
			continue;
		}
		if (r->line.len == 0 || is_blank(r->line.data, r->line.len))
			continue;
		if (strlen(r->line.data) != r->line.len) {
			ops_ndjson_bad_line(r, "NUL byte in JSON text");
			continue;
		}
		*line = r->line.data;
		*len = r->line.len;
		return 1;
	}
}

char *
ops_ndjson_take_line(struct ops_ndjson *r)
{
	return ops_buf_steal(&r->line);
}

int
ops_ndjson_next(struct ops_ndjson *r, yajl_val *out)
{
	char err[256], *line;
	yajl_val v;
	size_t len;
	int rc;

	for (;;) {
		rc = ops_ndjson_next_line(r, &line, &len);
		if (rc <= 0)
			return rc;
		v = ops_json_parse(line, err, sizeof(err));
		if (v == NULL) {
			ops_ndjson_bad_line(r, "%s", err);
			continue;
		}
		if (!YAJL_IS_OBJECT(v)) {
			ops_ndjson_bad_line(r, "not a JSON object");
			yajl_tree_free(v);
			continue;
		}
		/* The line may be tens of megabytes: do not keep it. */
		if (r->line.size > sizeof(r->chunk) * 4)
			ops_buf_free(&r->line);
		*out = v;
		return 1;
	}
}

unsigned long
ops_ndjson_lineno(const struct ops_ndjson *r)
{
	return r->lineno;
}

unsigned long
ops_ndjson_bad(const struct ops_ndjson *r)
{
	return r->bad;
}

void
ops_ndjson_close(struct ops_ndjson *r)
{
	if (r == NULL)
		return;
	ops_buf_free(&r->line);
	free(r->name);
	free(r);
}
