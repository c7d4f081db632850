/* gmail-auth: log in, print a valid access token, show status, revoke. */
#include <sys/stat.h>

#include <errno.h>
#include <getopt.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "gmailops.h"

extern char **environ;

static void
usage(int help)
{
	fprintf(help ? stdout : stderr,
	    "usage: gmail-auth [-c file] [-o key=value] login [--browser | "
	    "--no-listen]\n"
	    "                  [--client-secret file] [--scopes list] "
	    "[--timeout seconds]\n"
	    "       gmail-auth [-c file] [-o key=value] [--service-account "
	    "key.json |\n"
	    "                  --impersonate sa-email] [--subject user] "
	    "[--scopes list] token | status\n"
	    "       gmail-auth [-c file] [-o key=value] revoke\n");
	exit(help ? OPS_EX_OK : OPS_EX_USAGE);
}

struct opts {
	int		 browser;
	int		 no_listen;
	const char	*client_secret;
	int		 timeout;
};

/* Opens the URL with $BROWSER or xdg-open; failing that, the user
 * still has the URL on the terminal. */
static void
open_browser(const char *url)
{
	const char *b = getenv("BROWSER");
	char *argv[3];
	pid_t pid;

	argv[0] = (char *)(b != NULL && *b != '\0' ? b : "xdg-open");
	argv[1] = (char *)url;
	argv[2] = NULL;
	if (posix_spawnp(&pid, argv[0], NULL, NULL, argv, environ) != 0)
		ops_warnx("could not start %s; open the URL yourself", argv[0]);
}

static char *
read_pasted_url(void)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;

	n = getline(&line, &cap, stdin);
	if (n <= 0) {
		free(line);
		return NULL;
	}
	line[strcspn(line, "\r\n")] = '\0';
	return line;
}

static void
print_token_json(const struct ops_config *c, const struct ops_token *t,
    const char *account)
{
	struct ops_jw *w = ops_jw_new();
	char exp[48];

	ops_jw_open(w);
	if (account != NULL)
		ops_jw_str(w, "account", account);
	ops_jw_str(w, "token_path", ops_token_path(c));
	ops_jw_words(w, "scopes", t->scopes);
	ops_iso8601((time_t)t->expiry, exp, sizeof(exp));
	ops_jw_str(w, "expiry", exp);
	ops_jw_close(w);
	if (ops_jw_emit(w, stdout) != 0)
		ops_die(OPS_EX_IOERR, "stdout: write error");
	ops_jw_free(w);
}

static int
cmd_login(struct ops_config *c, struct ops_http *h, const struct opts *o)
{
	struct ops_client cl;
	struct ops_login l;
	struct ops_token t;
	char err[512], *url, *code = NULL, *form, *pasted, *scopes, *dir;
	const char *secret = o->client_secret != NULL ? o->client_secret :
	    ops_client_secret_path(c);
	yajl_val v;
	int xc = OPS_EX_NOPERM;

	if (ops_client_load(secret, &cl, err, sizeof(err)) != 0)
		ops_die(OPS_EX_CONFIG, "%s", err);
	dir = ops_dirname(ops_token_path(c));
	if (ops_mkdirs(dir, 0700) != 0)
		ops_dief(OPS_EX_IOERR, "%s", dir);
	free(dir);
	if (ops_login_init(&l, !o->no_listen) != 0)
		ops_dief(OPS_EX_IOERR, "loopback listener");
	scopes = ops_config_scopes(c);
	url = ops_login_url(&l, &cl, scopes);
	fprintf(stderr, "Open this URL in a browser and grant access:\n\n"
	    "%s\n\n", url);
	if (o->no_listen) {
		fprintf(stderr, "The browser then fails to load a page on "
		    "127.0.0.1; copy that page's whole\naddress (URL) from the "
		    "address bar and paste it here:\n");
		pasted = read_pasted_url();
		if (pasted == NULL)
			ops_die(OPS_EX_DATAERR, "no URL pasted");
		if (ops_login_parse(&l, pasted, &code, err, sizeof(err)) != 0)
			ops_die(OPS_EX_NOPERM, "%s", err);
		free(pasted);
	} else {
		if (o->browser)
			open_browser(url);
		fprintf(stderr, "Waiting for the browser on %s ...\n",
		    l.redirect_uri);
		if (ops_login_wait(&l, o->timeout, &code, err, sizeof(err)) != 0)
			ops_die(OPS_EX_NOPERM, "%s", err);
	}
	free(url);
	form = ops_login_form(&l, &cl, code);
	v = ops_token_request(h, cl.token_uri, form, &xc, err, sizeof(err));
	explicit_bzero(form, strlen(form));
	free(form);
	free(code);
	ops_login_close(&l);
	if (v == NULL)
		ops_die(xc, "%s", err);
	memset(&t, 0, sizeof(t));
	t.token_uri = ops_xstrdup(cl.token_uri);
	t.client_id = ops_xstrdup(cl.client_id);
	if (cl.client_secret != NULL)
		t.client_secret = ops_xstrdup(cl.client_secret);
	t.scopes = scopes;
	ops_token_update(&t, v);
	yajl_tree_free(v);
	if (t.refresh_token == NULL)
		ops_warnx("no refresh token granted: the access token will "
		    "not be renewed");
	if (ops_token_save(ops_token_path(c), &t) != 0)
		ops_dief(OPS_EX_IOERR, "%s", ops_token_path(c));
	fprintf(stderr, "%s: token saved to %s\n", ops_progname,
	    ops_token_path(c));
	print_token_json(c, &t, NULL);
	ops_token_free(&t);
	ops_client_free(&cl);
	return OPS_EX_OK;
}

