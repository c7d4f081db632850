/* http.c: requests to Google through libcurl: TLS always verified, plain
 * http to loopback only, retries with backoff, Google's errors in words. */
#include <arpa/inet.h>

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "gmailops.h"

#define BACKOFF_CAP	32.0	/* seconds */
#define MAX_WAIT	64.0	/* longest server-asked wait we sit out */

struct ops_http {
	CURL		*curl;		/* ops_http_do's handle (and auth's) */
	struct ops_auth	*auth;
	struct ops_quota *quota;
	enum ops_quota_regime regime;
	long		 timeout;
	int		 max_tries;
	double		 backoff_base;
	int		 debug;
	unsigned long	 token_gen;	/* bumped by every forced refresh */
};

/* One request through its tries: the retry engine ops_http_do and
 * multi.c share. Everything a transfer writes into lives here, so
 * several calls can be in flight on one ops_http. */
struct ops_http_call {
	struct ops_http_req req;	/* strings owned, but token */
	struct ops_http_resp resp;
	char		 qmethod[96];	/* "messages.get", or "" */
	int		 units;
	int		 tries;
	int		 refreshed;	/* 0, 1: a 401 asks for one, 2: done */
	unsigned long	 token_gen;	/* of the token this try sent */
	int		 failed;	/* refused before any try */
	char		 path[256];	/* the URL's path, for messages */
	char		 errbuf[CURL_ERROR_SIZE];
	double		 retry_after;	/* from the answer's header, or -1 */
	int		 overflow;
	struct curl_slist *hdrs;	/* holds the token: freed after a try */
};

const char *
ops_gmail_base(void)
{
	const char *s = getenv("GMAIL_API_URL");

	return s != NULL && *s != '\0' ? s : "https://gmail.googleapis.com";
}

struct ops_http *
ops_http_new(const struct ops_config *c, struct ops_auth *a)
{
	static int initialised;
	struct ops_http *h = ops_xmalloc(sizeof(*h));
	const char *s;
	long long limit;

	if (!initialised) {
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
			ops_die(OPS_EX_SOFTWARE, "curl_global_init failed");
		initialised = 1;
	}
	memset(h, 0, sizeof(*h));
	h->curl = curl_easy_init();
	if (h->curl == NULL)
		ops_die(OPS_EX_SOFTWARE, "curl_easy_init failed");
	h->auth = a;
	h->regime = ops_config_int(c, "QUOTA_REGIME") ? OPS_QUOTA_LEGACY :
	    OPS_QUOTA_2026;
	limit = ops_config_int(c, "QUOTA_LIMIT");
	h->quota = ops_quota_new(h->regime, (double)limit);
	h->timeout = (long)ops_config_int(c, "HTTP_TIMEOUT");
	if (h->timeout <= 0)
		h->timeout = 60;
	h->max_tries = (int)ops_config_int(c, "HTTP_MAX_TRIES");
	if (h->max_tries < 1)
		h->max_tries = 1;
	h->backoff_base = 1.0;
	/* For tests only: a shorter first backoff step. */
	s = getenv("GMAIL_OPS_BACKOFF_BASE_MS");
	if (s != NULL && *s != '\0')
		h->backoff_base = atof(s) / 1000.0;
	s = getenv("GMAIL_OPS_DEBUG");
	h->debug = s != NULL && *s != '\0' && strcmp(s, "0") != 0;
	if (a != NULL)
		ops_auth_set_http(a, h);
	return h;
}

void
ops_http_free(struct ops_http *h)
{
	if (h == NULL)
		return;
	curl_easy_cleanup(h->curl);
	ops_quota_free(h->quota);
	free(h);
}

struct ops_quota *
ops_http_quota(struct ops_http *h)
{
	return h->quota;
}

void
ops_http_resp_free(struct ops_http_resp *resp)
{
	ops_buf_free(&resp->body);
}

