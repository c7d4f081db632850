/* auth.c: access tokens: the OAuth user's token.json (refreshes serialised
 * across processes), or domain-wide delegation with a service-account key
 * or keyless through the metadata server and IAM signJwt. */
#include <sys/file.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gmailops.h"

#define EARLY_REFRESH	60.0	/* seconds before expiry a token is renewed */
#define JWT_BEARER	"urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer"

struct ops_auth {
	const struct ops_config *cfg;
	enum ops_auth_mode mode;
	struct ops_http	*http;
	char		*token;
	double		 expiry;
	char		*scopes;
	char		 token_path[4096];
	char		 secret_path[4096];
};

const char *
ops_token_path(const struct ops_config *c)
{
	static char path[4096];

	snprintf(path, sizeof(path), "%s/token.json",
	    ops_config_path(c, "CREDENTIALS_DIR"));
	return path;
}

const char *
ops_client_secret_path(const struct ops_config *c)
{
	static char path[4096];

	snprintf(path, sizeof(path), "%s/client_secret.json",
	    ops_config_path(c, "CREDENTIALS_DIR"));
	return path;
}

struct ops_auth *
ops_auth_new(const struct ops_config *c)
{
	struct ops_auth *a = ops_xmalloc(sizeof(*a));

	memset(a, 0, sizeof(*a));
	a->cfg = c;
	if (*ops_config_path(c, "GOOGLE_APPLICATION_CREDENTIALS") != '\0')
		a->mode = OPS_AUTH_SA_KEY;
	else if (*ops_config_str(c, "GOOGLE_SERVICE_ACCOUNT_EMAIL") != '\0')
		a->mode = OPS_AUTH_KEYLESS;
	else
		a->mode = OPS_AUTH_USER;
	snprintf(a->token_path, sizeof(a->token_path), "%s",
	    ops_token_path(c));
	snprintf(a->secret_path, sizeof(a->secret_path), "%s",
	    ops_client_secret_path(c));
	return a;
}

static void
drop_token(struct ops_auth *a)
{
	if (a->token != NULL)
		explicit_bzero(a->token, strlen(a->token));
	free(a->token);
	a->token = NULL;
	a->expiry = 0;
}

void
ops_auth_free(struct ops_auth *a)
{
	if (a == NULL)
		return;
	drop_token(a);
	free(a->scopes);
	free(a);
}

void
ops_auth_set_http(struct ops_auth *a, struct ops_http *h)
{
	a->http = h;
}

enum ops_auth_mode
ops_auth_mode(const struct ops_auth *a)
{
	return a->mode;
}

double
ops_auth_expiry(const struct ops_auth *a)
{
	return a->expiry;
}

const char *
ops_auth_scopes(const struct ops_auth *a)
{
	return a->scopes;
}

static void
keep_token(struct ops_auth *a, const char *token, double expiry,
    const char *scopes)
{
	drop_token(a);
	a->token = ops_xstrdup(token);
	a->expiry = expiry;
	if (scopes != NULL) {
		free(a->scopes);
		a->scopes = ops_xstrdup(scopes);
	}
}

/* Says what an invalid_grant means and how to mend it. */
static void
explain_invalid_grant(void)
{
	ops_warnx("the refresh token was refused; possible causes: access "
	    "revoked by the user or an admin; token unused for 6 months; "
	    "password changed (Gmail scopes); the OAuth consent screen is in "
	    "\"Testing\" publishing status, whose refresh tokens expire after "
	    "7 days");
	ops_warnx("to fix: gmail-auth login");
}

static int
lock_refresh(const char *token_path)
{
	char *path = ops_xasprintf("%s.lock", token_path);
	int fd;

	fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	free(path);
	if (fd < 0)
		return -1;
	while (flock(fd, LOCK_EX) != 0) {
		if (errno != EINTR) {
			close(fd);
			return -1;
		}
	}
	return fd;
}

static int
token_fresh(const struct ops_token *t, const char *rejected)
{
	if (t->token == NULL || t->expiry < ops_now() + EARLY_REFRESH)
		return 0;
	return rejected == NULL || strcmp(rejected, t->token) != 0;
}

