/* jw.c: a JSON writer over yajl_gen: one compact object per line. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <yajl/yajl_gen.h>

#include "gmailops.h"

struct ops_jw {
	yajl_gen	 g;
	int		 failed;
	unsigned int	 depth;		/* containers open */
};

struct ops_jw *
ops_jw_new(void)
{
	struct ops_jw *w = ops_xmalloc(sizeof(*w));

	w->g = yajl_gen_alloc(NULL);
	if (w->g == NULL)
		ops_die(OPS_EX_SOFTWARE, "out of memory");
	yajl_gen_config(w->g, yajl_gen_validate_utf8, 1);
	w->failed = 0;
	w->depth = 0;
	return w;
}

void
ops_jw_free(struct ops_jw *w)
{
	if (w == NULL)
		return;
	yajl_gen_free(w->g);
	free(w);
}

static void
check(struct ops_jw *w, yajl_gen_status st)
{
	if (st != yajl_gen_status_ok)
		w->failed = 1;
}

void
ops_jw_key(struct ops_jw *w, const char *key)
{
	if (key != NULL)
		check(w, yajl_gen_string(w->g, (const unsigned char *)key,
		    strlen(key)));
}

/* yajl_gen counts a container past YAJL_MAX_DEPTH before it refuses it,
 * and from then on reads (and may write) its state array at that depth;
 * a close with none open wraps its depth below zero. So neither is ever
 * asked of it: 0, or -1 and failed. */
static int
open_container(struct ops_jw *w, int map)
{
	yajl_gen_status st;

	if (w->depth + 1 >= YAJL_MAX_DEPTH) {
		w->failed = 1;
		return -1;
	}
	st = map ? yajl_gen_map_open(w->g) : yajl_gen_array_open(w->g);
	check(w, st);
	if (st != yajl_gen_status_ok)
		return -1;
	w->depth++;
	return 0;
}

static void
close_container(struct ops_jw *w, int map)
{
	yajl_gen_status st;

	if (w->depth == 0) {
		w->failed = 1;
		return;
	}
	st = map ? yajl_gen_map_close(w->g) : yajl_gen_array_close(w->g);
	check(w, st);
	if (st == yajl_gen_status_ok)
		w->depth--;
}

void
ops_jw_open(struct ops_jw *w)
{
	(void)open_container(w, 1);
}

void
ops_jw_close(struct ops_jw *w)
{
	close_container(w, 1);
}

void
ops_jw_strn(struct ops_jw *w, const char *key, const char *val, size_t n)
{
	ops_jw_key(w, key);
	if (val == NULL)
		check(w, yajl_gen_null(w->g));
	else
		check(w, yajl_gen_string(w->g, (const unsigned char *)val, n));
}

void
ops_jw_str(struct ops_jw *w, const char *key, const char *val)
{
	ops_jw_strn(w, key, val, val != NULL ? strlen(val) : 0);
}

void
ops_jw_int(struct ops_jw *w, const char *key, long long val)
{
	ops_jw_key(w, key);
	check(w, yajl_gen_integer(w->g, val));
}

void
ops_jw_double(struct ops_jw *w, const char *key, double val)
{
	char num[64];
	int n;

	ops_jw_key(w, key);
	/* Our own formatting: fixed precision, C locale digits only. */
	n = snprintf(num, sizeof(num), "%.3f", val);
	check(w, yajl_gen_number(w->g, num, (size_t)n));
}

void
ops_jw_bool(struct ops_jw *w, const char *key, int val)
{
	ops_jw_key(w, key);
	check(w, yajl_gen_bool(w->g, val != 0));
}

void
ops_jw_null(struct ops_jw *w, const char *key)
{
	ops_jw_key(w, key);
	check(w, yajl_gen_null(w->g));
}

void
ops_jw_array_open(struct ops_jw *w, const char *key)
{
	ops_jw_key(w, key);
	(void)open_container(w, 0);
}

void
ops_jw_array_close(struct ops_jw *w)
{
	close_container(w, 0);
}

/* Recursion as deep as the value, which open_container bounds. */
static void
jw_value(struct ops_jw *w, yajl_val v)
{
	size_t i;

	if (v == NULL || YAJL_IS_NULL(v)) {
		check(w, yajl_gen_null(w->g));
	} else if (YAJL_IS_STRING(v)) {
		const char *s = YAJL_GET_STRING(v);
		check(w, yajl_gen_string(w->g, (const unsigned char *)s,
		    strlen(s)));
	} else if (YAJL_IS_NUMBER(v)) {
		const char *s = YAJL_GET_NUMBER(v);
		check(w, yajl_gen_number(w->g, s, strlen(s)));
	} else if (YAJL_IS_TRUE(v) || YAJL_IS_FALSE(v)) {
		check(w, yajl_gen_bool(w->g, YAJL_IS_TRUE(v)));
	} else if (YAJL_IS_ARRAY(v)) {
		if (open_container(w, 0) != 0)
			return;
		for (i = 0; i < v->u.array.len; i++)
			jw_value(w, v->u.array.values[i]);
		close_container(w, 0);
	} else if (YAJL_IS_OBJECT(v)) {
		if (open_container(w, 1) != 0)
			return;
		for (i = 0; i < v->u.object.len; i++) {
			ops_jw_key(w, v->u.object.keys[i]);
			jw_value(w, v->u.object.values[i]);
		}
		close_container(w, 1);
	}
}

void
ops_jw_value(struct ops_jw *w, yajl_val v)
{
	jw_value(w, v);
}

void
ops_jw_words(struct ops_jw *w, const char *key, const char *s)
{
	size_t n;

	ops_jw_array_open(w, key);
	while (s != NULL && *s != '\0') {
		s += strspn(s, " ");
		n = strcspn(s, " ");
		if (n > 0)
			ops_jw_strn(w, NULL, s, n);
		s += n;
	}
	ops_jw_array_close(w);
}

int
ops_jw_failed(const struct ops_jw *w)
{
	return w->failed;
}

const char *
ops_jw_text(struct ops_jw *w, size_t *len)
{
	const unsigned char *buf;
	size_t n;

	if (yajl_gen_get_buf(w->g, &buf, &n) != yajl_gen_status_ok) {
		w->failed = 1;
		*len = 0;
		return "";
	}
	*len = n;
	return (const char *)buf;
}

void
ops_jw_reset(struct ops_jw *w)
{
	yajl_gen_clear(w->g);
	yajl_gen_reset(w->g, NULL);
	w->failed = 0;
	w->depth = 0;
}

static int
put(struct ops_jw *w, FILE *fp, int flush)
{
	const char *text;
	size_t len;
	int rc = 0;

	text = ops_jw_text(w, &len);
	if (w->failed) {
		ops_warnx("internal error: could not encode a JSON record");
		rc = -1;
	} else if (fwrite(text, 1, len, fp) != len || putc('\n', fp) == EOF ||
	    (flush && fflush(fp) != 0)) {
		if (errno == EPIPE)
			ops_reader_gone();
		rc = -1;
	}
	ops_jw_reset(w);
	return rc;
}

int
ops_jw_emit(struct ops_jw *w, FILE *fp)
{
	return put(w, fp, 1);
}

int
ops_jw_put(struct ops_jw *w, FILE *fp)
{
	return put(w, fp, 0);
}
