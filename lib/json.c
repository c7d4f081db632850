/* json.c: small accessors over yajl trees, and a string found in JSON
 * text without one. */
#include <string.h>

#include <yajl/yajl_parse.h>

#include "gmailops.h"

/* yajl_tree_free() recurses once per level: a value nested a million
 * deep (2 MB of "[") overflows the stack. And what is read must be
 * written again, inside a record or two: jw.c writes 127 levels, as
 * yajl_gen does. */
#define MAX_DEPTH	100

/* Is text nested deeper than MAX_DEPTH? Strings and comments (yajl's
 * tree parser allows them) are skipped; a bracket in either counts for
 * nothing. */
static int
too_deep(const char *s)
{
	int depth = 0;

	for (; *s != '\0'; s++) {
		if (*s == '"') {
			for (s++; *s != '\0' && *s != '"'; s++)
				if (*s == '\\' && s[1] != '\0')
					s++;
		} else if (s[0] == '/' && s[1] == '*') {
			s = strstr(s + 2, "*/");
			if (s == NULL)
				return 0;
			s++;
		} else if (s[0] == '/' && s[1] == '/') {
			s += strcspn(s, "\n");
		} else if (*s == '[' || *s == '{') {
			if (++depth > MAX_DEPTH)
				return 1;
		} else if (*s == ']' || *s == '}') {
			depth--;
		}
		if (*s == '\0')
			break;
	}
	return 0;
}

yajl_val
ops_json_parse(const char *text, char *err, size_t errlen)
{
	yajl_val v;
	char *nl;

	if (too_deep(text)) {
		if (err != NULL && errlen > 0)
			snprintf(err, errlen, "nested deeper than %d levels",
			    MAX_DEPTH);
		return NULL;
	}
	v = yajl_tree_parse(text, err, errlen);
	if (v == NULL && err != NULL && errlen > 0) {
		/* yajl's messages span lines; keep the first for one-line
		 * diagnostics. */
		nl = strchr(err, '\n');
		if (nl != NULL)
			*nl = '\0';
		if (*err == '\0')
			snprintf(err, errlen, "invalid JSON");
	}
	return v;
}

yajl_val
ops_json_get(yajl_val obj, const char *key)
{
	size_t i;

	if (obj == NULL || !YAJL_IS_OBJECT(obj))
		return NULL;
	for (i = 0; i < obj->u.object.len; i++)
		if (strcmp(obj->u.object.keys[i], key) == 0)
			return obj->u.object.values[i];
	return NULL;
}

const char *
ops_json_str(yajl_val obj, const char *key)
{
	yajl_val v = ops_json_get(obj, key);

	return v != NULL && YAJL_IS_STRING(v) ? YAJL_GET_STRING(v) : NULL;
}

int
ops_json_int(yajl_val obj, const char *key, long long *out)
{
	yajl_val v = ops_json_get(obj, key);

	if (v == NULL || !YAJL_IS_INTEGER(v))
		return -1;
	*out = YAJL_GET_INTEGER(v);
	return 0;
}

int
ops_json_bool(yajl_val obj, const char *key, int *out)
{
	yajl_val v = ops_json_get(obj, key);

	if (v == NULL || !(YAJL_IS_TRUE(v) || YAJL_IS_FALSE(v)))
		return -1;
	*out = YAJL_IS_TRUE(v);
	return 0;
}

/* Where a top-level key's string value lies in an object's text, found
 * without building a tree: yajl hands a string without escapes as a
 * pointer into the text it was given. */
struct str_scan {
	const char	*key;
	size_t		 keylen;
	int		 depth, want;
	const char	*at;
	size_t		 len;
};

static int
scan_value(void *ctx)
{
	((struct str_scan *)ctx)->want = 0;
	return 1;
}

static int
scan_bool(void *ctx, int b)
{
	(void)b;
	return scan_value(ctx);
}

static int
scan_number(void *ctx, const char *n, size_t len)
{
	(void)n;
	(void)len;
	return scan_value(ctx);
}

static int
scan_string(void *ctx, const unsigned char *str, size_t len)
{
	struct str_scan *r = ctx;

	if (r->want && r->depth == 1 && r->at == NULL) {
		r->at = (const char *)str;
		r->len = len;
	}
	r->want = 0;
	return 1;
}

static int
scan_key(void *ctx, const unsigned char *key, size_t len)
{
	struct str_scan *r = ctx;

	r->want = r->depth == 1 && len == r->keylen &&
	    memcmp(key, r->key, len) == 0;
	return 1;
}

static int
scan_open(void *ctx)
{
	((struct str_scan *)ctx)->depth++;
	return scan_value(ctx);
}

static int
scan_close(void *ctx)
{
	((struct str_scan *)ctx)->depth--;
	return 1;
}

int
ops_json_find_str(const char *text, size_t len, const char *key,
    size_t *off, size_t *vlen)
{
	static const yajl_callbacks cb = {
		scan_value, scan_bool, NULL, NULL, scan_number, scan_string,
		scan_open, scan_key, scan_close, scan_open, scan_close
	};
	struct str_scan r = { key, strlen(key), 0, 0, NULL, 0 };
	yajl_handle h;
	int ok;

	if (text == NULL)		/* yajl's own stack: no depth limit */
		return -1;
	h = yajl_alloc(&cb, NULL, &r);
	ok = yajl_parse(h, (const unsigned char *)text, len) ==
	    yajl_status_ok && yajl_complete_parse(h) == yajl_status_ok;
	yajl_free(h);
	if (!ok || r.at == NULL || r.at < text || r.at + r.len > text + len)
		return -1;
	*off = (size_t)(r.at - text);
	*vlen = r.len;
	return 0;
}