static int
host_is_loopback(const char *host)
{
	struct in_addr a4;
	struct in6_addr a6;
	char buf[64];
	size_t n;

	if (strcasecmp(host, "localhost") == 0)
		return 1;
	n = strlen(host);
	if (n > 2 && host[0] == '[' && host[n - 1] == ']' && n - 2 < sizeof(buf)) {
		memcpy(buf, host + 1, n - 2);
		buf[n - 2] = '\0';
		return inet_pton(AF_INET6, buf, &a6) == 1 &&
		    IN6_IS_ADDR_LOOPBACK(&a6);
	}
	if (inet_pton(AF_INET, host, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	return 0;
}

/* Scheme and host of url; 0 or -1 when it does not parse. */
static int
url_parts(const char *url, char *scheme, size_t slen, char *host,
    size_t hlen)
{
	CURLU *u = curl_url();
	char *s = NULL, *h = NULL;
	int rc = -1;

	if (u == NULL)
		return -1;
	if (curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_SCHEME, &s, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_HOST, &h, 0) == CURLUE_OK) {
		snprintf(scheme, slen, "%s", s);
		snprintf(host, hlen, "%s", h);
		rc = 0;
	}
	curl_free(s);
	curl_free(h);
	curl_url_cleanup(u);
	return rc;
}

int
ops_url_is_loopback(const char *url)
{
	char scheme[16], host[256];

	return url_parts(url, scheme, sizeof(scheme), host, sizeof(host)) == 0
	    && host_is_loopback(host);
}

int
ops_url_is_https(const char *url)
{
	return strncasecmp(url, "https://", 8) == 0;
}

double
ops_backoff(int retry, double base, double cap)
{
	double ceiling, r;
	unsigned int rnd;

	if (retry < 1)
		retry = 1;
	ceiling = base * pow(2.0, retry - 1 < 30 ? retry - 1 : 30);
	if (ops_random_bytes(&rnd, sizeof(rnd)) != 0)
		rnd = 0;
	r = (double)rnd / 4294967295.0;
	/* Full jitter above a floor of one base step. */
	return fmin(cap, base + r * ceiling);
}

/* Finds "Retry after <RFC 3339>" in a message. */
static int
message_retry_at(const char *msg, double *at)
{
	const char *p = strcasestr(msg, "retry after ");
	char stamp[64];
	size_t n;

	if (p == NULL)
		return -1;
	p += strlen("retry after ");
	n = strcspn(p, " \t\"");
	if (n == 0 || n >= sizeof(stamp))
		return -1;
	memcpy(stamp, p, n);
	stamp[n] = '\0';
	if (n > 0 && stamp[n - 1] == '.')	/* end of sentence */
		stamp[n - 1] = '\0';
	return ops_parse_rfc3339(stamp, at);
}

void
ops_google_error(const char *body, size_t len, char *out, size_t outlen,
    char *reason, size_t reasonlen, double *retry_at)
{
	char err[128];
	yajl_val v, e, errs;
	const char *msg = NULL, *status = NULL, *rsn = NULL, *desc;

	(void)len;
	*out = '\0';
	if (reason != NULL && reasonlen > 0)
		*reason = '\0';
	if (retry_at != NULL)
		*retry_at = 0;
	v = body != NULL ? ops_json_parse(body, err, sizeof(err)) : NULL;
	e = ops_json_get(v, "error");
	if (e != NULL && YAJL_IS_OBJECT(e)) {
		/* {"error":{"code","message","errors":[{"reason"}],"status"}} */
		msg = ops_json_str(e, "message");
		status = ops_json_str(e, "status");
		errs = ops_json_get(e, "errors");
		if (errs != NULL && YAJL_IS_ARRAY(errs) && errs->u.array.len > 0)
			rsn = ops_json_str(errs->u.array.values[0], "reason");
		snprintf(out, outlen, "%s%s%s%s%s", status != NULL ? status :
		    "error", rsn != NULL ? " (" : "", rsn != NULL ? rsn : "",
		    rsn != NULL ? ")" : "", msg != NULL ? ": " : "");
		if (msg != NULL)
			snprintf(out + strlen(out), outlen - strlen(out), "%s",
			    msg);
	} else if (e != NULL && YAJL_IS_STRING(e)) {
		/* OAuth: {"error":"invalid_grant","error_description":...} */
		rsn = YAJL_GET_STRING(e);
		desc = ops_json_str(v, "error_description");
		snprintf(out, outlen, "%s%s%s", rsn, desc != NULL ? ": " : "",
		    desc != NULL ? desc : "");
	} else if (body != NULL && *body != '\0') {
		/* Not JSON: the first line of the text, bounded. */
		snprintf(out, outlen, "%.*s", (int)strcspn(body, "\r\n"),
		    body);
		if (strlen(out) > 200)
			out[200] = '\0';
	}
	if (rsn != NULL && reason != NULL)
		snprintf(reason, reasonlen, "%s", rsn);
	if (msg != NULL && retry_at != NULL)
		(void)message_retry_at(msg, retry_at);
	yajl_tree_free(v);
}

static size_t
on_body(char *p, size_t size, size_t n, void *arg)
{
	struct ops_http_call *call = arg;

	if (ops_buf_add(&call->resp.body, p, size * n) != 0) {
		call->overflow = 1;
		return 0;
	}
	return size * n;
}

static size_t
on_header(char *p, size_t size, size_t n, void *arg)
{
	struct ops_http_call *call = arg;
	size_t len = size * n;
	char line[256];
	double at;

	if (len < sizeof(line) && strncasecmp(p, "Retry-After:", 12) == 0) {
		memcpy(line, p + 12, len - 12);
		line[len - 12] = '\0';
		line[strcspn(line, "\r\n")] = '\0';
		if (strspn(line, " 0123456789") == strlen(line)) {
			call->retry_after = atof(line);
		} else {
			time_t t = curl_getdate(line, NULL);
			at = (double)t;
			if (t != -1)
				call->retry_after = fmax(0.0, at - ops_now());
		}
	}
	return len;
}

static int
is_rate_reason(const char *reason)
{
	return strcmp(reason, "rateLimitExceeded") == 0 ||
	    strcmp(reason, "userRateLimitExceeded") == 0 ||
	    strcmp(reason, "backendError") == 0;
}

static int
is_retryable(long status, const char *reason)
{
	switch (status) {
	case 429: case 500: case 502: case 503: case 504:
		return 1;
	case 403:
		return is_rate_reason(reason);
	default:
		return 0;
	}
}

static int
fail(struct ops_http_resp *resp, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
fail(struct ops_http_resp *resp, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(resp->errmsg, sizeof(resp->errmsg), fmt, ap);
	va_end(ap);
	resp->exit_code = code;
	return -1;
}

/* The path of a URL without its query, for messages. */
static void
url_path(const char *url, char *out, size_t outlen)
{
	const char *p = strstr(url, "://");

	p = p != NULL ? strchr(p + 3, '/') : NULL;
	snprintf(out, outlen, "%.*s", p != NULL ? (int)strcspn(p, "?") : 1,
	    p != NULL ? p : "/");
}

/* Sets the easy handle up for one try of call, sending token. */
static void
setup(struct ops_http *h, struct ops_http_call *call, CURL *c,
    const char *token)
{
	const struct ops_http_req *req = &call->req;
	const char *ca = getenv("CURL_CA_BUNDLE");
	char *line;

	curl_easy_reset(c);
	curl_slist_free_all(call->hdrs);
	call->hdrs = NULL;
	if (token != NULL) {
		line = ops_xasprintf("Authorization: Bearer %s", token);
		call->hdrs = curl_slist_append(call->hdrs, line);
		explicit_bzero(line, strlen(line));
		free(line);
	}
	if (req->content_type != NULL) {
		line = ops_xasprintf("Content-Type: %s", req->content_type);
		call->hdrs = curl_slist_append(call->hdrs, line);
		free(line);
	}
	if (req->extra_header != NULL)
		call->hdrs = curl_slist_append(call->hdrs, req->extra_header);
	call->hdrs = curl_slist_append(call->hdrs, "Expect:");
	curl_easy_setopt(c, CURLOPT_URL, req->url);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
	if (ca != NULL && *ca != '\0')
		curl_easy_setopt(c, CURLOPT_CAINFO, ca);
	/* CURLOPT_NOSIGNAL stays 0: libcurl then ignores SIGPIPE only while
	 * it works, and a tool whose reader has gone dies of SIGPIPE as
	 * Unix tools do (the driver reads 141 as "stopped by its reader"). */
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, h->timeout < 30 ?
	    h->timeout : 30L);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, h->timeout);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "gmail-ops/" OPS_VERSION);
	curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, call->errbuf);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, call->hdrs);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, call);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, call);
	if (strcmp(req->method, "GET") != 0 || req->body != NULL) {
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, req->method);
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, req->body != NULL ?
		    req->body : "");
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE,
		    (curl_off_t)(req->body != NULL ? req->body_len : 0));
	}
	call->errbuf[0] = '\0';
	call->retry_after = -1;
	call->overflow = 0;
	ops_buf_free(&call->resp.body);
	ops_buf_init(&call->resp.body, req->max_response);
}

