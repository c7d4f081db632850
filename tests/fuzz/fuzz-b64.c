/* fuzz-b64: base64 and base64url (ops_b64_decode: either alphabet,
 * padding optional), both ways: what decodes encodes and decodes back to
 * the same bytes, and any bytes encode and decode back. The streaming
 * MIME decoder gives the same bytes however its input is cut, stays in
 * its bound, and reads back what the encoder wrote, folded or not. */
#include <stdlib.h>
#include <string.h>

#include "gmailops.h"
#include "common.h"

/* The streaming decoder on p, cut every `step` bytes. */
static unsigned char *
stream_decode(const void *p, size_t n, size_t step, size_t *outlen)
{
	struct ops_b64_dec d;
	unsigned char *out = ops_xmalloc(n / 4 * 3 + 6 * (n / step + 2));
	size_t i, k, o = 0, got;

	ops_b64_dec_init(&d);
	for (i = 0; i < n; i += k) {
		k = n - i < step ? n - i : step;
		got = ops_b64_dec_step(&d, (const char *)p + i, k, out + o);
		FUZZ_CHECK(got <= k / 4 * 3 + 6);
		o += got;
	}
	got = ops_b64_dec_end(&d, out + o);
	FUZZ_CHECK(got <= 2);
	*outlen = o + got;
	return out;
}

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
	back = ops_xmalloc(strlen(s) + 1);		/* in place, folded */
	memcpy(back, s, strlen(s) + 1);
	FUZZ_CHECK(ops_b64_decode_to((char *)back, strlen(s), back,
	    &len) == 0 && len == n && (n == 0 || memcmp(back, p, n) == 0));
	free(back);
	back = stream_decode(s, strlen(s), 76, &len);	/* a line's worth */
	FUZZ_CHECK(len == n && (n == 0 || memcmp(back, p, n) == 0));
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
	unsigned char *dec, *whole;
	char *s, *enc;
	size_t len, wlen, step;

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
	whole = stream_decode(data, size, size + 1, &wlen);
	for (step = 1; step <= 7; step += 3) {
		dec = stream_decode(data, size, step, &len);
		FUZZ_CHECK(len == wlen && (len == 0 ||
		    memcmp(dec, whole, len) == 0));
		free(dec);
	}
	free(whole);
	round_trip(data, size);
	s = fuzz_str(data, size);
	enc = ops_urlencode(s);
	FUZZ_CHECK(strcspn(enc, "&=?#/+ ") == strlen(enc));
	free(enc);
	free(s);
	return 0;
}
