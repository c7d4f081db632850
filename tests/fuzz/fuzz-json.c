/* fuzz-json: ops_json_parse (yajl's tree parser, the one-line error, the
 * depth bound) and the accessors, then the writer: a parsed value written
 * with ops_jw_value must parse again and write the same text. Where
 * ops_json_find_str says "raw" lies, the tree must hold that string. */
#include <stdlib.h>
#include <string.h>

#include "gmailops.h"
#include "common.h"

#define MAX_DEPTH	100	/* json.c's bound */

static int
depth_of(yajl_val v)
{
	size_t i;
	int d, max = 0;

	if (YAJL_IS_ARRAY(v)) {
		for (i = 0; i < v->u.array.len; i++) {
			d = depth_of(v->u.array.values[i]);
			max = d > max ? d : max;
		}
		return max + 1;
	}
	if (YAJL_IS_OBJECT(v)) {
		for (i = 0; i < v->u.object.len; i++) {
			d = depth_of(v->u.object.values[i]);
			max = d > max ? d : max;
		}
		return max + 1;
	}
	return 0;
}

static char *
write_value(yajl_val v, int *failed)
{
	struct ops_jw *w = ops_jw_new();
	const char *text;
	char *copy;
	size_t len;

	ops_jw_value(w, v);
	text = ops_jw_text(w, &len);
	*failed = ops_jw_failed(w);
	copy = ops_xmalloc(len + 1);
	memcpy(copy, text, len);
	copy[len] = '\0';
	ops_jw_free(w);
	return copy;
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	ops_setprogname("fuzz-json");
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = fuzz_str(data, size), *out, *again, err[128];
	yajl_val v, v2;
	const char *raw;
	long long n;
	size_t off, len;
	int b, failed, found;

	found = ops_json_find_str(text, strlen(text), "raw", &off, &len) == 0;
	FUZZ_CHECK(!found || off + len <= strlen(text));
	v = ops_json_parse(text, err, sizeof(err));
	if (v == NULL) {
		FUZZ_CHECK(*err != '\0' && strchr(err, '\n') == NULL);
		free(text);
		return 0;
	}
	FUZZ_CHECK(depth_of(v) <= MAX_DEPTH);
	(void)ops_json_get(v, "id");
	raw = ops_json_str(v, "raw");
	if (found && raw != NULL)
		FUZZ_CHECK(strlen(raw) == len && memcmp(raw, text + off,
		    len) == 0);
	(void)ops_json_int(v, "sizeEstimate", &n);
	(void)ops_json_bool(v, "ok", &b);
	/* Anything read can be written again. */
	out = write_value(v, &failed);
	FUZZ_CHECK(!failed || !fuzz_utf8_ok(text, strlen(text)));
	if (!failed) {
		v2 = ops_json_parse(out, err, sizeof(err));
		FUZZ_CHECK(v2 != NULL);
		again = write_value(v2, &failed);
		FUZZ_CHECK(!failed && strcmp(out, again) == 0);
		free(again);
		yajl_tree_free(v2);
	}
	free(out);
	yajl_tree_free(v);
	free(text);
	return 0;
}