static int
cmd_token(struct ops_auth *a)
{
	char err[512];
	const char *tok;
	int code;

	tok = ops_auth_token(a, 0, &code, err, sizeof(err));
	if (tok == NULL)
		ops_die(code, "%s", err);
	printf("%s\n", tok);
	return OPS_EX_OK;
}

static int
cmd_status(struct ops_config *c, struct ops_auth *a, struct ops_http *h)
{
	static const char *modes[] = { "user", "service_account", "keyless" };
	struct ops_http_req req;
	struct ops_http_resp resp;
	struct ops_jw *w;
	struct ops_token t;
	char err[512], exp[48], *url;
	const char *tok;
	yajl_val v;
	int code;

	tok = ops_auth_token(a, 0, &code, err, sizeof(err));
	if (tok == NULL)
		ops_die(code, "%s", err);
	url = ops_xasprintf("%s/gmail/v1/users/me/profile", ops_gmail_base());
	memset(&req, 0, sizeof(req));
	req.method = "GET";
	req.url = url;
	req.bearer = 1;
	if (ops_http_do(h, &req, &resp) != 0)
		ops_die(resp.exit_code, "%s", resp.errmsg);
	v = ops_json_parse(resp.body.data, err, sizeof(err));
	w = ops_jw_new();
	ops_jw_open(w);
	ops_jw_str(w, "auth", modes[ops_auth_mode(a)]);
	ops_jw_str(w, "account", ops_json_str(v, "emailAddress"));
	ops_jw_words(w, "scopes", ops_auth_scopes(a));
	ops_iso8601((time_t)ops_auth_expiry(a), exp, sizeof(exp));
	ops_jw_str(w, "expiry", exp);
	ops_jw_int(w, "expires_in", (long long)(ops_auth_expiry(a) - ops_now()));
	if (ops_auth_mode(a) == OPS_AUTH_USER) {
		ops_jw_str(w, "token_path", ops_token_path(c));
		if (ops_token_load(ops_token_path(c), &t, err, sizeof(err)) == 0) {
			ops_jw_bool(w, "refresh_token", t.refresh_token != NULL);
			ops_token_free(&t);
		}
	}
	ops_jw_close(w);
	if (ops_jw_emit(w, stdout) != 0)
		ops_die(OPS_EX_IOERR, "stdout: write error");
	ops_jw_free(w);
	yajl_tree_free(v);
	ops_http_resp_free(&resp);
	free(url);
	return OPS_EX_OK;
}

