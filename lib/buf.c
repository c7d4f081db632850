/* buf.c: a growable byte buffer with a hard size cap. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gmailops.h"

void
ops_buf_init(struct ops_buf *b, size_t cap)
{
	b->data = NULL;
	b->len = 0;
	b->size = 0;
	b->cap = cap != 0 ? cap : OPS_BUF_DEFAULT_CAP;
}

static int
buf_reserve(struct ops_buf *b, size_t more)
{
	size_t want, nsize;

	if (more > b->cap || b->len > b->cap - more)
		return -1;
	want = b->len + more + 1;
	if (want <= b->size)
		return 0;
	nsize = b->size != 0 ? b->size : 256;
	while (nsize < want)
		nsize = nsize > SIZE_MAX / 2 ? want : nsize * 2;
	b->data = ops_xrealloc(b->data, nsize);
	b->size = nsize;
	return 0;
}

int
ops_buf_add(struct ops_buf *b, const void *p, size_t n)
{
	if (buf_reserve(b, n) != 0)
		return -1;
	if (n > 0)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

int
ops_buf_addstr(struct ops_buf *b, const char *s)
{
	return ops_buf_add(b, s, strlen(s));
}

int
ops_buf_addf(struct ops_buf *b, const char *fmt, ...)
{
	va_list ap;
	char *s;
	int n, rc;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0)
		ops_die(OPS_EX_SOFTWARE, "out of memory");
	rc = ops_buf_add(b, s, (size_t)n);
	free(s);
	return rc;
}

void
ops_buf_reset(struct ops_buf *b)
{
	b->len = 0;
	if (b->data != NULL)
		b->data[0] = '\0';
}

void
ops_buf_free(struct ops_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->size = 0;
}

char *
ops_buf_steal(struct ops_buf *b)
{
	char *p = b->data != NULL ? b->data : ops_xstrdup("");

	b->data = NULL;
	b->len = b->size = 0;
	return p;
}