/* Refuses a request that would leave the machine without TLS. */
static int
check_transport(const struct ops_http_req *req, struct ops_http_resp *resp)
{
	char scheme[16], host[256];

	if (url_parts(req->url, scheme, sizeof(scheme), host,
	    sizeof(host)) != 0)
		return fail(resp, OPS_EX_CONFIG, "%s: not a valid URL",
		    req->url);
	if (strcasecmp(scheme, "https") == 0 || host_is_loopback(host))
		return 0;
	if (strcasecmp(scheme, "http") != 0)
		return fail(resp, OPS_EX_CONFIG, "%s: only https is supported",
		    req->url);
	if (req->bearer || req->token != NULL)
		return fail(resp, OPS_EX_CONFIG, "refusing to send a bearer "
		    "token over plain http to %s (https, or a loopback host)",
		    host);
	if (!req->allow_http)
		return fail(resp, OPS_EX_CONFIG, "refusing plain http to %s "
		    "(https, or a loopback host)", host);
	return 0;
}

static char *
dup_or_null(const char *s)
{
	return s != NULL ? ops_xstrdup(s) : NULL;
}

struct ops_http_call *
ops_http_call_new(struct ops_http *h, const struct ops_http_req *req)
{
	struct ops_http_call *call = ops_xmalloc(sizeof(*call));
	const char *qm;
	char *body = NULL;

	memset(call, 0, sizeof(*call));
	call->req = *req;
	call->req.method = ops_xstrdup(req->method);
	call->req.url = ops_xstrdup(req->url);
	call->req.content_type = dup_or_null(req->content_type);
	call->req.extra_header = dup_or_null(req->extra_header);
	call->req.quota_method = NULL;
	if (req->body != NULL) {
		body = ops_xmalloc(req->body_len + 1);
		memcpy(body, req->body, req->body_len);
		body[req->body_len] = '\0';
	}
	call->req.body = body;
	ops_buf_init(&call->resp.body, req->max_response);
	call->retry_after = -1;
	url_path(req->url, call->path, sizeof(call->path));
	if (check_transport(req, &call->resp) != 0)
		call->failed = 1;
	/* ops_quota_method's answer is static: keep a copy. */
	qm = req->quota_method != NULL ? req->quota_method :
	    ops_quota_method(req->method, call->path);
	snprintf(call->qmethod, sizeof(call->qmethod), "%s",
	    qm != NULL ? qm : "");
	call->units = ops_quota_units(h->regime, qm);
	return call;
}

