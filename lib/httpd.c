/* httpd.c: the suite's HTTP servers on libmicrohttpd: the listening
 * address of -l ADDR:PORT, a pool of threads each polling its share of
 * the connections, one handler per request with the upload in a capped
 * buffer, plain responses, and a stop on SIGTERM or SIGINT. Whatever a
 * server shows the world is what its handler says: no directory, no
 * Server header, no version. */
#include <sys/socket.h>
#include <sys/types.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <microhttpd.h>

#include "gmailops.h"

#define DEFAULT_TIMEOUT	30		/* idle seconds of a connection */
#define DEFAULT_CONNS	512
#define MAX_THREADS	16
#define CONN_MEMORY	((size_t)32 << 10)	/* request line and headers */
#define LISTEN_BACKLOG	512
#define LOG_EVERY	10.0	/* seconds between two daemon messages */

struct ops_httpd {
	struct MHD_Daemon	*daemon;
	int			 fd;
	char			 address[INET6_ADDRSTRLEN + 8];
	struct ops_httpd_opts	 o;
};

/* What one request has gathered between the daemon's calls. */
struct pending {
	struct ops_buf	 body;
	int		 too_big;
};

static pthread_mutex_t diag_lock = PTHREAD_MUTEX_INITIALIZER;


void
ops_httpd_warnx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	pthread_mutex_lock(&diag_lock);
	ops_vwarnx(fmt, ap);
	pthread_mutex_unlock(&diag_lock);
	va_end(ap);
}

/* libmicrohttpd's own complaints: mostly about clients (a header too
 * big, a connection reset), so at most one a LOG_EVERY seconds, with the
 * number held back; one line each, through the same lock. */
static void
mhd_log(void *cls, const char *fmt, va_list ap)
{
	static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	static double said_at;
	static unsigned long held;
	unsigned long n = 0;
	double now = ops_monotonic();
	char msg[1024];
	size_t len;
	int say = 0;

	(void)cls;
	pthread_mutex_lock(&lock);
	if (said_at == 0 || now - said_at >= LOG_EVERY) {
		say = 1;
		n = held;
		held = 0;
		said_at = now;
	} else {
		held++;
	}
	pthread_mutex_unlock(&lock);
	if (!say)
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	len = strlen(msg);
	while (len > 0 && (msg[len - 1] == '\n' || msg[len - 1] == '\r'))
		msg[--len] = '\0';
	if (n > 0)
		ops_httpd_warnx("httpd: %s (and %lu more messages)", msg, n);
	else
		ops_httpd_warnx("httpd: %s", msg);
}

/* ---------------------------------------------------------------- address */

int
ops_httpd_parse_listen(const char *s, char **host, char **port, char *why,
    size_t whylen)
{
	const char *colon, *h, *p;
	size_t hlen, i;
	long n;
	char *end;

	*host = *port = NULL;
	if (s[0] == '[') {
		colon = strchr(s, ']');
		if (colon == NULL || colon[1] != ':')
			return ops_errf(why, whylen, "%s: not [ADDR]:PORT", s);
		h = s + 1;
		hlen = (size_t)(colon - h);
		p = colon + 2;
		if (hlen == 0)
			return ops_errf(why, whylen, "%s: no address in []", s);
	} else {
		colon = strrchr(s, ':');
		if (colon == NULL)
			return ops_errf(why, whylen, "%s: not ADDR:PORT", s);
		if (memchr(s, ':', (size_t)(colon - s)) != NULL)
			return ops_errf(why, whylen, "%s: an IPv6 address goes in "
			    "brackets: [ADDR]:PORT", s);
		h = s;
		hlen = (size_t)(colon - s);
		p = colon + 1;
	}
	if (hlen > 255)
		return ops_errf(why, whylen, "%.40s...: address too long", s);
	for (i = 0; i < hlen; i++)
		if (h[i] <= ' ' || h[i] >= 0x7f || h[i] == '/')
			return ops_errf(why, whylen, "%s: bad character in the "
			    "address", s);
	errno = 0;
	n = strtol(p, &end, 10);
	if (*p < '0' || *p > '9' || *end != '\0' || errno != 0 || n < 0 ||
	    n > 65535)
		return ops_errf(why, whylen, "%s: the port must be a number from 0 "
		    "to 65535", s);
	if (hlen > 0 && !(hlen == 1 && h[0] == '*'))
		*host = ops_xasprintf("%.*s", (int)hlen, h);
	*port = ops_xasprintf("%ld", n);
	return 0;
}