static int
cmd_revoke(struct ops_config *c, struct ops_http *h)
{
	const char *url = getenv("GOOGLE_OAUTH_REVOKE_URL");
	struct ops_http_req req;
	struct ops_http_resp resp;
	struct ops_token t;
	char err[512], *enc, *form;
	int rc;

	if (url == NULL || *url == '\0')
		url = "https://oauth2.googleapis.com/revoke";
	if (ops_token_load(ops_token_path(c), &t, err, sizeof(err)) != 0)
		ops_die(OPS_EX_NOPERM, "%s", err);
	/* Revoking the refresh token ends the whole grant. */
	enc = ops_urlencode(t.refresh_token != NULL ? t.refresh_token :
	    t.token);
	form = ops_xasprintf("token=%s", enc);
	explicit_bzero(enc, strlen(enc));
	free(enc);
	memset(&req, 0, sizeof(req));
	req.method = "POST";
	req.url = url;
	req.content_type = "application/x-www-form-urlencoded";
	req.body = form;
	req.body_len = strlen(form);
	rc = ops_http_do(h, &req, &resp);
	explicit_bzero(form, strlen(form));
	free(form);
	ops_token_free(&t);
	if (rc != 0 && resp.status != 400) {
		ops_http_resp_free(&resp);
		ops_die(resp.exit_code, "%s", resp.errmsg);
	}
	if (rc != 0)	/* 400: Google no longer knows it; already revoked */
		ops_warnx("token was already invalid: %s", resp.errmsg);
	ops_http_resp_free(&resp);
	if (unlink(ops_token_path(c)) != 0)
		ops_dief(OPS_EX_IOERR, "%s", ops_token_path(c));
	fprintf(stderr, "%s: access revoked, %s removed\n", ops_progname,
	    ops_token_path(c));
	return OPS_EX_OK;
}

int
main(int argc, char *argv[])
{
	enum { O_BROWSER = 256, O_NOLISTEN, O_SECRET, O_SCOPES, O_SA, O_IMP,
	    O_SUBJECT, O_TIMEOUT };
	static const struct option longopts[] = {
		{ "browser", no_argument, NULL, O_BROWSER },
		{ "no-listen", no_argument, NULL, O_NOLISTEN },
		{ "client-secret", required_argument, NULL, O_SECRET },
		{ "scopes", required_argument, NULL, O_SCOPES },
		{ "service-account", required_argument, NULL, O_SA },
		{ "impersonate", required_argument, NULL, O_IMP },
		{ "subject", required_argument, NULL, O_SUBJECT },
		{ "timeout", required_argument, NULL, O_TIMEOUT },
		OPS_CLI_LONGOPTS,
		{ NULL, 0, NULL, 0 }
	};
	struct opts o = { .timeout = 300 };
	struct ops_cli cli = { 0 };
	const char *cmd;
	struct ops_config *c;
	struct ops_auth *a;
	struct ops_http *h;
	char *end;
	int ch, rc;

	ops_setprogname(argv[0]);
	while ((ch = getopt_long(argc, argv, "c:ho:", longopts, NULL)) != -1) {
		if (ops_cli_option(&cli, ch, optarg))
			continue;
		switch (ch) {
		case O_BROWSER:
			o.browser = 1;
			break;
		case O_NOLISTEN:
			o.no_listen = 1;
			break;
		case O_SECRET:
			o.client_secret = optarg;
			break;
		case O_SCOPES:
			ops_cli_flag(&cli, "SCOPES", optarg);
			break;
		case O_SA:
			ops_cli_flag(&cli, "GOOGLE_APPLICATION_CREDENTIALS", optarg);
			break;
		case O_IMP:
			ops_cli_flag(&cli, "GOOGLE_SERVICE_ACCOUNT_EMAIL", optarg);
			break;
		case O_SUBJECT:
			ops_cli_flag(&cli, "GMAIL_USER", optarg);
			break;
		case O_TIMEOUT:
			o.timeout = (int)strtol(optarg, &end, 10);
			if (*end != '\0' || o.timeout <= 0)
				ops_die(OPS_EX_USAGE, "--timeout: not a number "
				    "of seconds: %s", optarg);
			break;
		case 'h':
			usage(1);
			break;
		default:
			usage(0);
		}
	}
	argc -= optind;
	argv += optind;
	if (argc != 1)
		usage(0);
	cmd = argv[0];
	if (o.browser && o.no_listen)
		ops_die(OPS_EX_USAGE, "--browser and --no-listen exclude each "
		    "other");

	c = ops_cli_config(&cli);
	a = ops_auth_new(c);
	h = ops_http_new(c, a);
	if (strcmp(cmd, "login") == 0)
		rc = cmd_login(c, h, &o);
	else if (strcmp(cmd, "token") == 0)
		rc = cmd_token(a);
	else if (strcmp(cmd, "status") == 0)
		rc = cmd_status(c, a, h);
	else if (strcmp(cmd, "revoke") == 0)
		rc = cmd_revoke(c, h);
	else
		usage(0);
	ops_http_free(h);
	ops_auth_free(a);
	ops_config_free(c);
	if (ops_close_stdout() != 0 && rc == OPS_EX_OK)
		rc = OPS_EX_IOERR;
	return rc;
}
