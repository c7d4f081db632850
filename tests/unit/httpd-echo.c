/* httpd-echo: a server on lib/httpd.c for its tests: what ops-httpd will
 * need beyond the pixel (uploads under a cap, query arguments, headers,
 * the peer) and a handler that forgets to answer.
 * usage: httpd-echo [-b max_body] [-t threads] addr:port */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "gmailops.h"

static int
echo(struct ops_httpd_req *req, void *arg)
{
	char peer[64];
	const char *v;

	(void)arg;
	if (strcmp(req->path, "/echo") == 0 && strcmp(req->method, "POST") == 0)
		return ops_httpd_reply(req, 200, "application/octet-stream",
		    req->body, req->body_len, 0, NULL);
	if (strcmp(req->path, "/query") == 0) {
		v = ops_httpd_query(req, "x");
		return v != NULL ? ops_httpd_reply(req, 200, "text/plain", v,
		    strlen(v), 0, NULL) : ops_httpd_error(req, 400);
	}
	if (strcmp(req->path, "/header") == 0) {
		v = ops_httpd_header(req, "x-test");
		return v != NULL ? ops_httpd_reply(req, 200, "text/plain", v,
		    strlen(v), 0, NULL) : ops_httpd_error(req, 400);
	}
	if (strcmp(req->path, "/peer") == 0) {
		ops_httpd_peer(req, peer, sizeof(peer));
		return ops_httpd_reply(req, 200, "text/plain", peer,
		    strlen(peer), 0, NULL);
	}
	if (strcmp(req->path, "/path") == 0 || strncmp(req->path, "/path/",
	    6) == 0)
		return ops_httpd_reply(req, 200, "text/plain", req->path,
		    strlen(req->path), 0, NULL);
	if (strcmp(req->path, "/forget") == 0)
		return 0;		/* no answer: the wrapper's 500 */
	return ops_httpd_error(req, 404);
}

int
main(int argc, char *argv[])
{
	struct ops_httpd_opts o;
	struct ops_httpd *h;
	char err[512], *end;
	int ch, code;

	ops_setprogname(argv[0]);
	memset(&o, 0, sizeof(o));
	while ((ch = getopt(argc, argv, "b:t:")) != -1) {
		switch (ch) {
		case 'b':
			o.max_body = strtoul(optarg, &end, 10);
			break;
		case 't':
			o.threads = (unsigned int)strtoul(optarg, &end, 10);
			break;
		default:
			ops_die(OPS_EX_USAGE, "usage: httpd-echo [-b max_body] "
			    "[-t threads] addr:port");
		}
	}
	if (optind != argc - 1)
		ops_die(OPS_EX_USAGE, "usage: httpd-echo [-b max_body] "
		    "[-t threads] addr:port");
	o.listen = argv[optind];
	o.handler = echo;
	h = ops_httpd_start(&o, &code, err, sizeof(err));
	if (h == NULL)
		ops_die(code, "%s", err);
	printf("{\"address\":\"%s\"}\n", ops_httpd_address(h));
	fflush(stdout);
	printf("{\"signal\":%d}\n", ops_httpd_wait());
	ops_httpd_stop(h);
	return ops_close_stdout();
}
