/* login.c: OAuth's installed-app flow for loopback redirects: PKCE S256,
 * an unguessable state, and a one-shot listener on 127.0.0.1. */
#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/sha.h>

#include "gmailops.h"

int
ops_login_init(struct ops_login *l, int listen_now)
{
	unsigned char digest[SHA256_DIGEST_LENGTH];
	struct sockaddr_in sin;
	socklen_t slen = sizeof(sin);
	char *s;
	int fd;

	memset(l, 0, sizeof(*l));
	l->fd = -1;
	s = ops_random_token(48);		/* 64 unreserved characters */
	snprintf(l->verifier, sizeof(l->verifier), "%s", s);
	free(s);
	SHA256((const unsigned char *)l->verifier, strlen(l->verifier), digest);
	s = ops_b64url_encode(digest, sizeof(digest));
	snprintf(l->challenge, sizeof(l->challenge), "%s", s);
	free(s);
	s = ops_random_token(24);
	snprintf(l->state, sizeof(l->state), "%s", s);
	free(s);

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = 0;
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) != 0 ||
	    getsockname(fd, (struct sockaddr *)&sin, &slen) != 0 ||
	    (listen_now && listen(fd, 8) != 0)) {
		int saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	snprintf(l->redirect_uri, sizeof(l->redirect_uri),
	    "http://127.0.0.1:%u/", (unsigned)ntohs(sin.sin_port));
	if (listen_now)
		l->fd = fd;
	else
		close(fd);
	return 0;
}

void
ops_login_close(struct ops_login *l)
{
	if (l->fd >= 0)
		close(l->fd);
	l->fd = -1;
	explicit_bzero(l->verifier, sizeof(l->verifier));
}

char *
ops_login_url(const struct ops_login *l, const struct ops_client *cl,
    const char *scopes)
{
	char *id = ops_urlencode(cl->client_id), *ru =
	    ops_urlencode(l->redirect_uri), *sc = ops_urlencode(scopes), *url;

	url = ops_xasprintf("%s%sresponse_type=code&client_id=%s&"
	    "redirect_uri=%s&scope=%s&state=%s&code_challenge=%s&"
	    "code_challenge_method=S256&access_type=offline&prompt=consent",
	    cl->auth_uri, strchr(cl->auth_uri, '?') != NULL ? "&" : "?", id,
	    ru, sc, l->state, l->challenge);
	free(id);
	free(ru);
	free(sc);
	return url;
}

char *
ops_query_param(const char *query, const char *name)
{
	size_t nlen = strlen(name);
	const char *p = query, *end;
	char *out, *w;

	while (p != NULL && *p != '\0') {
		end = p + strcspn(p, "&# \r\n");
		if ((size_t)(end - p) > nlen && strncmp(p, name, nlen) == 0 &&
		    p[nlen] == '=') {
			p += nlen + 1;
			out = w = ops_xmalloc((size_t)(end - p) + 1);
			for (; p < end; p++) {
				if (*p == '%' && p + 2 < end &&
				    ops_hexval(p[1]) >= 0 && ops_hexval(p[2]) >= 0) {
					*w++ = (char)(ops_hexval(p[1]) << 4 |
					    ops_hexval(p[2]));
					p += 2;
				} else {
					*w++ = *p == '+' ? ' ' : *p;
				}
			}
			*w = '\0';
			return out;
		}
		if (*end != '&')
			break;
		p = end + 1;
	}
	return NULL;
}

int
ops_login_parse(const struct ops_login *l, const char *url, char **code,
    char *errmsg, size_t errlen)
{
	const char *q = strchr(url, '?');
	char *state, *err;
	int rc = -1;

	q = q != NULL ? q + 1 : url;
	*code = NULL;
	err = ops_query_param(q, "error");
	if (err != NULL) {
		snprintf(errmsg, errlen, "authorisation refused: %s", err);
		free(err);
		return -1;
	}
	state = ops_query_param(q, "state");
	if (state == NULL || strcmp(state, l->state) != 0) {
		snprintf(errmsg, errlen, "state mismatch: the redirect does "
		    "not belong to this login (refused)");
		goto out;
	}
	*code = ops_query_param(q, "code");
	if (*code == NULL || **code == '\0') {
		free(*code);
		*code = NULL;
		snprintf(errmsg, errlen, "no authorisation code in the "
		    "redirect");
		goto out;
	}
	rc = 0;
out:
	free(state);
	return rc;
}

