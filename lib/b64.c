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

/* A character's value plus one; URL marks the two of base64url only
 * ('-', '_'), which MIME base64 skips; '=' is 65; 0: not base64. */
#define URL	0x80
static const unsigned char b64_rank[256] = {
	['A'] = 1, ['B'] = 2, ['C'] = 3, ['D'] = 4, ['E'] = 5, ['F'] = 6,
	['G'] = 7, ['H'] = 8, ['I'] = 9, ['J'] = 10, ['K'] = 11, ['L'] = 12,
	['M'] = 13, ['N'] = 14, ['O'] = 15, ['P'] = 16, ['Q'] = 17,
	['R'] = 18, ['S'] = 19, ['T'] = 20, ['U'] = 21, ['V'] = 22,
	['W'] = 23, ['X'] = 24, ['Y'] = 25, ['Z'] = 26, ['a'] = 27,
	['b'] = 28, ['c'] = 29, ['d'] = 30, ['e'] = 31, ['f'] = 32,
	['g'] = 33, ['h'] = 34, ['i'] = 35, ['j'] = 36, ['k'] = 37,
	['l'] = 38, ['m'] = 39, ['n'] = 40, ['o'] = 41, ['p'] = 42,
	['q'] = 43, ['r'] = 44, ['s'] = 45, ['t'] = 46, ['u'] = 47,
	['v'] = 48, ['w'] = 49, ['x'] = 50, ['y'] = 51, ['z'] = 52,
	['0'] = 53, ['1'] = 54, ['2'] = 55, ['3'] = 56, ['4'] = 57,
	['5'] = 58, ['6'] = 59, ['7'] = 60, ['8'] = 61, ['9'] = 62,
	['+'] = 63, ['/'] = 64, ['-'] = URL | 63, ['_'] = URL | 64,
	['='] = 65
};

/* A character's value plus one in either alphabet; 0: not base64. */
static unsigned
either(unsigned char c)
{
	unsigned v = b64_rank[c] & ~URL;

	return v == 65 ? 0 : v;
}

/* Decodes u into out, which may be u itself or lie before it: each group
 * is read before its bytes are written, and never past what is read. */
static int
decode_into(const unsigned char *u, size_t slen, unsigned char *out,
    size_t *outlen)
{
	unsigned long w;
	size_t i, o = 0;
	unsigned a, b, c, d;

	while (slen > 0 && u[slen - 1] == '=')
		slen--;
	if (slen % 4 == 1)		/* one lone character: not base64 */
		return -1;
	/* Four characters, three bytes at a time. */
	for (i = 0; i + 4 <= slen; i += 4) {
		a = either(u[i]);
		b = either(u[i + 1]);
		c = either(u[i + 2]);
		d = either(u[i + 3]);
		if (a == 0 || b == 0 || c == 0 || d == 0)
			goto bad;
		w = (unsigned long)(a - 1) << 18 | (unsigned long)(b - 1) << 12 |
		    (unsigned long)(c - 1) << 6 | (unsigned long)(d - 1);
		out[o++] = (unsigned char)(w >> 16);
		out[o++] = (unsigned char)(w >> 8);
		out[o++] = (unsigned char)w;
	}
	if (i < slen) {			/* two or three left: one or two bytes */
		a = either(u[i]);
		b = either(u[i + 1]);
		c = i + 2 < slen ? either(u[i + 2]) : 1;
		if (a == 0 || b == 0 || c == 0)
			goto bad;
		w = (unsigned long)(a - 1) << 18 | (unsigned long)(b - 1) << 12 |
		    (unsigned long)(c - 1) << 6;
		out[o++] = (unsigned char)(w >> 16);
		if (i + 2 < slen)
			out[o++] = (unsigned char)(w >> 8);
	}
	*outlen = o;
	return 0;
bad:
	return -1;
}

unsigned char *
ops_b64_decode(const char *s, size_t slen, size_t *outlen)
{
	unsigned char *out = ops_xmalloc(slen / 4 * 3 + 3);

	if (decode_into((const unsigned char *)s, slen, out, outlen) != 0) {
		free(out);
		return NULL;
	}
	return out;
}

int
ops_b64_decode_to(char *s, size_t slen, unsigned char *out, size_t *outlen)
{
	size_t i, n = 0;

	for (i = 0; i < slen; i++)	/* line breaks out, in place */
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' &&
		    s[i] != '\n')
			s[n++] = s[i];
	return decode_into((unsigned char *)s, n, out, outlen);
}

/* The whole bytes of a group cut short by '=' or the end: two characters
 * give one byte, three give two, one gives none. */
static size_t
dec_flush(unsigned long bits, int n, unsigned char *o)
{
	if (n == 2) {
		o[0] = (unsigned char)(bits >> 4);
		return 1;
	}
	if (n == 3) {
		o[0] = (unsigned char)(bits >> 10);
		o[1] = (unsigned char)(bits >> 2);
		return 2;
	}
	return 0;
}

void
ops_b64_dec_init(struct ops_b64_dec *d)
{
	d->bits = 0;
	d->n = 0;
}

size_t
ops_b64_dec_step(struct ops_b64_dec *d, const void *in, size_t len,
    unsigned char *out)
{
	const unsigned char *p = in, *end = p + len;
	unsigned char *o = out;
	unsigned long bits = d->bits, w;
	unsigned a, b, c, e;
	int n = d->n;

	if (n < 0)			/* past the padding */
		return 0;
	while (p < end) {
		/* Whole groups of four alphabet characters: the usual case.
		 * Values are taken minus one, so '=', skipped characters and
		 * base64url's own have a bit of 0xc0 set. */
		while (n == 0 && end - p >= 4) {
			a = (unsigned char)(b64_rank[p[0]] - 1);
			b = (unsigned char)(b64_rank[p[1]] - 1);
			c = (unsigned char)(b64_rank[p[2]] - 1);
			e = (unsigned char)(b64_rank[p[3]] - 1);
			if ((a | b | c | e) & 0xc0)
				break;
			w = (unsigned long)a << 18 | (unsigned long)b << 12 |
			    (unsigned long)c << 6 | e;
			o[0] = (unsigned char)(w >> 16);
			o[1] = (unsigned char)(w >> 8);
			o[2] = (unsigned char)w;
			o += 3;
			p += 4;
		}
		if (p == end)
			break;
		a = (unsigned char)(b64_rank[*p++] - 1);
		if (a < 64) {
			bits = (bits << 6 | a) & 0xffffff;
			if (++n == 4) {
				o[0] = (unsigned char)(bits >> 16);
				o[1] = (unsigned char)(bits >> 8);
				o[2] = (unsigned char)bits;
				o += 3;
				n = 0;
			}
		} else if (a == 64 && n >= 2) {
			/* Padding: the data ends here (RFC 2045 6.8), as
			 * Python's email and enmime read it. */
			o += dec_flush(bits, n, o);
			n = -1;
			break;
		}
	}
	d->bits = bits;
	d->n = n;
	return (size_t)(o - out);
}

size_t
ops_b64_dec_end(struct ops_b64_dec *d, unsigned char *out)
{
	size_t k = d->n > 0 ? dec_flush(d->bits, d->n, out) : 0;

	ops_b64_dec_init(d);
	return k;
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
