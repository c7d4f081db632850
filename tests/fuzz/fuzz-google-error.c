/* fuzz-google-error: the error body parser behind every failed call
 * (ops_google_error): Google's {"error":{...}}, OAuth's {"error":"..."}
 * and plain text, into a bounded message and reason, and the "Retry
 * after <RFC 3339>" found in a message. The first byte picks the size
 * of the message buffer. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gmailops.h"
#include "common.h"

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	ops_setprogname("fuzz-google-error");
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char reason[64], *body, *out;
	size_t outlen;
	double at;

	if (size == 0)
		return 0;
	outlen = (size_t)data[0] + 1;
	body = fuzz_str(data + 1, size - 1);
	out = ops_xmalloc(outlen);
	ops_google_error(body, strlen(body), out, outlen, reason,
	    sizeof(reason), &at);
	FUZZ_CHECK(memchr(out, '\0', outlen) != NULL);
	FUZZ_CHECK(memchr(reason, '\0', sizeof(reason)) != NULL);
	FUZZ_CHECK(!isnan(at));
	free(out);
	free(body);
	return 0;
}
