/* oauth.c: client_secret.json, token.json (google-auth's layout) and the
 * token endpoint. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "gmailops.h"

#define SECRET_FILE_CAP ((size_t)1 << 20)

static char *
dup_or_null(const char *s)
{
	return s != NULL ? ops_xstrdup(s) : NULL;
}

static yajl_val
load_json(const char *path, char *errmsg, size_t errlen)
{
	char err[200], *text;
	size_t len;
	yajl_val v;

	text = ops_read_file(path, SECRET_FILE_CAP, &len, 1);
	if (text == NULL) {
		snprintf(errmsg, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	v = ops_json_parse(text, err, sizeof(err));
	explicit_bzero(text, len);
	free(text);
	if (v == NULL || !YAJL_IS_OBJECT(v)) {
		snprintf(errmsg, errlen, "%s: %s", path, v == NULL ? err :
		    "not a JSON object");
		yajl_tree_free(v);
		return NULL;
	}
	return v;
}

int
ops_client_load(const char *path, struct ops_client *cl, char *errmsg,
    size_t errlen)
{
	yajl_val v, app;

	memset(cl, 0, sizeof(*cl));
	v = load_json(path, errmsg, errlen);
	if (v == NULL)
		return -1;
	app = ops_json_get(v, "installed");
	if (app == NULL)
		app = ops_json_get(v, "web");
	if (app == NULL || ops_json_str(app, "client_id") == NULL) {
		snprintf(errmsg, errlen, "%s: no \"installed\" or \"web\" "
		    "client with a client_id", path);
		yajl_tree_free(v);
		return -1;
	}
	cl->client_id = dup_or_null(ops_json_str(app, "client_id"));
	cl->client_secret = dup_or_null(ops_json_str(app, "client_secret"));
	cl->auth_uri = ops_xstrdup(ops_json_str(app, "auth_uri") != NULL ?
	    ops_json_str(app, "auth_uri") :
	    "https://accounts.google.com/o/oauth2/auth");
	cl->token_uri = ops_xstrdup(ops_json_str(app, "token_uri") != NULL ?
	    ops_json_str(app, "token_uri") :
	    "https://oauth2.googleapis.com/token");
	yajl_tree_free(v);
	return 0;
}

void
ops_client_free(struct ops_client *cl)
{
	if (cl->client_secret != NULL)
		explicit_bzero(cl->client_secret, strlen(cl->client_secret));
	free(cl->client_id);
	free(cl->client_secret);
	free(cl->auth_uri);
	free(cl->token_uri);
	memset(cl, 0, sizeof(*cl));
}

int
ops_token_load(const char *path, struct ops_token *t, char *errmsg,
    size_t errlen)
{
	yajl_val v, scopes;
	const char *exp;
	struct ops_buf b;
	size_t i;

	memset(t, 0, sizeof(*t));
	v = load_json(path, errmsg, errlen);
	if (v == NULL)
		return -1;
	t->token = dup_or_null(ops_json_str(v, "token"));
	t->refresh_token = dup_or_null(ops_json_str(v, "refresh_token"));
	t->token_uri = dup_or_null(ops_json_str(v, "token_uri"));
	t->client_id = dup_or_null(ops_json_str(v, "client_id"));
	t->client_secret = dup_or_null(ops_json_str(v, "client_secret"));
	scopes = ops_json_get(v, "scopes");
	ops_buf_init(&b, 0);
	if (scopes != NULL && YAJL_IS_ARRAY(scopes)) {
		for (i = 0; i < scopes->u.array.len; i++) {
			yajl_val s = scopes->u.array.values[i];
			if (!YAJL_IS_STRING(s))
				continue;
			if (b.len > 0)
				ops_buf_addstr(&b, " ");
			ops_buf_addstr(&b, YAJL_GET_STRING(s));
		}
	} else if (scopes != NULL && YAJL_IS_STRING(scopes)) {
		ops_buf_addstr(&b, YAJL_GET_STRING(scopes));
	}
	t->scopes = ops_buf_steal(&b);
	exp = ops_json_str(v, "expiry");
	if (exp != NULL && ops_parse_rfc3339(exp, &t->expiry) != 0)
		t->expiry = 0;
	yajl_tree_free(v);
	if (t->refresh_token == NULL && t->token == NULL) {
		snprintf(errmsg, errlen, "%s: neither token nor refresh_token",
		    path);
		ops_token_free(t);
		return -1;
	}
	return 0;
}

int
ops_token_save(const char *path, const struct ops_token *t)
{
	struct ops_jw *w = ops_jw_new();
	char expiry[48];
	const char *text;
	size_t len;
	int rc;

	ops_jw_open(w);
	ops_jw_str(w, "token", t->token);
	ops_jw_str(w, "refresh_token", t->refresh_token);
	ops_jw_str(w, "token_uri", t->token_uri);
	ops_jw_str(w, "client_id", t->client_id);
	ops_jw_str(w, "client_secret", t->client_secret);
	ops_jw_words(w, "scopes", t->scopes);
	ops_jw_str(w, "universe_domain", "googleapis.com");
	ops_jw_str(w, "account", "");
	if (t->expiry > 0) {
		/* google-auth writes a naive isoformat() plus "Z". */
		ops_iso8601_ms(t->expiry, expiry, sizeof(expiry));
		ops_jw_str(w, "expiry", expiry);
	}
	ops_jw_close(w);
	text = ops_jw_text(w, &len);
	rc = ops_jw_failed(w) ? -1 : ops_write_atomic(path, text, len, 0600);
	ops_jw_free(w);
	return rc;
}

