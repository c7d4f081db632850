/* jwt.c: RS256 JSON Web Tokens for OAuth's jwt-bearer grant. */
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "gmailops.h"

char *
ops_jwt_claims(const char *iss, const char *sub, const char *scope,
    const char *aud, time_t iat)
{
	struct ops_jw *w = ops_jw_new();
	const char *text;
	size_t len;
	char *out;

	ops_jw_open(w);
	ops_jw_str(w, "iss", iss);
	if (sub != NULL && *sub != '\0')
		ops_jw_str(w, "sub", sub);
	ops_jw_str(w, "scope", scope);
	ops_jw_str(w, "aud", aud);
	ops_jw_int(w, "iat", (long long)iat);
	ops_jw_int(w, "exp", (long long)iat + 3600);
	ops_jw_close(w);
	text = ops_jw_text(w, &len);
	out = ops_jw_failed(w) ? NULL : ops_xasprintf("%.*s", (int)len, text);
	ops_jw_free(w);
	return out;
}

static void
ssl_error(char *errmsg, size_t errlen, const char *what)
{
	unsigned long e = ERR_get_error();
	char buf[256];

	ERR_error_string_n(e, buf, sizeof(buf));
	snprintf(errmsg, errlen, "%s: %s", what, e != 0 ? buf : "failed");
	ERR_clear_error();
}

char *
ops_jwt_sign_rs256(const char *pem_key, const char *kid,
    const char *claims_json, char *errmsg, size_t errlen)
{
	struct ops_jw *w = ops_jw_new();
	EVP_PKEY *key = NULL;
	EVP_MD_CTX *md = NULL;
	BIO *bio = NULL;
	unsigned char *sig = NULL;
	size_t siglen = 0, hlen;
	char *h64 = NULL, *c64 = NULL, *s64 = NULL, *input = NULL, *out = NULL;
	const char *header;

	ops_jw_open(w);
	ops_jw_str(w, "alg", "RS256");
	ops_jw_str(w, "typ", "JWT");
	if (kid != NULL && *kid != '\0')
		ops_jw_str(w, "kid", kid);
	ops_jw_close(w);
	header = ops_jw_text(w, &hlen);
	h64 = ops_b64url_encode(header, hlen);
	c64 = ops_b64url_encode(claims_json, strlen(claims_json));
	input = ops_xasprintf("%s.%s", h64, c64);

	bio = BIO_new_mem_buf(pem_key, -1);
	if (bio == NULL) {
		ssl_error(errmsg, errlen, "private key");
		goto out;
	}
	key = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
	if (key == NULL || EVP_PKEY_base_id(key) != EVP_PKEY_RSA) {
		ssl_error(errmsg, errlen, "private key is not a PEM RSA key");
		goto key_free;
	}
	md = EVP_MD_CTX_new();
	if (md == NULL ||
	    EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key) != 1 ||
	    EVP_DigestSign(md, NULL, &siglen, (unsigned char *)input,
	    strlen(input)) != 1) {
		ssl_error(errmsg, errlen, "RS256 signature");
		goto md_free;
	}
	sig = ops_xmalloc(siglen);
	if (EVP_DigestSign(md, sig, &siglen, (unsigned char *)input,
	    strlen(input)) != 1) {
		ssl_error(errmsg, errlen, "RS256 signature");
		goto md_free;
	}
	s64 = ops_b64url_encode(sig, siglen);
	out = ops_xasprintf("%s.%s", input, s64);
md_free:
	EVP_MD_CTX_free(md);
key_free:
	EVP_PKEY_free(key);
	BIO_free(bio);
out:
	free(sig);
	free(s64);
	free(input);
	free(c64);
	free(h64);
	ops_jw_free(w);
	return out;
}
