/* b64.c: base64/base64url coding, URL encoding and random tokens. */
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "gmailops.h"

static const char b64_std[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char b64_url[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static char *
b64_encode(const unsigned char *in, size_t n, const char *alpha, int pad)
{
	size_t i, o = 0;
	char *out;

	if (n > (SIZE_MAX - 4) / 4 * 3)
		ops_die(OPS_EX_SOFTWARE, "out of memory");
	out = ops_xmalloc((n + 2) / 3 * 4 + 1);
	for (i = 0; i + 2 < n; i += 3) {
		unsigned long v = (unsigned long)in[i] << 16 |
		    (unsigned long)in[i + 1] << 8 | in[i + 2];
		out[o++] = alpha[v >> 18 & 63];
		out[o++] = alpha[v >> 12 & 63];
		out[o++] = alpha[v >> 6 & 63];
		out[o++] = alpha[v & 63];
	}
	if (i < n) {
		unsigned long v = (unsigned long)in[i] << 16;
		if (i + 1 < n)
			v |= (unsigned long)in[i + 1] << 8;
		out[o++] = alpha[v >> 18 & 63];
		out[o++] = alpha[v >> 12 & 63];
		if (i + 1 < n)
			out[o++] = alpha[v >> 6 & 63];
		else if (pad)
			out[o++] = '=';
		if (pad)
			out[o++] = '=';
	}
	out[o] = '\0';
	return out;
}

char *
ops_b64url_encode(const void *p, size_t n)
{
	return b64_encode(p, n, b64_url, 0);
}

char *
ops_b64_encode(const void *p, size_t n)
{
	return b64_encode(p, n, b64_std, 1);
}

static int
b64_value(int c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+' || c == '-')
		return 62;
	if (c == '/' || c == '_')
		return 63;
	return -1;
}

unsigned char *
ops_b64_decode(const char *s, size_t slen, size_t *outlen)
{
	unsigned char *out;
	unsigned long acc = 0;
	size_t i, o = 0;
	int bits = 0, v;

	while (slen > 0 && s[slen - 1] == '=')
		slen--;
	out = ops_xmalloc(slen / 4 * 3 + 3);
	for (i = 0; i < slen; i++) {
		v = b64_value((unsigned char)s[i]);
		if (v < 0) {
			free(out);
			return NULL;
		}
		acc = (acc << 6 | (unsigned long)v) & 0xffffff;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (unsigned char)(acc >> bits & 0xff);
		}
	}
	if (bits >= 6) {		/* one lone character: not base64 */
		free(out);
		return NULL;
	}
	*outlen = o;
	return out;
}

int
ops_hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

char *
ops_urlencode(const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = strlen(s), o = 0, i;
	char *out = ops_xmalloc(n * 3 + 1);

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '_' ||
		    c == '.' || c == '~') {
			out[o++] = (char)c;
		} else {
			out[o++] = '%';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		}
	}
	out[o] = '\0';
	return out;
}

int
ops_random_bytes(void *p, size_t n)
{
	return RAND_bytes(p, (int)n) == 1 ? 0 : -1;
}

char *
ops_random_token(size_t nbytes)
{
	unsigned char raw[96];

	if (nbytes > sizeof(raw))
		nbytes = sizeof(raw);
	if (ops_random_bytes(raw, nbytes) != 0)
		ops_die(OPS_EX_SOFTWARE, "no random bytes");
	return ops_b64url_encode(raw, nbytes);
}
