/* gmail-api: authenticated Gmail API calls from the command line or from
 * NDJSON requests on stdin, with the suite's retries and quota pacing. */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "gmailops.h"

static void
usage(int help)
{
	fprintf(help ? stdout : stderr, "usage: gmail-api [-v] [-c file] [-o key=value] "
	    "[-X method] [-d json] [path]\n");
	exit(help ? OPS_EX_OK : OPS_EX_USAGE);
}

/* "users/me/profile" and "/gmail/v1/users/me/profile" both work. */
static char *
api_url(const char *path)
{
	if (strncmp(path, "/gmail/", 7) == 0 || strncmp(path, "/upload/", 8) == 0)
		return ops_xasprintf("%s%s", ops_gmail_base(), path);
	while (*path == '/')
		path++;
	return ops_xasprintf("%s/gmail/v1/%s", ops_gmail_base(), path);
}

/* One call; prints the answer as one compact JSON line. 0 or exit code. */
static int
call(struct ops_http *h, struct ops_jw *w, const char *method,
    const char *path, const char *body)
{
	struct ops_http_req req;
	struct ops_http_resp resp;
	char err[256], *url = api_url(path);
	yajl_val v;
	int rc = 0;

	memset(&req, 0, sizeof(req));
	req.method = method;
	req.url = url;
	req.bearer = 1;
	if (body != NULL) {
		req.body = body;
		req.body_len = strlen(body);
		req.content_type = "application/json";
	}
	if (ops_http_do(h, &req, &resp) != 0) {
		ops_warnx("%s", resp.errmsg);
		rc = resp.exit_code;
		goto out;
	}
	if (resp.body.len == 0) {	/* 204: an empty object stands for it */
		ops_jw_open(w);
		ops_jw_close(w);
	} else {
		v = ops_json_parse(resp.body.data, err, sizeof(err));
		if (v == NULL) {
			ops_warnx("%s %s: answer is not JSON: %s", method, path,
			    err);
			rc = OPS_EX_DATAERR;
			goto out;
		}
		ops_jw_value(w, v);
		yajl_tree_free(v);
	}
	if (ops_jw_emit(w, stdout) != 0)
		ops_die(OPS_EX_IOERR, "stdout: write error");
out:
	ops_http_resp_free(&resp);
	free(url);
	return rc;
}

/* NDJSON requests: {"method":"GET","path":"users/me/profile","body":{}}. */
static int
call_stdin(struct ops_http *h, struct ops_jw *w)
{
	struct ops_ndjson *r = ops_ndjson_open(stdin, NULL, 0);
	struct ops_jw *bw = ops_jw_new();
	const char *method, *path, *body;
	yajl_val v, b;
	int failed = 0, rc;
	size_t len;

	while ((rc = ops_ndjson_next(r, &v)) == 1) {
		method = ops_json_str(v, "method");
		path = ops_json_str(v, "path");
		b = ops_json_get(v, "body");
		if (path == NULL) {
			ops_warnx("line %lu: no \"path\"", ops_ndjson_lineno(r));
			failed++;
			yajl_tree_free(v);
			continue;
		}
		body = NULL;
		if (b != NULL) {
			ops_jw_value(bw, b);
			body = ops_jw_text(bw, &len);
		}
		if (call(h, w, method != NULL ? method : b != NULL ? "POST" :
		    "GET", path, body) != 0)
			failed++;
		ops_jw_reset(bw);
		yajl_tree_free(v);
	}
	if (rc < 0)
		failed++;
	failed += (int)ops_ndjson_bad(r);
	ops_jw_free(bw);
	ops_ndjson_close(r);
	return failed > 0 ? OPS_EX_PARTIAL : OPS_EX_OK;
}

int
main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		OPS_CLI_LONGOPTS,
		{ NULL, 0, NULL, 0 }
	};
	const char *method = NULL, *body = NULL;
	struct ops_cli cli = { 0 };
	int verbose = 0, ch, i, rc;
	struct ops_config *c;
	struct ops_auth *a;
	struct ops_http *h;
	struct ops_log *log;
	struct ops_jw *w;

	ops_setprogname(argv[0]);
	while ((ch = getopt_long(argc, argv, "c:d:ho:vX:", longopts, NULL)) !=
	    -1) {
		if (ops_cli_option(&cli, ch, optarg))
			continue;
		switch (ch) {
		case 'd':
			body = optarg;
			break;
		case 'v':
			verbose = 1;
			break;
		case 'X':
			method = optarg;
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
	if (argc > 1 || (argc == 0 && (method != NULL || body != NULL)))
		usage(0);

	c = ops_cli_config(&cli);
	log = ops_log_env(c);
	a = ops_auth_new(c);
	h = ops_http_new(c, a);
	w = ops_jw_new();
	if (argc == 1)
		rc = call(h, w, method != NULL ? method : body != NULL ? "POST" :
		    "GET", argv[0], body);
	else
		rc = call_stdin(h, w);
	if (verbose)
		ops_warnx("%ld calls, %ld quota units",
		    ops_quota_calls(ops_http_quota(h)),
		    ops_quota_total_units(ops_http_quota(h)));
	ops_jw_free(w);
	ops_http_free(h);
	ops_auth_free(a);
	ops_log_close(log);
	ops_config_free(c);
	i = ops_close_stdout();
	return rc != 0 ? rc : i;
}
