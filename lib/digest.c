/* digest.c: bytes as lowercase hex, and the SHA-256 of a buffer as hex. */
#include <openssl/evp.h>

#include "gmailops.h"

void
ops_hex(const void *p, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	const unsigned char *u = p;
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = digits[u[i] >> 4];
		out[2 * i + 1] = digits[u[i] & 15];
	}
	out[2 * n] = '\0';
}

void
ops_sha256_hex(const void *p, size_t n, char out[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen;

	if (EVP_Digest(p, n, md, &mdlen, EVP_sha256(), NULL) != 1 ||
	    mdlen != 32)
		ops_die(OPS_EX_SOFTWARE, "sha256: failed");
	ops_hex(md, mdlen, out);
}
