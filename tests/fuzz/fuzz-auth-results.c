/* fuzz-auth-results: the Authentication-Results header parser
 * (ops_mime_auth_parse): comments, quoted strings, resinfo properties,
 * the DKIM choice by alignment with the From domain. */
#include <stdlib.h>
#include <string.h>

#include "gmailops.h"
#include "common.h"

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	ops_setprogname("fuzz-auth-results");
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *value = fuzz_str(data, size);
	struct ops_mime_auth a;

	memset(&a, 0, sizeof(a));
	a.from_domain = ops_xstrdup("example.com");
	if (ops_mime_auth_parse(value, OPS_MIME_AUTHSERV, &a)) {
		FUZZ_CHECK(a.authserv != NULL);
		FUZZ_CHECK(a.dkim_domain == NULL || a.dkim != NULL);
		FUZZ_CHECK(a.spf_domain == NULL || a.spf != NULL);
		FUZZ_CHECK(a.dmarc_domain == NULL || a.dmarc != NULL);
	} else
		FUZZ_CHECK(a.authserv == NULL && a.dkim == NULL &&
		    a.spf == NULL && a.dmarc == NULL);
	ops_mime_auth_free(&a);
	free(value);
	return 0;
}
