/* httpauth.c: ops-httpd's credentials: HTTP Basic users with salted
 * PBKDF2-SHA256 hashes (Django's "pbkdf2_sha256$iter$salt$hash"), a bearer
 * token read from a private file, and the CSRF tokens of its forms. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include "gmailops.h"

#define MAX_FILE	(1024 * 1024)
#define MAX_USERS	1000
#define MAX_ITER	10000000UL
#define CACHE_SLOTS	64
#define CACHE_TTL	300.0	/* seconds a checked Basic credential is trusted */
#define CSRF_TTL	(8 * 3600.0)
#define MIN_TOKEN	16	/* characters of a bearer token */
#define SALT_CHARS	22	/* as Django: about 131 bits */

struct user {
	char	*name;
	char	*hash;		/* the encoded hash */
};

struct cache_slot {
	unsigned char	 key[SHA256_DIGEST_LENGTH];	/* of the header */
	char		 who[OPS_HTTPAUTH_WHO];
	double		 until;
};

struct ops_httpauth {
	struct user	*users;
	size_t		 nusers;
	int		 have_token;
	unsigned char	 token[SHA256_DIGEST_LENGTH];	/* its digest */
	unsigned char	 csrf_key[32];
	pthread_mutex_t	 lock;		/* the cache, and one PBKDF2 at a time */
	struct cache_slot cache[CACHE_SLOTS];
	unsigned int	 next_slot;
};

/* ------------------------------------------------------------ PBKDF2 */

/* "pbkdf2_sha256$ITER$SALT$B64" into its parts; 0 or -1. */
static int
hash_parse(const char *enc, unsigned long *iter, const char **salt,
    size_t *saltlen, const char **b64)
{
	const char *p, *q;
	char *end;

	if (strncmp(enc, "pbkdf2_sha256$", 14) != 0)
		return -1;
	p = enc + 14;
	errno = 0;
	*iter = strtoul(p, &end, 10);
	if (end == p || *end != '$' || errno != 0 || *iter == 0 ||
	    *iter > MAX_ITER || *p == '0')
		return -1;
	p = end + 1;
	if ((q = strchr(p, '$')) == NULL || q == p)
		return -1;
	*salt = p;
	*saltlen = (size_t)(q - p);
	*b64 = q + 1;
	if (memchr(*salt, '$', *saltlen) != NULL || strchr(*b64, '$') != NULL)
		return -1;
	return 0;
}

static int
derive(const char *pw, const char *salt, size_t saltlen, unsigned long iter,
    unsigned char out[32])
{
	return PKCS5_PBKDF2_HMAC(pw, (int)strlen(pw),
	    (const unsigned char *)salt, (int)saltlen, (int)iter, EVP_sha256(),
	    32, out) == 1 ? 0 : -1;
}

char *
ops_pbkdf2_hash(const char *password, unsigned long iter)
{
	static const char alnum[] = "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
	unsigned char rnd[SALT_CHARS], dk[32];
	char salt[SALT_CHARS + 1], *b64, *out;
	size_t i;

	if (iter == 0 || iter > MAX_ITER || ops_random_bytes(rnd,
	    sizeof(rnd)) != 0)
		return NULL;
	/* 62 letters from bytes below 248: no modulo bias. */
	for (i = 0; i < SALT_CHARS; i++) {
		while (rnd[i] >= 248)
			if (ops_random_bytes(&rnd[i], 1) != 0)
				return NULL;
		salt[i] = alnum[rnd[i] % 62];
	}
	salt[SALT_CHARS] = '\0';
	if (derive(password, salt, SALT_CHARS, iter, dk) != 0)
		return NULL;
	b64 = ops_b64_encode(dk, sizeof(dk));
	out = ops_xasprintf("pbkdf2_sha256$%lu$%s$%s", iter, salt, b64);
	free(b64);
	OPENSSL_cleanse(dk, sizeof(dk));
	return out;
}

int
ops_pbkdf2_verify(const char *password, const char *encoded)
{
	const char *salt, *b64;
	unsigned char dk[32], *want;
	unsigned long iter;
	size_t saltlen, wantlen;
	int ok;

	if (hash_parse(encoded, &iter, &salt, &saltlen, &b64) != 0)
		return -1;
	want = ops_b64_decode(b64, strlen(b64), &wantlen);
	if (want == NULL || wantlen != sizeof(dk)) {
		free(want);
		return -1;
	}
	ok = derive(password, salt, saltlen, iter, dk) == 0 &&
	    CRYPTO_memcmp(dk, want, sizeof(dk)) == 0;
	OPENSSL_cleanse(dk, sizeof(dk));
	free(want);
	return ok;
}

/* ------------------------------------------------------------ files */

