/* fuzz-b64: base64 and base64url (ops_b64_decode: either alphabet,
 * padding optional), both ways: what decodes encodes and decodes back to
 * the same bytes, and any bytes encode and decode back. */
#include <stdlib.h>
#include <string.h>

#include "gmailops.h"
#include "common.h"

static void
round_trip(const unsigned char *p, size_t n)
{
	unsigned char *back;
	size_t len;
	char *s;

	s = ops_b64_encode(p, n);
	FUZZ_CHECK(strlen(s) == (n + 2) / 3 * 4);
	back = ops_b64_decode(s, strlen(s), &len);
	FUZZ_CHECK(back != NULL && len == n &&
	    (n == 0 || memcmp(back, p, n) == 0));
	free(back);
	free(s);
	s = ops_b64url_encode(p, n);
	FUZZ_CHECK(strcspn(s, "+/=") == strlen(s));
	back = ops_b64_decode(s, strlen(s), &len);
	FUZZ_CHECK(back != NULL && len == n &&
	    (n == 0 || memcmp(back, p, n) == 0));
	free(back);
	free(s);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	ops_setprogname("fuzz-b64");
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned char *dec;
	char *s, *enc;
	size_t len;

	/* The decoder takes a length: no NUL needed, none looked for. */
	s = ops_xmalloc(size);
	memcpy(s, data, size);
	dec = ops_b64_decode(s, size, &len);
	if (dec != NULL) {
		FUZZ_CHECK(len <= size / 4 * 3 + 2);
		round_trip(dec, len);
		free(dec);
	}
	free(s);
	round_trip(data, size);
	s = fuzz_str(data, size);
	enc = ops_urlencode(s);
	FUZZ_CHECK(strcspn(enc, "&=?#/+ ") == strlen(enc));
	free(enc);
	free(s);
	return 0;
}
