/* fuzz-token: what the token endpoint and the metadata server answer
 * (ops_token_update on the parsed answer), and the files those answers
 * are kept in or come with: token.json (ops_token_load: scopes as array
 * or string, the RFC 3339 expiry) and client_secret.json
 * (ops_client_load). */
#include <stdlib.h>
#include <string.h>

#include "gmailops.h"
#include "common.h"

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	ops_setprogname("fuzz-token");
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ops_token t;
	struct ops_client cl;
	char *text, err[256];
	const char *path;
	yajl_val v;

	text = fuzz_str(data, size);
	v = ops_json_parse(text, err, sizeof(err));
	if (v != NULL) {
		memset(&t, 0, sizeof(t));
		t.refresh_token = ops_xstrdup("1//refresh");
		ops_token_update(&t, v);
		FUZZ_CHECK(t.refresh_token != NULL && t.expiry > 0);
		ops_token_free(&t);
		yajl_tree_free(v);
	}
	free(text);

	path = fuzz_file("token.json", data, size);
	if (ops_token_load(path, &t, err, sizeof(err)) == 0) {
		FUZZ_CHECK(t.token != NULL || t.refresh_token != NULL);
		FUZZ_CHECK(t.scopes != NULL);
		ops_token_free(&t);
	} else
		FUZZ_CHECK(*err != '\0');
	if (ops_client_load(path, &cl, err, sizeof(err)) == 0) {
		FUZZ_CHECK(cl.client_id != NULL && cl.auth_uri != NULL &&
		    cl.token_uri != NULL);
		ops_client_free(&cl);
	} else
		FUZZ_CHECK(*err != '\0');
	return 0;
}