static int
load_users(struct ops_httpauth *a, const char *path, char *errmsg,
    size_t errlen)
{
	const char *why, *salt, *b64;
	char *text, *line, *next, *colon;
	unsigned long iter, lineno = 0;
	size_t len, saltlen;

	if (ops_check_private(path, &why) != 0)
		return ops_errf(errmsg, errlen, "HTTPD_USERS_FILE %s: %s", path,
		    why);
	if ((text = ops_read_file(path, MAX_FILE, &len, 1)) == NULL)
		return ops_errf(errmsg, errlen, "HTTPD_USERS_FILE %s: %s",
		    path, strerror(errno));
	for (line = text; line != NULL && *line != '\0'; line = next) {
		lineno++;
		if ((next = strchr(line, '\n')) != NULL)
			*next++ = '\0';
		len = strlen(line);
		if (len > 0 && line[len - 1] == '\r')
			line[--len] = '\0';
		if (*line == '\0' || *line == '#')
			continue;
		colon = strchr(line, ':');
		if (colon == NULL || colon == line || colon - line > 64 ||
		    hash_parse(colon + 1, &iter, &salt, &saltlen, &b64) != 0) {
			free(text);
			return ops_errf(errmsg, errlen, "%s:%lu: expected "
			    "name:pbkdf2_sha256$iterations$salt$hash "
			    "(ops-httpd --hash-password makes one)", path,
			    lineno);
		}
		if (a->nusers == MAX_USERS) {
			free(text);
			return ops_errf(errmsg, errlen, "%s: more than %d users",
			    path, MAX_USERS);
		}
		*colon = '\0';
		a->users = ops_xrealloc(a->users, (a->nusers + 1) *
		    sizeof(*a->users));
		a->users[a->nusers].name = ops_xstrdup(line);
		a->users[a->nusers].hash = ops_xstrdup(colon + 1);
		a->nusers++;
	}
	OPENSSL_cleanse(text, strlen(text));
	free(text);
	if (a->nusers == 0)
		return ops_errf(errmsg, errlen, "HTTPD_USERS_FILE %s: no users",
		    path);
	return 0;
}