static void
format_address(const struct sockaddr *sa, char *out, size_t outlen)
{
	char host[INET6_ADDRSTRLEN];
	unsigned int port = 0;

	*out = '\0';
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)sa;
		inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
		port = ntohs(in->sin_port);
		snprintf(out, outlen, "%s:%u", host, port);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)sa;
		inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
		port = ntohs(in6->sin6_port);
		snprintf(out, outlen, "[%s]:%u", host, port);
	}
}

/* The listening socket, made here rather than by the daemon so that a
 * failure has its errno and an exit status of the suite's table. */
static int
listen_on(const char *spec, char *address, size_t addrlen, int *code,
    char *errmsg, size_t errlen)
{
	struct addrinfo hints, *res = NULL, *ai;
	struct sockaddr_storage ss;
	socklen_t sslen = sizeof(ss);
	char *host, *port, why[256];
	int fd = -1, rc, err = 0, one = 1;

	*code = OPS_EX_USAGE;
	if (ops_httpd_parse_listen(spec, &host, &port, why, sizeof(why)) != 0)
		return ops_errf(errmsg, errlen, "%s", why);
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV | AI_ADDRCONFIG;
	rc = getaddrinfo(host, port, &hints, &res);
	if (rc == EAI_ADDRFAMILY || rc == EAI_NONAME || rc == EAI_NODATA) {
		hints.ai_flags &= ~AI_ADDRCONFIG;	/* loopback only */
		rc = getaddrinfo(host, port, &hints, &res);
	}
	if (rc != 0) {
		*code = OPS_EX_CONFIG;
		ops_errf(errmsg, errlen, "listen %s: %s", spec, gai_strerror(rc));
		goto out;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC |
		    SOCK_NONBLOCK, ai->ai_protocol);
		if (fd < 0) {
			err = errno;
			continue;
		}
		(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one,
		    sizeof(one));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
		    listen(fd, LISTEN_BACKLOG) == 0)
			break;
		err = errno;
		close(fd);
		fd = -1;
	}
	if (fd < 0) {
		*code = err == EADDRINUSE ? OPS_EX_UNAVAILABLE : OPS_EX_CONFIG;
		ops_errf(errmsg, errlen, "listen %s: %s", spec, strerror(err));
		goto out;
	}
	if (getsockname(fd, (struct sockaddr *)&ss, &sslen) == 0)
		format_address((struct sockaddr *)&ss, address, addrlen);
	else
		snprintf(address, addrlen, "%s", spec);
out:
	if (res != NULL)
		freeaddrinfo(res);
	free(host);
	free(port);
	return fd;
}

/* ---------------------------------------------------------------- requests */

/* %HH decoding, but %00 stays as it is: no NUL inside a path or value can
 * end a string early for the handler. */
static size_t
unescape(void *cls, struct MHD_Connection *c, char *s)
{
	char *r = s, *w = s;
	int hi, lo;

	(void)cls;
	(void)c;
	while (*r != '\0') {
		if (r[0] == '%' && r[1] != '\0' && r[2] != '\0') {
			hi = ops_hexval(r[1]);
			lo = ops_hexval(r[2]);
			if (hi >= 0 && lo >= 0 && (hi | lo) != 0) {
				*w++ = (char)(hi << 4 | lo);
				r += 3;
				continue;
			}
		}
		*w++ = *r++;
	}
	*w = '\0';
	return (size_t)(w - s);
}

/* The state of a request without a body, and of one answered on its
 * first call. */
static struct pending no_body, answered_early;

static void
request_done(void *cls, struct MHD_Connection *c, void **con_cls,
    enum MHD_RequestTerminationCode why)
{
	struct pending *p = *con_cls;

	(void)cls;
	(void)c;
	(void)why;
	if (p == NULL || p == &no_body || p == &answered_early)
		return;
	ops_buf_free(&p->body);
	free(p);
	*con_cls = NULL;
}

