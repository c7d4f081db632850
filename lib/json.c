/* json.c: small accessors over yajl trees. */
#include <string.h>

#include "gmailops.h"

yajl_val
ops_json_parse(const char *text, char *err, size_t errlen)
{
	yajl_val v;
	char *nl;

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
