/* fuzz-httpauth: ops-httpd's credentials as a client sends them: the
 * Authorization header (ops_httpauth_check: Bearer, Basic's base64
 * "user:password"), the encoded PBKDF2 hash parser (ops_pbkdf2_verify)
 * and CSRF tokens (ops_httpauth_csrf_ok). Input lines: the header, a
 * password, an encoded hash, a token. The known user's hash has one
 * iteration, and headers for other users and hashes of more than 100
 * iterations are not tried: each costs a real PBKDF2 (600,000 rounds for
 * an unknown user, by design), which would only slow the fuzzer. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "gmailops.h"
#include "common.h"

#define USER	"alice"
#define TOKEN	"t0ken-for-the-fuzzer-0123456789"
#define NOW	1800000000.0

static struct ops_httpauth *auth;

/* Would this header cost an unknown user's PBKDF2? */
static int
slow_basic(const char *hdr)
{
	unsigned char *dec;
	size_t len;
	int slow;

	if (strncasecmp(hdr, "Basic ", 6) != 0)
		return 0;
	hdr += 6 + strspn(hdr + 6, " ");
	dec = ops_b64_decode(hdr, strlen(hdr), &len);
	if (dec == NULL)
		return 0;
	slow = len < sizeof(USER) || memcmp(dec, USER ":", sizeof(USER)) != 0;
	free(dec);
	return slow;
}

static int
slow_hash(const char *enc)
{
	const char *p = "pbkdf2_sha256$";

	if (strncmp(enc, p, strlen(p)) != 0)
		return 0;
	return strtoul(enc + strlen(p), NULL, 10) > 100;
}

/* The next line of *s (NUL-terminated in place), or "". */
static char *
line(char **s)
{
	char *l = *s, *nl = strchr(l, '\n');

	if (nl != NULL) {
		*nl = '\0';
		*s = nl + 1;
	} else
		*s = l + strlen(l);
	return l;
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char *hash, *users, err[512];
	const char *upath;

	(void)argc, (void)argv;
	ops_setprogname("fuzz-httpauth");
	hash = ops_pbkdf2_hash("secret", 1);
	users = ops_xasprintf("# users\n%s:%s\n", USER, hash);
	upath = fuzz_file("users", users, strlen(users));
	free(users);
	free(hash);
	users = ops_xstrdup(upath);
	auth = ops_httpauth_open(users, fuzz_file("token", TOKEN "\n",
	    strlen(TOKEN) + 1), err, sizeof(err));
	if (auth == NULL)
		ops_die(OPS_EX_SOFTWARE, "%s", err);
	free(users);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = fuzz_str(data, size), *rest = text, *hdr, *pw, *enc;
	char *tok, who[OPS_HTTPAUTH_WHO], csrf[OPS_HTTPAUTH_CSRF_LEN];
	int rc;

	hdr = line(&rest);
	pw = line(&rest);
	enc = line(&rest);
	tok = line(&rest);
	if (!slow_basic(hdr)) {
		who[0] = '\0';
		if (ops_httpauth_check(auth, hdr, who, sizeof(who)))
			FUZZ_CHECK(strcmp(who, USER) == 0 ||
			    strcmp(who, "bearer") == 0);
	}
	if (!slow_hash(enc)) {
		rc = ops_pbkdf2_verify(pw, enc);
		FUZZ_CHECK(rc == -1 || rc == 0 || rc == 1);
	}
	(void)ops_httpauth_csrf_ok(auth, USER, tok, NOW);
	ops_httpauth_csrf(auth, USER, NOW, csrf, sizeof(csrf));
	FUZZ_CHECK(ops_httpauth_csrf_ok(auth, USER, csrf, NOW));
	free(text);
	return 0;
}