void
ops_http_call_free(struct ops_http_call *call)
{
	if (call == NULL)
		return;
	curl_slist_free_all(call->hdrs);
	free((char *)call->req.method);
	free((char *)call->req.url);
	free((char *)call->req.content_type);
	free((char *)call->req.extra_header);
	/* A token request's form holds the refresh token and secret. */
	if (call->req.body != NULL)
		explicit_bzero((char *)call->req.body, call->req.body_len);
	free((char *)call->req.body);
	ops_buf_free(&call->resp.body);
	free(call);
}

void
ops_http_call_take(struct ops_http_call *call, struct ops_http_resp *out)
{
	*out = call->resp;
	memset(&call->resp, 0, sizeof(call->resp));
}

double
ops_http_call_prepare(struct ops_http *h, struct ops_http_call *call,
    void *easy)
{
	struct ops_http_resp *resp = &call->resp;
	const char *token = NULL;
	double wait;
	int code, force;

	if (call->failed)
		return -1;
	if (call->req.token != NULL) {
		token = call->req.token;
	} else if (call->req.bearer) {
		/* After a 401, one fresh token: unless another call has
		 * already refreshed since this one's token was taken. */
		force = call->refreshed == 1 && call->token_gen == h->token_gen;
		token = ops_auth_token(h->auth, force, &code, resp->errmsg,
		    sizeof(resp->errmsg));
		if (token == NULL) {
			resp->exit_code = code;
			call->failed = 1;
			return -1;
		}
		if (force)
			h->token_gen++;
		if (call->refreshed == 1)
			call->refreshed = 2;
		call->token_gen = h->token_gen;
	}
	if (call->qmethod[0] != '\0') {
		wait = ops_quota_reserve(h->quota, call->units, ops_monotonic());
		if (wait > 0)
			return wait;
	}
	call->tries++;
	setup(h, call, easy, token);
	return 0;
}