static int
load_token(struct ops_httpauth *a, const char *path, char *errmsg,
    size_t errlen)
{
	const char *why;
	char *text;
	size_t len;

	if (ops_check_private(path, &why) != 0)
		return ops_errf(errmsg, errlen, "HTTPD_TOKEN_FILE %s: %s", path,
		    why);
	if ((text = ops_read_file(path, 4096, &len, 1)) == NULL)
		return ops_errf(errmsg, errlen, "HTTPD_TOKEN_FILE %s: %s",
		    path, errno == EFBIG ? "over 4096 bytes" : strerror(errno));
	len = strcspn(text, "\r\n");
	text[len] = '\0';
	if (len < MIN_TOKEN || strspn(text, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~+/=") != len) {
		OPENSSL_cleanse(text, len);
		free(text);
		return ops_errf(errmsg, errlen, "HTTPD_TOKEN_FILE %s: the "
		    "first line must be a token of at least %d characters "
		    "(letters, digits, -._~+/=)", path, MIN_TOKEN);
	}
	SHA256((unsigned char *)text, len, a->token);
	a->have_token = 1;
	OPENSSL_cleanse(text, len);
	free(text);
	return 0;
}

struct ops_httpauth *
ops_httpauth_open(const char *users_file, const char *token_file,
    char *errmsg, size_t errlen)
{
	struct ops_httpauth *a;

	if ((users_file == NULL || *users_file == '\0') &&
	    (token_file == NULL || *token_file == '\0')) {
		ops_errf(errmsg, errlen, "neither HTTPD_USERS_FILE nor "
		    "HTTPD_TOKEN_FILE is set: every route needs a credential");
		return NULL;
	}
	a = ops_xmalloc(sizeof(*a));
	memset(a, 0, sizeof(*a));
	pthread_mutex_init(&a->lock, NULL);
	if ((users_file != NULL && *users_file != '\0' &&
	    load_users(a, users_file, errmsg, errlen) != 0) ||
	    (token_file != NULL && *token_file != '\0' &&
	    load_token(a, token_file, errmsg, errlen) != 0) ||
	    ops_random_bytes(a->csrf_key, sizeof(a->csrf_key)) != 0) {
		ops_httpauth_free(a);
		return NULL;
	}
	return a;
}

void
ops_httpauth_free(struct ops_httpauth *a)
{
	size_t i;

	if (a == NULL)
		return;
	for (i = 0; i < a->nusers; i++) {
		free(a->users[i].name);
		free(a->users[i].hash);
	}
	free(a->users);
	pthread_mutex_destroy(&a->lock);
	OPENSSL_cleanse(a, sizeof(*a));
	free(a);
}

int
ops_httpauth_schemes(const struct ops_httpauth *a)
{
	return (a->nusers > 0 ? OPS_HTTPAUTH_BASIC : 0) |
	    (a->have_token ? OPS_HTTPAUTH_BEARER : 0);
}

/* ------------------------------------------------------------ checks */

static int
check_bearer(struct ops_httpauth *a, const char *tok, char *who,
    size_t wholen)
{
	unsigned char d[SHA256_DIGEST_LENGTH];

	if (!a->have_token)
		return 0;
	SHA256((const unsigned char *)tok, strlen(tok), d);
	if (CRYPTO_memcmp(d, a->token, sizeof(d)) != 0)
		return 0;
	snprintf(who, wholen, "bearer");
	return 1;
}

/* Called with a->lock held. */
static int
check_basic(struct ops_httpauth *a, const char *b64, char *who,
    size_t wholen)
{
	/* A well-formed hash that matches nothing: an unknown user costs
	 * as much as a known one. */
	static const char dummy[] = "pbkdf2_sha256$600000$gmailopsdummysalt000"
	    "00$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
	const char *hash = dummy, *name_cmp;
	unsigned char *dec;
	size_t declen, i;
	char *colon;
	int ok = 0;

	if (a->nusers == 0)
		return 0;
	dec = ops_b64_decode(b64, strlen(b64), &declen);
	if (dec == NULL)
		return 0;
	dec = ops_xrealloc(dec, declen + 1);
	dec[declen] = '\0';
	colon = memchr(dec, ':', declen);
	if (colon == NULL || strlen((char *)dec) != declen) {
		OPENSSL_cleanse(dec, declen);
		free(dec);
		return 0;
	}
	*colon = '\0';
	for (i = 0; i < a->nusers; i++) {
		name_cmp = a->users[i].name;
		if (strcmp(name_cmp, (char *)dec) == 0) {
			hash = a->users[i].hash;
			break;
		}
	}
	ok = ops_pbkdf2_verify(colon + 1, hash) == 1 && hash != dummy;
	if (ok)
		snprintf(who, wholen, "%s", (char *)dec);
	OPENSSL_cleanse(dec, declen);
	free(dec);
	return ok;
}

int
ops_httpauth_check(struct ops_httpauth *a, const char *hdr, char *who,
    size_t wholen)
{
	unsigned char key[SHA256_DIGEST_LENGTH];
	double now = ops_monotonic();
	struct cache_slot *s;
	unsigned int i;
	int ok;

	if (hdr == NULL)
		return 0;
	if (strncasecmp(hdr, "Bearer ", 7) == 0)
		return check_bearer(a, hdr + 7 + strspn(hdr + 7, " "), who,
		    wholen);
	if (strncasecmp(hdr, "Basic ", 6) != 0)
		return 0;
	SHA256((const unsigned char *)hdr, strlen(hdr), key);
	pthread_mutex_lock(&a->lock);
	for (i = 0; i < CACHE_SLOTS; i++) {
		s = &a->cache[i];
		if (s->until > now && CRYPTO_memcmp(s->key, key,
		    sizeof(key)) == 0) {
			snprintf(who, wholen, "%s", s->who);
			pthread_mutex_unlock(&a->lock);
			return 1;
		}
	}
	/* One PBKDF2 at a time: wrong guesses cannot take every core. */
	ok = check_basic(a, hdr + 6 + strspn(hdr + 6, " "), who, wholen);
	if (ok) {
		s = &a->cache[a->next_slot++ % CACHE_SLOTS];
		memcpy(s->key, key, sizeof(key));
		snprintf(s->who, sizeof(s->who), "%s", who);
		s->until = now + CACHE_TTL;
	}
	pthread_mutex_unlock(&a->lock);
	return ok;
}

/* ------------------------------------------------------------ CSRF */

/* "<unix time>.<hex HMAC-SHA256(key, who "\n" time)>" */
static void
csrf_mac(const struct ops_httpauth *a, const char *who, long long t,
    char out[65])
{
	unsigned char mac[32];
	unsigned int maclen = sizeof(mac);
	char msg[OPS_HTTPAUTH_WHO + 32];
	int n;

	n = snprintf(msg, sizeof(msg), "%s\n%lld", who, t);
	if (n < 0 || (size_t)n >= sizeof(msg))	/* who is at most a user name */
		n = (int)sizeof(msg) - 1;
	HMAC(EVP_sha256(), a->csrf_key, sizeof(a->csrf_key),
	    (unsigned char *)msg, (size_t)n, mac, &maclen);
	ops_hex(mac, 32, out);
}

void
ops_httpauth_csrf(const struct ops_httpauth *a, const char *who, double now,
    char *out, size_t outlen)
{
	char mac[65];

	csrf_mac(a, who, (long long)now, mac);
	snprintf(out, outlen, "%lld.%s", (long long)now, mac);
}

int
ops_httpauth_csrf_ok(const struct ops_httpauth *a, const char *who,
    const char *token, double now)
{
	char mac[65], *end;
	long long t;

	if (token == NULL)
		return 0;
	errno = 0;
	t = strtoll(token, &end, 10);
	if (end == token || *end != '.' || errno != 0 || t > now + 60 ||
	    now - (double)t > CSRF_TTL || strlen(end + 1) != 64)
		return 0;
	csrf_mac(a, who, t, mac);
	return CRYPTO_memcmp(mac, end + 1, 64) == 0;
}