/* Calls the handler; makes sure there is one answer. */
static enum MHD_Result
handle(struct ops_httpd *h, struct ops_httpd_req *req)
{
	int rc = h->o.handler(req, h->o.arg);

	if (!req->answered && rc != 0)
		return MHD_NO;
	if (!req->answered)
		return ops_httpd_error(req, 500) == 0 ? MHD_YES : MHD_NO;
	return MHD_YES;
}

/* The daemon calls this with the headers, then with each piece of the
 * upload, then once more with none. An answer can be queued on the first
 * call or the last; on the first, the daemon closes the connection after
 * it (it will not read past an unread body). So a request without a body
 * is answered on the last call and its connection kept; an upload to a
 * server that takes none, or over the cap by its Content-Length, is
 * answered at once; a chunked one over the cap is read to its end and
 * dropped, then refused. */
static enum MHD_Result
dispatch(void *cls, struct MHD_Connection *c, const char *url,
    const char *method, const char *version, const char *upload,
    size_t *upload_size, void **con_cls)
{
	struct ops_httpd *h = cls;
	struct pending *p = *con_cls;
	struct ops_httpd_req req;
	const char *cl, *te;
	unsigned long long len = 0;
	char *end;

	(void)version;
	memset(&req, 0, sizeof(req));
	req.method = method;
	req.path = url;
	req.conn = c;
	if (p == &answered_early || (p == &no_body && *upload_size > 0)) {
		*upload_size = 0;	/* the rest of an unwanted upload */
		return MHD_YES;
	}
	if (p == &no_body)
		return handle(h, &req);
	if (p == NULL) {
		cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
		    MHD_HTTP_HEADER_CONTENT_LENGTH);
		te = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
		    MHD_HTTP_HEADER_TRANSFER_ENCODING);
		if (cl != NULL) {
			errno = 0;
			len = strtoull(cl, &end, 10);
			if (*end != '\0' || errno != 0)
				len = ULLONG_MAX;
		}
		if (len == 0 && te == NULL) {
			*con_cls = &no_body;
			return MHD_YES;
		}
		if (h->o.max_body == 0) {
			*con_cls = &answered_early;
			return handle(h, &req);
		}
		if (len > h->o.max_body) {
			*con_cls = &answered_early;
			return ops_httpd_error(&req, 413) == 0 ? MHD_YES : MHD_NO;
		}
		p = ops_xmalloc(sizeof(*p));
		ops_buf_init(&p->body, h->o.max_body);
		p->too_big = 0;
		*con_cls = p;
		return MHD_YES;
	}
	if (*upload_size > 0) {
		if (!p->too_big && ops_buf_add(&p->body, upload,
		    *upload_size) != 0) {
			p->too_big = 1;
			ops_buf_free(&p->body);
		}
		*upload_size = 0;
		return MHD_YES;
	}
	if (p->too_big)
		return ops_httpd_error(&req, 413) == 0 ? MHD_YES : MHD_NO;
	req.body = p->body.data != NULL ? p->body.data : "";
	req.body_len = p->body.len;
	return handle(h, &req);
}

const char *
ops_httpd_header(const struct ops_httpd_req *r, const char *name)
{
	return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

const char *
ops_httpd_query(const struct ops_httpd_req *r, const char *name)
{
	return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND,
	    name);
}

void
ops_httpd_peer(const struct ops_httpd_req *r, char *out, size_t outlen)
{
	const union MHD_ConnectionInfo *ci;
	const struct sockaddr *sa;
	char host[INET6_ADDRSTRLEN];

	*out = '\0';
	ci = MHD_get_connection_info(r->conn,
	    MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (ci == NULL || ci->client_addr == NULL)
		return;
	sa = ci->client_addr;
	if (sa->sa_family == AF_INET &&
	    inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)
	    sa)->sin_addr, host, sizeof(host)) != NULL)
		snprintf(out, outlen, "%s", host);
	else if (sa->sa_family == AF_INET6 &&
	    inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)
	    sa)->sin6_addr, host, sizeof(host)) != NULL)
		snprintf(out, outlen, "%s", host);
}