static void
free_secret(char **p)
{
	if (*p != NULL)
		explicit_bzero(*p, strlen(*p));
	free(*p);
	*p = NULL;
}

void
ops_token_free(struct ops_token *t)
{
	free_secret(&t->token);
	free_secret(&t->refresh_token);
	free_secret(&t->client_secret);
	free(t->token_uri);
	free(t->client_id);
	free(t->scopes);
	memset(t, 0, sizeof(*t));
}

yajl_val
ops_token_request(struct ops_http *h, const char *token_uri,
    const char *form, int *exit_code, char *errmsg, size_t errlen)
{
	struct ops_http_req req;
	struct ops_http_resp resp;
	char err[128], reason[64], gerr[300];
	yajl_val v = NULL;

	memset(&req, 0, sizeof(req));
	req.method = "POST";
	req.url = token_uri;
	req.content_type = "application/x-www-form-urlencoded";
	req.body = form;
	req.body_len = strlen(form);
	req.max_response = (size_t)1 << 20;
	if (ops_http_do(h, &req, &resp) != 0) {
		*exit_code = resp.exit_code;
		if (resp.status >= 400 && resp.status < 500) {
			/* The endpoint refused: name its OAuth error. */
			ops_google_error(resp.body.data, resp.body.len, gerr,
			    sizeof(gerr), reason, sizeof(reason), NULL);
			snprintf(errmsg, errlen, "token endpoint: %s", gerr);
			*exit_code = OPS_EX_NOPERM;
		} else {
			snprintf(errmsg, errlen, "%s", resp.errmsg);
		}
		goto out;
	}
	v = ops_json_parse(resp.body.data != NULL ? resp.body.data : "", err,
	    sizeof(err));
	if (v == NULL || ops_json_str(v, "access_token") == NULL) {
		snprintf(errmsg, errlen, "token endpoint: answer without "
		    "access_token");
		*exit_code = OPS_EX_UNAVAILABLE;
		yajl_tree_free(v);
		v = NULL;
	}
out:
	if (resp.body.data != NULL)
		explicit_bzero(resp.body.data, resp.body.len);
	ops_http_resp_free(&resp);
	return v;
}

void
ops_token_update(struct ops_token *t, yajl_val answer)
{
	const char *s;
	long long expires_in;

	s = ops_json_str(answer, "access_token");
	if (s != NULL) {
		free_secret(&t->token);
		t->token = ops_xstrdup(s);
	}
	s = ops_json_str(answer, "refresh_token");
	if (s != NULL) {
		free_secret(&t->refresh_token);
		t->refresh_token = ops_xstrdup(s);
	}
	s = ops_json_str(answer, "scope");
	if (s != NULL) {
		free(t->scopes);
		t->scopes = ops_xstrdup(s);
	}
	if (ops_json_int(answer, "expires_in", &expires_in) == 0)
		t->expiry = ops_now() + (double)expires_in;
	else
		t->expiry = ops_now() + 3600;
}