static void
reply(int fd, const char *status, const char *text)
{
	char *msg = ops_xasprintf("HTTP/1.1 %s\r\nContent-Type: text/html; "
	    "charset=utf-8\r\nCache-Control: no-store\r\nConnection: close\r\n"
	    "Content-Length: %zu\r\n\r\n%s", status, strlen(text), text);
	ssize_t n = write(fd, msg, strlen(msg));

	(void)n;
	free(msg);
}

/* Reads the request head from one connection (bounded), into buf. */
static int
read_head(int fd, char *buf, size_t size, int timeout_ms)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	size_t len = 0;
	ssize_t n;

	while (len + 1 < size) {
		if (poll(&pfd, 1, timeout_ms) <= 0)
			return -1;
		n = read(fd, buf + len, size - 1 - len);
		if (n <= 0)
			return -1;
		len += (size_t)n;
		buf[len] = '\0';
		if (strstr(buf, "\r\n") != NULL)
			return 0;	/* the request line is all we need */
	}
	return -1;
}

int
ops_login_wait(struct ops_login *l, int timeout_sec, char **code,
    char *errmsg, size_t errlen)
{
	double deadline = ops_monotonic() + timeout_sec;
	struct pollfd pfd = { .fd = l->fd, .events = POLLIN };
	char head[8192];
	int c, rc;

	*code = NULL;
	for (;;) {
		int left = (int)((deadline - ops_monotonic()) * 1000);
		if (left <= 0) {
			snprintf(errmsg, errlen, "no answer from the browser "
			    "within %d s", timeout_sec);
			return -1;
		}
		if (poll(&pfd, 1, left) <= 0)
			continue;
		c = accept4(l->fd, NULL, NULL, SOCK_CLOEXEC);
		if (c < 0)
			continue;
		if (read_head(c, head, sizeof(head), 5000) != 0 ||
		    strncmp(head, "GET ", 4) != 0) {
			reply(c, "400 Bad Request", "Bad request.\n");
			close(c);
			continue;
		}
		head[4 + strcspn(head + 4, " \r\n")] = '\0';	/* target */
		if (strstr(head, "code=") == NULL &&
		    strstr(head, "error=") == NULL) {
			reply(c, "404 Not Found", "Not found.\n");
			close(c);		/* a favicon, a probe: wait on */
			continue;
		}
		rc = ops_login_parse(l, head + 4, code, errmsg, errlen);
		reply(c, rc == 0 ? "200 OK" : "400 Bad Request", rc == 0 ?
		    "<!doctype html><title>gmail-ops</title><p>gmail-ops is "
		    "authorised. You may close this window.</p>\n" :
		    "<!doctype html><title>gmail-ops</title><p>Authorisation "
		    "failed; see the terminal.</p>\n");
		close(c);
		return rc;
	}
}

char *
ops_login_form(const struct ops_login *l, const struct ops_client *cl,
    const char *code)
{
	char *c = ops_urlencode(code), *id = ops_urlencode(cl->client_id),
	    *sec = ops_urlencode(cl->client_secret != NULL ?
	    cl->client_secret : ""), *ru = ops_urlencode(l->redirect_uri),
	    *form;

	form = ops_xasprintf("grant_type=authorization_code&code=%s&"
	    "client_id=%s&client_secret=%s&redirect_uri=%s&code_verifier=%s",
	    c, id, sec, ru, l->verifier);
	explicit_bzero(sec, strlen(sec));
	free(c);
	free(id);
	free(sec);
	free(ru);
	return form;
}
