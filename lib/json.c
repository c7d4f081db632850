/* json.c: small accessors over yajl trees. */
#include <string.h>

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