static int
load_user_token(struct ops_auth *a, struct ops_token *t, int *code,
    char *errmsg, size_t errlen)
{
	const char *why;

	if (ops_check_private(a->token_path, &why) != 0) {
		if (access(a->token_path, F_OK) != 0 && errno == ENOENT)
			snprintf(errmsg, errlen, "%s: no token (run gmail-auth "
			    "login)", a->token_path);
		else
			snprintf(errmsg, errlen, "%s: %s", a->token_path, why);
		*code = OPS_EX_NOPERM;
		return -1;
	}
	if (ops_token_load(a->token_path, t, errmsg, errlen) != 0) {
		*code = OPS_EX_NOPERM;
		return -1;
	}
	return 0;
}

/* Fills client id/secret/token_uri from client_secret.json where
 * token.json lacks them. */
static void
fill_client(struct ops_auth *a, struct ops_token *t)
{
	struct ops_client cl;
	char err[256];

	if (t->client_id != NULL && t->client_secret != NULL &&
	    t->token_uri != NULL)
		return;
	if (ops_client_load(a->secret_path, &cl, err, sizeof(err)) != 0)
		return;
	if (t->client_id == NULL)
		t->client_id = ops_xstrdup(cl.client_id);
	if (t->client_secret == NULL && cl.client_secret != NULL)
		t->client_secret = ops_xstrdup(cl.client_secret);
	if (t->token_uri == NULL)
		t->token_uri = ops_xstrdup(cl.token_uri);
	ops_client_free(&cl);
}

static int
refresh_user(struct ops_auth *a, struct ops_token *t, int *code,
    char *errmsg, size_t errlen)
{
	char *id, *secret, *rt, *form;
	yajl_val v;

	if (t->refresh_token == NULL) {
		snprintf(errmsg, errlen, "%s: expired and no refresh_token "
		    "(run gmail-auth login)", a->token_path);
		*code = OPS_EX_NOPERM;
		return -1;
	}
	fill_client(a, t);
	id = ops_urlencode(t->client_id != NULL ? t->client_id : "");
	secret = ops_urlencode(t->client_secret != NULL ? t->client_secret :
	    "");
	rt = ops_urlencode(t->refresh_token);
	form = ops_xasprintf("grant_type=refresh_token&client_id=%s&"
	    "client_secret=%s&refresh_token=%s", id, secret, rt);
	explicit_bzero(secret, strlen(secret));
	explicit_bzero(rt, strlen(rt));
	free(id);
	free(secret);
	free(rt);
	v = ops_token_request(a->http, t->token_uri != NULL ? t->token_uri :
	    "https://oauth2.googleapis.com/token", form, code, errmsg, errlen);
	explicit_bzero(form, strlen(form));
	free(form);
	if (v == NULL) {
		if (strstr(errmsg, "invalid_grant") != NULL)
			explain_invalid_grant();
		return -1;
	}
	ops_token_update(t, v);
	yajl_tree_free(v);
	if (ops_token_save(a->token_path, t) != 0) {
		snprintf(errmsg, errlen, "%s: %s", a->token_path,
		    strerror(errno));
		*code = OPS_EX_IOERR;
		return -1;
	}
	return 0;
}

static const char *
user_token(struct ops_auth *a, int force, int *code, char *errmsg,
    size_t errlen)
{
	struct ops_token t;
	char *rejected = NULL;
	int fd, rc;

	if (force && a->token != NULL)
		rejected = ops_xstrdup(a->token);
	if (load_user_token(a, &t, code, errmsg, errlen) != 0)
		goto fail;
	if (!token_fresh(&t, rejected)) {
		ops_token_free(&t);
		/* One refresher at a time; the others read its result. */
		fd = lock_refresh(a->token_path);
		if (fd < 0) {
			snprintf(errmsg, errlen, "%s.lock: %s", a->token_path,
			    strerror(errno));
			*code = OPS_EX_IOERR;
			goto fail;
		}
		rc = load_user_token(a, &t, code, errmsg, errlen);
		if (rc == 0 && !token_fresh(&t, rejected))
			rc = refresh_user(a, &t, code, errmsg, errlen);
		close(fd);
		if (rc != 0) {
			ops_token_free(&t);
			goto fail;
		}
	}
	keep_token(a, t.token, t.expiry, t.scopes);
	ops_token_free(&t);
	free(rejected);
	return a->token;
fail:
	free(rejected);
	return NULL;
}

static const char *
token_url(void)
{
	const char *s = getenv("GOOGLE_OAUTH_TOKEN_URL");

	return s != NULL && *s != '\0' ? s :
	    "https://oauth2.googleapis.com/token";
}