char *
ops_httpd_form(const char *body, size_t len, const char *name)
{
	const char *p = body, *end = body + len, *amp, *eq;
	size_t nlen = strlen(name);
	struct ops_buf v;
	int hi, lo;

	for (; p < end; p = amp + 1) {
		amp = memchr(p, '&', (size_t)(end - p));
		if (amp == NULL)
			amp = end;
		eq = memchr(p, '=', (size_t)(amp - p));
		if (eq == NULL || (size_t)(eq - p) != nlen ||
		    memcmp(p, name, nlen) != 0)
			continue;
		ops_buf_init(&v, 0);
		ops_buf_add(&v, "", 0);
		for (p = eq + 1; p < amp; p++) {
			char ch = *p;
			if (ch == '+') {
				ch = ' ';
			} else if (ch == '%' && amp - p >= 3 &&
			    (hi = ops_hexval(p[1])) >= 0 &&
			    (lo = ops_hexval(p[2])) >= 0) {
				ch = (char)(hi << 4 | lo);
				p += 2;
			}
			if (ch == '\0') {
				ops_buf_free(&v);
				return NULL;
			}
			ops_buf_add(&v, &ch, 1);
		}
		return ops_buf_steal(&v);
	}
	return NULL;
}

void
ops_html_esc(struct ops_buf *b, const char *s)
{
	size_t n;

	for (; *s != '\0'; s += n) {
		n = strcspn(s, "&<>\"'");
		ops_buf_add(b, s, n);
		switch (s[n]) {
		case '&': ops_buf_addstr(b, "&amp;"); break;
		case '<': ops_buf_addstr(b, "&lt;"); break;
		case '>': ops_buf_addstr(b, "&gt;"); break;
		case '"': ops_buf_addstr(b, "&quot;"); break;
		case '\'': ops_buf_addstr(b, "&#39;"); break;
		default: return;
		}
		n++;
	}
}

/* ---------------------------------------------------------------- answers */

/* Adds the headers to resp, queues it, and lets go of it. 0 or -1. */
static int
queue(struct ops_httpd_req *r, unsigned int status, const char *content_type,
    struct MHD_Response *resp, const char *const *headers)
{
	enum MHD_Result ok = MHD_YES;
	size_t i;

	if (content_type != NULL)
		ok = MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
		    content_type);
	if (ok == MHD_YES)
		ok = MHD_add_response_header(resp, "X-Content-Type-Options",
		    "nosniff");
	for (i = 0; ok == MHD_YES && headers != NULL && headers[i] != NULL &&
	    headers[i + 1] != NULL; i += 2)
		ok = MHD_add_response_header(resp, headers[i], headers[i + 1]);
	if (ok == MHD_YES)
		ok = MHD_queue_response(r->conn, status, resp);
	MHD_destroy_response(resp);
	if (ok != MHD_YES)
		return -1;
	r->answered = 1;
	return 0;
}

int
ops_httpd_reply(struct ops_httpd_req *r, unsigned int status,
    const char *content_type, const void *data, size_t len, int persistent,
    const char *const *headers)
{
	struct MHD_Response *resp;

	if (r->answered)
		return -1;
	resp = MHD_create_response_from_buffer(len, (void *)data,
	    persistent ? MHD_RESPMEM_PERSISTENT : MHD_RESPMEM_MUST_COPY);
	if (resp == NULL)
		return -1;
	return queue(r, status, content_type, resp, headers);
}

int
ops_httpd_reply_fd(struct ops_httpd_req *r, unsigned int status,
    const char *content_type, int fd, uint64_t size,
    const char *const *headers)
{
	struct MHD_Response *resp;

	if (r->answered) {
		close(fd);
		return -1;
	}
	if ((resp = MHD_create_response_from_fd64(size, fd)) == NULL) {
		close(fd);
		return -1;
	}
	return queue(r, status, content_type, resp, headers);	/* fd: closed
								 * once sent */
}

