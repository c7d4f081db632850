/* fuzz-form: form and query strings from browsers: an ops-httpd POST
 * body's field (ops_httpd_form: '+', %XX, a NUL refused), a query
 * parameter (ops_query_param) and the OAuth redirect gmail-auth receives
 * (ops_login_parse: error, state, code). Input: the field name on the
 * first line, the body after it. */
#include <stdlib.h>
#include <string.h>

#include "gmailops.h"
#include "common.h"

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	ops_setprogname("fuzz-form");
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nl = memchr(data, '\n', size);
	struct ops_login l;
	char *name, *body, *text, *v, *code, err[256];
	size_t blen;

	if (nl == NULL)
		return 0;
	name = fuzz_str(data, (size_t)(nl - data));
	blen = size - (size_t)(nl + 1 - data);
	/* The body as uploaded: a length, no NUL after it. */
	body = ops_xmalloc(blen);
	memcpy(body, nl + 1, blen);
	v = ops_httpd_form(body, blen, name);
	if (v != NULL) {
		FUZZ_CHECK(strlen(v) <= blen);
		free(v);
	}
	free(body);

	text = fuzz_str(nl + 1, blen);
	v = ops_query_param(text, name);
	if (v != NULL) {
		FUZZ_CHECK(strlen(v) <= strlen(text));
		free(v);
	}
	memset(&l, 0, sizeof(l));
	l.fd = -1;
	snprintf(l.state, sizeof(l.state), "s7Kq2vXn9dPz4RbW");
	if (ops_login_parse(&l, text, &code, err, sizeof(err)) == 0)
		FUZZ_CHECK(code != NULL && *code != '\0');
	else
		FUZZ_CHECK(code == NULL && *err != '\0');
	free(code);
	free(text);
	free(name);
	return 0;
}