enum ops_http_verdict
ops_http_call_judge(struct ops_http *h, struct ops_http_call *call,
    void *easy, int curlcode, double *wait)
{
	struct ops_http_resp *resp = &call->resp;
	const struct ops_http_req *req = &call->req;
	const char *path = call->path;
	CURLcode cc = (CURLcode)curlcode;
	char gerr[400];
	double retry_at;
	int code, retryable;

	*wait = 0;
	curl_slist_free_all(call->hdrs);	/* holds the token: drop now */
	call->hdrs = NULL;
	resp->status = 0;
	curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &resp->status);
	if (call->qmethod[0] != '\0' && call->units > 0)
		ops_quota_count(h->quota, call->qmethod, call->units);
	if (h->debug)
		ops_warnx("http: %s %s: %ld (try %d)", req->method, path,
		    resp->status, call->tries);
	if (cc != CURLE_OK) {
		if (call->overflow) {
			fail(resp, OPS_EX_DATAERR, "%s %s: answer larger than "
			    "%zu bytes", req->method, path, resp->body.cap);
			return OPS_HTTP_FAILED;
		}
		snprintf(gerr, sizeof(gerr), "%s", *call->errbuf != '\0' ?
		    call->errbuf : curl_easy_strerror(cc));
		if (cc == CURLE_PEER_FAILED_VERIFICATION ||
		    cc == CURLE_SSL_CACERT_BADFILE ||
		    cc == CURLE_SSL_CONNECT_ERROR ||
		    cc == CURLE_URL_MALFORMAT ||
		    cc == CURLE_UNSUPPORTED_PROTOCOL ||
		    req->once_only || call->tries >= h->max_tries) {
			fail(resp, OPS_EX_UNAVAILABLE, "%s %s: %s%s",
			    req->method, path, gerr, call->tries > 1 ?
			    " (gave up after retries)" : "");
			return OPS_HTTP_FAILED;
		}
		*wait = ops_backoff(call->tries, h->backoff_base, BACKOFF_CAP);
		return OPS_HTTP_RETRY;
	}
	if (resp->status >= 200 && resp->status < 300)
		return OPS_HTTP_OK;
	ops_google_error(resp->body.data, resp->body.len, gerr, sizeof(gerr),
	    resp->reason, sizeof(resp->reason), &retry_at);
	if (resp->status == 401 && req->bearer && call->refreshed == 0) {
		call->refreshed = 1;		/* one fresh token, once */
		call->tries--;
		return OPS_HTTP_RETRY;
	}
	retryable = is_retryable(resp->status, resp->reason);
	/* A 5xx after a send may mean it went: once_only requests retry
	 * only answers that say nothing was done (429, 403 rate limits). */
	if (req->once_only && resp->status >= 500)
		retryable = 0;
	if (!retryable || call->tries >= h->max_tries) {
		/* A rate-limit 403 that outlasted the retries is the
		 * service's state, not a permission. */
		code = retryable ? OPS_EX_UNAVAILABLE : resp->status == 401 ||
		    resp->status == 403 ? OPS_EX_NOPERM : OPS_EX_DATAERR;
		fail(resp, code, "%s %s: %ld %s%s", req->method, path,
		    resp->status, gerr, call->tries > 1 ?
		    " (gave up after retries)" : "");
		return OPS_HTTP_FAILED;
	}
	if (call->retry_after >= 0)
		*wait = call->retry_after;
	else if (retry_at > 0)
		*wait = fmax(retry_at - ops_now(), 0.0) + 0.05;
	else
		*wait = ops_backoff(call->tries, h->backoff_base, BACKOFF_CAP);
	if (*wait > MAX_WAIT) {
		fail(resp, OPS_EX_UNAVAILABLE, "%s %s: %ld %s (asked to wait "
		    "%.0f s)", req->method, path, resp->status, gerr, *wait);
		return OPS_HTTP_FAILED;
	}
	return OPS_HTTP_RETRY;
}

int
ops_http_do(struct ops_http *h, const struct ops_http_req *req,
    struct ops_http_resp *resp)
{
	struct ops_http_call *call = ops_http_call_new(h, req);
	enum ops_http_verdict v = OPS_HTTP_FAILED;
	double wait;
	CURLcode cc;

	for (;;) {
		wait = ops_http_call_prepare(h, call, h->curl);
		if (wait < 0)
			break;
		if (wait > 0) {
			ops_sleep(wait);
			continue;
		}
		cc = curl_easy_perform(h->curl);
		v = ops_http_call_judge(h, call, h->curl, (int)cc, &wait);
		if (v != OPS_HTTP_RETRY)
			break;
		if (wait > 0)
			ops_sleep(wait);
	}
	ops_http_call_take(call, resp);
	ops_http_call_free(call);
	return v == OPS_HTTP_OK ? 0 : -1;
}