int
ops_httpd_error(struct ops_httpd_req *r, unsigned int status)
{
	static const char *const allow[] = { "Allow", "GET, HEAD",
		"Cache-Control", "no-store", NULL };
	static const char *const plain[] = { "Cache-Control", "no-store",
		NULL };
	const char *text;

	switch (status) {
	case 400: text = "400 Bad Request\n"; break;
	case 401: text = "401 Unauthorized\n"; break;
	case 403: text = "403 Forbidden\n"; break;
	case 404: text = "404 Not Found\n"; break;
	case 405: text = "405 Method Not Allowed\n"; break;
	case 413: text = "413 Content Too Large\n"; break;
	case 503: text = "503 Service Unavailable\n"; break;
	default:
		status = 500;
		text = "500 Internal Server Error\n";
		break;
	}
	return ops_httpd_reply(r, status, "text/plain; charset=utf-8", text,
	    strlen(text), 1, status == 405 ? allow : plain);
}

/* ---------------------------------------------------------------- daemon */

static unsigned int
pool_size(unsigned int want)
{
	long n;

	if (want > 0)
		return want > MAX_THREADS ? MAX_THREADS : want;
	n = sysconf(_SC_NPROCESSORS_ONLN) * 2;
	return n < 2 ? 2 : n > MAX_THREADS ? MAX_THREADS : (unsigned int)n;
}

struct ops_httpd *
ops_httpd_start(const struct ops_httpd_opts *o, int *code, char *errmsg,
    size_t errlen)
{
	struct ops_httpd *h = ops_xmalloc(sizeof(*h));
	unsigned int threads = pool_size(o->threads);
	sigset_t set;

	memset(h, 0, sizeof(*h));
	h->o = *o;
	if (h->o.timeout == 0)
		h->o.timeout = DEFAULT_TIMEOUT;
	if (h->o.max_conns == 0)
		h->o.max_conns = DEFAULT_CONNS;
	/* The signals are taken by ops_httpd_wait() in this thread only. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	h->fd = listen_on(o->listen, h->address, sizeof(h->address), code,
	    errmsg, errlen);
	if (h->fd < 0)
		goto free_h;
	h->daemon = MHD_start_daemon(MHD_USE_AUTO |
	    MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, 0, NULL, NULL,
	    dispatch, h,
	    MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
	    MHD_OPTION_LISTEN_SOCKET, h->fd,
	    MHD_OPTION_THREAD_POOL_SIZE, threads,
	    MHD_OPTION_CONNECTION_LIMIT, h->o.max_conns,
	    MHD_OPTION_CONNECTION_TIMEOUT, h->o.timeout,
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, CONN_MEMORY,
	    MHD_OPTION_UNESCAPE_CALLBACK, unescape, NULL,
	    MHD_OPTION_NOTIFY_COMPLETED, request_done, NULL,
	    MHD_OPTION_END);
	if (h->daemon == NULL) {
		*code = OPS_EX_SOFTWARE;
		ops_errf(errmsg, errlen, "listen %s: libmicrohttpd would not start "
		    "(%u threads)", o->listen, threads);
		/* The socket was handed over: the daemon closes it. */
		goto free_h;
	}
	return h;
free_h:
	free(h);
	return NULL;
}

struct ops_httpd *
ops_httpd_listen(const struct ops_httpd_opts *o)
{
	struct ops_httpd *h;
	struct ops_jw *w;
	char err[512];
	int code;

	if ((h = ops_httpd_start(o, &code, err, sizeof(err))) == NULL)
		ops_die(code, "%s", err);
	w = ops_jw_new();
	ops_jw_open(w);
	ops_jw_str(w, "status", "listening");
	ops_jw_str(w, "address", ops_httpd_address(h));
	ops_jw_close(w);
	if (ops_jw_emit(w, stdout) != 0)
		ops_warnx("stdout: write error");
	ops_jw_free(w);
	return h;
}

const char *
ops_httpd_address(const struct ops_httpd *h)
{
	return h->address;
}

int
ops_httpd_wait(void)
{
	sigset_t set;
	int sig = 0;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	while (sigwait(&set, &sig) != 0)
		;
	return sig;
}

void
ops_httpd_stop(struct ops_httpd *h)
{
	if (h == NULL)
		return;
	/* The pool's threads finish what they are answering, then end. */
	MHD_stop_daemon(h->daemon);	/* closes the listening socket */
	free(h);
}