/* Exchanges a signed JWT for an access token. */
static const char *
exchange_jwt(struct ops_auth *a, const char *uri, const char *jwt,
    const char *scopes, int *code, char *errmsg, size_t errlen)
{
	char *form, *enc;
	yajl_val v;
	long long expires_in = 3600;

	enc = ops_urlencode(jwt);
	form = ops_xasprintf("grant_type=%s&assertion=%s", JWT_BEARER, enc);
	free(enc);
	v = ops_token_request(a->http, uri, form, code, errmsg, errlen);
	explicit_bzero(form, strlen(form));
	free(form);
	if (v == NULL)
		return NULL;
	(void)ops_json_int(v, "expires_in", &expires_in);
	keep_token(a, ops_json_str(v, "access_token"),
	    ops_now() + (double)expires_in, scopes);
	yajl_tree_free(v);
	return a->token;
}

static const char *
subject(struct ops_auth *a, int *code, char *errmsg, size_t errlen)
{
	const char *sub = ops_config_str(a->cfg, "GMAIL_USER");

	if (*sub == '\0') {
		/* Google would issue the service account's own token and
		 * Gmail answer "Precondition check failed". */
		snprintf(errmsg, errlen, "domain-wide delegation needs the "
		    "user to act as (--subject or GMAIL_USER)");
		*code = OPS_EX_CONFIG;
		return NULL;
	}
	return sub;
}

static const char *
sa_key_token(struct ops_auth *a, int *code, char *errmsg, size_t errlen)
{
	const char *path = ops_config_path(a->cfg,
	    "GOOGLE_APPLICATION_CREDENTIALS"), *sub, *why, *uri, *ret = NULL;
	char *text, *claims = NULL, *jwt = NULL, *scopes;
	yajl_val key = NULL;
	size_t len;

	sub = subject(a, code, errmsg, errlen);
	if (sub == NULL)
		return NULL;
	*code = OPS_EX_NOPERM;
	if (ops_check_private(path, &why) != 0) {
		snprintf(errmsg, errlen, "%s: %s", path, why);
		return NULL;
	}
	text = ops_read_file(path, (size_t)1 << 20, &len, 1);
	if (text == NULL) {
		snprintf(errmsg, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	key = ops_json_parse(text, errmsg, errlen);
	explicit_bzero(text, len);
	free(text);
	if (key == NULL || ops_json_str(key, "private_key") == NULL ||
	    ops_json_str(key, "client_email") == NULL) {
		snprintf(errmsg, errlen, "%s: not a service-account key "
		    "(private_key, client_email)", path);
		goto out;
	}
	uri = ops_json_str(key, "token_uri") != NULL ?
	    ops_json_str(key, "token_uri") : token_url();
	scopes = ops_config_scopes(a->cfg);
	claims = ops_jwt_claims(ops_json_str(key, "client_email"), sub, scopes,
	    uri, time(NULL));
	if (claims != NULL)
		jwt = ops_jwt_sign_rs256(ops_json_str(key, "private_key"),
		    ops_json_str(key, "private_key_id"), claims, errmsg, errlen);
	if (jwt != NULL)
		ret = exchange_jwt(a, uri, jwt, scopes, code, errmsg, errlen);
	free(scopes);
out:
	if (jwt != NULL)
		explicit_bzero(jwt, strlen(jwt));
	free(jwt);
	free(claims);
	if (key != NULL) {
		const char *pk = ops_json_str(key, "private_key");
		if (pk != NULL)
			explicit_bzero((char *)pk, strlen(pk));
	}
	yajl_tree_free(key);
	return ret;
}

/* Runs req and returns the string field of its JSON answer (caller
 * frees), or NULL with errmsg prefixed by what. Answers hold secrets:
 * they are wiped. */
static char *
secret_field(struct ops_auth *a, struct ops_http_req *req, const char *what,
    const char *field, int *code, char *errmsg, size_t errlen)
{
	struct ops_http_resp resp;
	char err[128], *out = NULL;
	yajl_val v;

	req->max_response = (size_t)1 << 20;
	if (ops_http_do(a->http, req, &resp) != 0) {
		snprintf(errmsg, errlen, "%s: %s", what, resp.errmsg);
		*code = resp.exit_code;
		goto out;
	}
	v = ops_json_parse(resp.body.data, err, sizeof(err));
	if (ops_json_str(v, field) != NULL) {
		out = ops_xstrdup(ops_json_str(v, field));
	} else {
		snprintf(errmsg, errlen, "%s: no %s in the answer", what, field);
		*code = OPS_EX_UNAVAILABLE;
	}
	yajl_tree_free(v);
out:
	if (resp.body.data != NULL)
		explicit_bzero(resp.body.data, resp.body.len);
	ops_http_resp_free(&resp);
	return out;
}

/* The runtime's own token from the metadata server (plain http by design:
 * it never leaves the host). Caller frees. */
static char *
metadata_token(struct ops_auth *a, int *code, char *errmsg, size_t errlen)
{
	const char *host = getenv("GCE_METADATA_HOST");
	struct ops_http_req req;
	char *url, *tok;

	if (host == NULL || *host == '\0')
		host = "metadata.google.internal";
	url = ops_xasprintf("http://%s/computeMetadata/v1/instance/"
	    "service-accounts/default/token", host);
	memset(&req, 0, sizeof(req));
	req.method = "GET";
	req.url = url;
	req.allow_http = 1;
	req.extra_header = "Metadata-Flavor: Google";
	tok = secret_field(a, &req, "metadata server", "access_token", code,
	    errmsg, errlen);
	free(url);
	return tok;
}

/* IAM Credentials signJwt: caller frees the signed JWT. */
static char *
iam_sign(struct ops_auth *a, const char *runtime, const char *sa,
    const char *claims, int *code, char *errmsg, size_t errlen)
{
	const char *base = getenv("GOOGLE_IAM_CREDENTIALS_URL");
	struct ops_http_req req;
	struct ops_jw *w = ops_jw_new();
	char *url, *enc, *jwt;

	if (base == NULL || *base == '\0')
		base = "https://iamcredentials.googleapis.com";
	enc = ops_urlencode(sa);
	url = ops_xasprintf("%s/v1/projects/-/serviceAccounts/%s:signJwt",
	    base, enc);
	free(enc);
	ops_jw_open(w);
	ops_jw_str(w, "payload", claims);
	ops_jw_close(w);
	memset(&req, 0, sizeof(req));
	req.method = "POST";
	req.url = url;
	req.content_type = "application/json";
	req.body = ops_jw_text(w, &req.body_len);
	req.token = runtime;
	jwt = secret_field(a, &req, "IAM signJwt", "signedJwt", code, errmsg,
	    errlen);
	ops_jw_free(w);
	free(url);
	return jwt;
}

static const char *
keyless_token(struct ops_auth *a, int *code, char *errmsg, size_t errlen)
{
	const char *sa = ops_config_str(a->cfg, "GOOGLE_SERVICE_ACCOUNT_EMAIL");
	const char *sub, *ret = NULL;
	char *runtime, *claims, *jwt = NULL, *scopes;

	sub = subject(a, code, errmsg, errlen);
	if (sub == NULL)
		return NULL;
	runtime = metadata_token(a, code, errmsg, errlen);
	if (runtime == NULL)
		return NULL;
	scopes = ops_config_scopes(a->cfg);
	claims = ops_jwt_claims(sa, sub, scopes, token_url(), time(NULL));
	if (claims != NULL)
		jwt = iam_sign(a, runtime, sa, claims, code, errmsg, errlen);
	if (jwt != NULL)
		ret = exchange_jwt(a, token_url(), jwt, scopes, code, errmsg,
		    errlen);
	if (jwt != NULL)
		explicit_bzero(jwt, strlen(jwt));
	explicit_bzero(runtime, strlen(runtime));
	free(runtime);
	free(jwt);
	free(claims);
	free(scopes);
	return ret;
}

const char *
ops_auth_token(struct ops_auth *a, int force, int *exit_code, char *errmsg,
    size_t errlen)
{
	int code = OPS_EX_NOPERM;
	const char *tok;

	if (a == NULL) {
		snprintf(errmsg, errlen, "no credentials configured");
		*exit_code = OPS_EX_SOFTWARE;
		return NULL;
	}
	if (!force && a->token != NULL && a->expiry > ops_now() + EARLY_REFRESH)
		return a->token;
	if (a->http == NULL)
		ops_die(OPS_EX_SOFTWARE, "internal error: auth without http");
	switch (a->mode) {
	case OPS_AUTH_SA_KEY:
		tok = sa_key_token(a, &code, errmsg, errlen);
		break;
	case OPS_AUTH_KEYLESS:
		tok = keyless_token(a, &code, errmsg, errlen);
		break;
	default:
		tok = user_token(a, force, &code, errmsg, errlen);
		break;
	}
	if (tok == NULL)
		*exit_code = code;
	return tok;
}
