/* mail-send: sends mail through Gmail with the account's signature and an
 * optional tracking pixel, or holds it as a draft for human review; lists,
 * shows, rejects and sends drafts; shows the tracking records. */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "gmailops.h"

#define SCOPES_DEFAULT	"gmail.send,gmail.settings.basic"
#define MAX_SENDS	3	/* sends of one message whose outcome was unclear */
#define SCAN_PAGES	10	/* SENT pages looked through without q= */
#define SCAN_MARGIN	600.0	/* seconds before the first try still looked at */

struct run {
	struct ops_config *cfg;
	struct ops_auth	*auth;
	struct ops_http	*http;		/* settings, look-ups: with retries */
	struct ops_http	*send_http;	/* messages.send: one try per call */
	struct ops_mailstore *store;
	struct ops_jw	*w;
	const char	*mode;		/* default mode: draft or send */
	int		 verbose;
	int		 tracking;
	char		*pixel_base;	/* without a trailing '/' */
	int		 max_sends;
	char		 where[64];	/* "line N: " in stream mode, or "" */
	/* The send-as entry, fetched once. */
	int		 sa_state;	/* 0 not yet, 1 ok, -1 failed */
	int		 sa_code;
	char		 sa_err[768];
	char		*from_addr, *from_name, *signature, *sa_reply_to;
	int		 status;	/* exit status so far */
};

static void
usage(int help)
{
	fprintf(help ? stdout : stderr,
	    "usage: mail-send [-v] [-c file] [-o key=value] [--mode draft|send]\n"
	    "                 [--to addr] [--cc addr] [--bcc addr] [--subject text]\n"
	    "                 [--message text] [--html text]\n"
	    "       mail-send [-v] [-c file] [-o key=value] --list [--status status]\n"
	    "       mail-send [-v] [-c file] [-o key=value] --show id\n"
	    "       mail-send [-v] [-c file] [-o key=value] --reject id\n"
	    "       mail-send [-v] [-c file] [-o key=value] --send-draft id\n"
	    "                 [--expect-sha256 hash]\n"
	    "       mail-send [-v] [-c file] [-o key=value] --opens [pixel_id]\n");
	exit(help ? OPS_EX_OK : OPS_EX_USAGE);
}

static void __attribute__((format(printf, 2, 3)))
trace(const struct run *r, const char *fmt, ...)
{
	va_list ap;

	if (!r->verbose)
		return;
	va_start(ap, fmt);
	ops_vwarnx(fmt, ap);
	va_end(ap);
}

/* The exit status keeps the most telling failure: configuration, then
 * authorisation, then a held lock, then "some requests failed". */
static void
note_failure(struct run *r, int code)
{
	static const int rank[] = { OPS_EX_PARTIAL, OPS_EX_TEMPFAIL,
		OPS_EX_NOPERM, OPS_EX_CONFIG };
	int i, have = -1, want = 0;

	if (code != OPS_EX_TEMPFAIL && code != OPS_EX_NOPERM &&
	    code != OPS_EX_CONFIG)
		code = OPS_EX_PARTIAL;
	for (i = 0; i < 4; i++) {
		if (rank[i] == r->status)
			have = i;
		if (rank[i] == code)
			want = i;
	}
	if (want > have)
		r->status = code;
}

/* Messages built from other messages: truncated at whylen, on purpose. */
static void __attribute__((format(printf, 3, 4)))
say(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, len, fmt, ap);
	va_end(ap);
}

static void
emit(struct run *r)
{
	if (ops_jw_emit(r->w, stdout) != 0)
		ops_die(OPS_EX_IOERR, "stdout: write error");
}

/* {"status":"error","error":why} on stdout, the reason on stderr. */
static void __attribute__((format(printf, 3, 4)))
answer_error(struct run *r, int code, const char *fmt, ...)
{
	char why[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	ops_warnx("%s%s", r->where, why);
	ops_jw_reset(r->w);
	ops_jw_open(r->w);
	ops_jw_str(r->w, "status", "error");
	ops_jw_str(r->w, "error", why);
	ops_jw_close(r->w);
	emit(r);
	note_failure(r, code);
}

/* ---------------------------------------------------------------- Gmail */

static char *
gmail_url(const char *path)
{
	return ops_xasprintf("%s/gmail/v1/users/me/%s", ops_gmail_base(), path);
}

/* GET a Gmail path: the parsed answer (caller frees) or NULL with resp
 * kept for the caller to read (status, errmsg, reason) and free. */
static yajl_val
gmail_get(struct run *r, const char *path, struct ops_http_resp *resp)
{
	struct ops_http_req req;
	char err[256], *url = gmail_url(path);
	yajl_val v = NULL;

	memset(&req, 0, sizeof(req));
	req.method = "GET";
	req.url = url;
	req.bearer = 1;
	req.max_response = (size_t)8 << 20;
	if (ops_http_do(r->http, &req, resp) == 0) {
		v = ops_json_parse(resp->body.data, err, sizeof(err));
		if (v == NULL) {
			say(resp->errmsg, sizeof(resp->errmsg), "GET %s: "
			    "answer is not JSON: %s", path, err);
			resp->exit_code = OPS_EX_PARTIAL;
		}
	}
	free(url);
	return v;
}

static const char *
auth_source(const struct run *r)
{
	switch (ops_auth_mode(r->auth)) {
	case OPS_AUTH_SA_KEY:
		return "domain-wide delegation with the service-account key "
		    "GOOGLE_APPLICATION_CREDENTIALS";
	case OPS_AUTH_KEYLESS:
		return "domain-wide delegation, keyless: metadata server token, "
		    "then IAM signJwt as GOOGLE_SERVICE_ACCOUNT_EMAIL";
	default:
		return "the OAuth user's token.json";
	}
}

static const char *
scope_hint(const struct run *r)
{
	return ops_auth_mode(r->auth) == OPS_AUTH_USER ?
	    "log in again with gmail-auth login --scopes "
	    "gmail.send,gmail.settings.basic" :
	    "put gmail.settings.basic in SCOPES and in the service account's "
	    "domain-wide delegation";
}

/* The send-as entry: GMAIL_USER's, or the default one. 0 or -1. */
static int
need_sendas(struct run *r)
{
	struct ops_http_resp resp;
	const char *user = ops_config_str(r->cfg, "GMAIL_USER"), *e;
	yajl_val v, list, pick = NULL, it;
	int isdef, isprim, dummy;
	size_t i;

	if (r->sa_state != 0)
		return r->sa_state > 0 ? 0 : -1;
	trace(r, "auth: %s%s%s", auth_source(r), *user != '\0' ?
	    " as " : "", user);
	r->sa_state = -1;
	v = gmail_get(r, "settings/sendAs", &resp);
	if (v == NULL) {
		r->sa_code = resp.exit_code != 0 ? resp.exit_code :
		    OPS_EX_PARTIAL;
		if (resp.status == 403 && (strcmp(resp.reason,
		    "insufficientPermissions") == 0 || strstr(resp.errmsg,
		    "insufficient") != NULL))
			say(r->sa_err, sizeof(r->sa_err), "the token lacks "
			    "the gmail.settings.basic scope that reading the "
			    "signature needs, so nothing is sent (%s): %s",
			    scope_hint(r), resp.errmsg);
		else
			say(r->sa_err, sizeof(r->sa_err), "send-as "
			    "settings: %s", resp.errmsg);
		ops_http_resp_free(&resp);
		return -1;
	}
	ops_http_resp_free(&resp);
	if (ops_auth_expiry(r->auth) > 0)
		trace(r, "auth: token valid for %.0f s, scopes: %s",
		    ops_auth_expiry(r->auth) - ops_now(),
		    ops_auth_scopes(r->auth) != NULL ?
		    ops_auth_scopes(r->auth) : "(not known)");
	list = ops_json_get(v, "sendAs");
	for (i = 0; list != NULL && YAJL_IS_ARRAY(list) &&
	    i < list->u.array.len; i++) {
		it = list->u.array.values[i];
		e = ops_json_str(it, "sendAsEmail");
		if (e == NULL)
			continue;
		if (*user != '\0') {
			if (strcasecmp(e, user) == 0)
				pick = it;
			continue;
		}
		isdef = ops_json_bool(it, "isDefault", &dummy) == 0 && dummy;
		isprim = ops_json_bool(it, "isPrimary", &dummy) == 0 && dummy;
		if (isdef || (pick == NULL && isprim))
			pick = it;
	}
	if (pick == NULL) {
		r->sa_code = OPS_EX_CONFIG;
		say(r->sa_err, sizeof(r->sa_err), *user != '\0' ?
		    "GMAIL_USER %s is not a send-as address of the account" :
		    "the account has no default send-as address%s", user);
		yajl_tree_free(v);
		return -1;
	}
	r->from_addr = ops_xstrdup(ops_json_str(pick, "sendAsEmail"));
	e = ops_json_str(pick, "displayName");
	r->from_name = ops_xstrdup(e != NULL ? e : "");
	e = ops_json_str(pick, "signature");
	r->signature = ops_xstrdup(e != NULL ? e : "");
	e = ops_json_str(pick, "replyToAddress");
	r->sa_reply_to = ops_xstrdup(e != NULL ? e : "");
	yajl_tree_free(v);
	if (ops_addr_check(r->from_addr, r->sa_err, sizeof(r->sa_err)) != 0) {
		r->sa_code = OPS_EX_CONFIG;
		return -1;
	}
	if (*r->sa_reply_to != '\0' && ops_addr_check(r->sa_reply_to,
	    r->sa_err, sizeof(r->sa_err)) != 0) {
		free(r->sa_reply_to);
		r->sa_reply_to = ops_xstrdup("");
	}
	trace(r, "send-as: %s, display name \"%s\", signature %zu bytes",
	    r->from_addr, r->from_name, strlen(r->signature));
	r->sa_state = 1;
	return 0;
}

/* The message whose Message-ID header is msgid, found by q=rfc822msgid:
 * (needs gmail.readonly, gmail.modify or mail.google.com), else by going
 * through SENT newest first (gmail.metadata is enough). 1 found (*id,
 * *thread: caller frees), 0 not found, -1 cannot tell (why). */
static int
scan_sent(struct run *r, const char *msgid, double since, char **id,
    char **thread, char *why, size_t whylen)
{
	struct ops_http_resp resp;
	char *path, *token = NULL, *enc;
	yajl_val v, m, msgs, hdrs, h;
	const char *mid, *name, *val, *date;
	size_t i, j, idlen = strlen(msgid);
	int page, found = 0;

	for (page = 0; page < SCAN_PAGES && found == 0; page++) {
		enc = token != NULL ? ops_urlencode(token) : NULL;
		path = ops_xasprintf("messages?labelIds=SENT&maxResults=50%s%s",
		    enc != NULL ? "&pageToken=" : "", enc != NULL ? enc : "");
		free(enc);
		v = gmail_get(r, path, &resp);
		free(path);
		if (v == NULL) {
			say(why, whylen, "%s", resp.errmsg);
			ops_http_resp_free(&resp);
			free(token);
			return -1;
		}
		ops_http_resp_free(&resp);
		msgs = ops_json_get(v, "messages");
		for (i = 0; msgs != NULL && YAJL_IS_ARRAY(msgs) &&
		    i < msgs->u.array.len && found == 0; i++) {
			mid = ops_json_str(msgs->u.array.values[i], "id");
			if (mid == NULL)
				continue;
			path = ops_xasprintf("messages/%s?format=metadata&"
			    "metadataHeaders=Message-ID", mid);
			m = gmail_get(r, path, &resp);
			free(path);
			if (m == NULL) {
				say(why, whylen, "%s", resp.errmsg);
				ops_http_resp_free(&resp);
				yajl_tree_free(v);
				free(token);
				return -1;
			}
			ops_http_resp_free(&resp);
			hdrs = ops_json_get(ops_json_get(m, "payload"),
			    "headers");
			for (j = 0; hdrs != NULL && YAJL_IS_ARRAY(hdrs) &&
			    j < hdrs->u.array.len; j++) {
				h = hdrs->u.array.values[j];
				name = ops_json_str(h, "name");
				val = ops_json_str(h, "value");
				if (name == NULL || val == NULL ||
				    strcasecmp(name, "Message-ID") != 0)
					continue;
				val += strspn(val, " <");
				if (strncasecmp(val, msgid, idlen) == 0 &&
				    (val[idlen] == '>' || val[idlen] == '\0')) {
					*id = ops_xstrdup(mid);
					*thread = ops_json_str(m, "threadId") !=
					    NULL ? ops_xstrdup(ops_json_str(m,
					    "threadId")) : NULL;
					found = 1;
				}
			}
			date = ops_json_str(m, "internalDate");
			if (found == 0 && date != NULL &&
			    atof(date) / 1000.0 < since - SCAN_MARGIN)
				found = -2;	/* older than the first try */
			yajl_tree_free(m);
		}
		free(token);
		token = ops_json_str(v, "nextPageToken") != NULL ?
		    ops_xstrdup(ops_json_str(v, "nextPageToken")) : NULL;
		yajl_tree_free(v);
		if (token == NULL)
			break;
	}
	free(token);
	return found == 1 ? 1 : 0;
}

static int
lookup(struct run *r, const char *msgid, double since, char **id,
    char **thread, char *why, size_t whylen)
{
	struct ops_http_resp resp;
	char *q, *enc, *path;
	yajl_val v, msgs;
	int rc;

	*id = *thread = NULL;
	q = ops_xasprintf("rfc822msgid:%s", msgid);
	enc = ops_urlencode(q);
	path = ops_xasprintf("messages?q=%s&includeSpamTrash=true&"
	    "maxResults=10", enc);
	free(enc);
	free(q);
	v = gmail_get(r, path, &resp);
	free(path);
	if (v == NULL) {
		if (resp.status == 403) {
			trace(r, "look-up: no q= with this token's scopes: "
			    "going through SENT");
			ops_http_resp_free(&resp);
			rc = scan_sent(r, msgid, since, id, thread, why, whylen);
			if (rc < 0 && strstr(why, "insufficient") != NULL) {
				char tmp[512];
				say(tmp, sizeof(tmp), "%s", why);
				say(why, whylen, "looking for a message "
				    "needs the gmail.metadata (or "
				    "gmail.readonly) scope: %s", tmp);
			}
			return rc;
		}
		say(why, whylen, "%s", resp.errmsg);
		ops_http_resp_free(&resp);
		return -1;
	}
	ops_http_resp_free(&resp);
	msgs = ops_json_get(v, "messages");
	rc = 0;
	if (msgs != NULL && YAJL_IS_ARRAY(msgs) && msgs->u.array.len > 0 &&
	    ops_json_str(msgs->u.array.values[0], "id") != NULL) {
		*id = ops_xstrdup(ops_json_str(msgs->u.array.values[0], "id"));
		if (ops_json_str(msgs->u.array.values[0], "threadId") != NULL)
			*thread = ops_xstrdup(ops_json_str(
			    msgs->u.array.values[0], "threadId"));
		rc = 1;
	}
	yajl_tree_free(v);
	return rc;
}

/* One messages.send call: JSON with the raw message, or the media upload
 * for a large one (multipart when it must carry a threadId). */
static int
post_message(struct run *r, const char *raw, size_t len, const char *thread,
    struct ops_http_resp *resp)
{
	struct ops_http_req req;
	struct ops_jw *w = NULL;
	struct ops_buf body;
	char *b64 = NULL, *url, *ctype = NULL, *bound;
	int rc;

	memset(&req, 0, sizeof(req));
	ops_buf_init(&body, 0);
	req.method = "POST";
	req.bearer = 1;
	req.once_only = 1;
	req.quota_method = "messages.send";
	req.max_response = (size_t)1 << 20;
	if (len <= OPS_MAIL_UPLOAD_SIZE) {
		url = gmail_url("messages/send");
		b64 = ops_b64url_encode(raw, len);
		w = ops_jw_new();
		ops_jw_open(w);
		ops_jw_str(w, "raw", b64);
		if (thread != NULL)
			ops_jw_str(w, "threadId", thread);
		ops_jw_close(w);
		req.body = ops_jw_text(w, &req.body_len);
		req.content_type = "application/json";
	} else if (thread == NULL) {
		url = ops_xasprintf("%s/upload/gmail/v1/users/me/messages/send?"
		    "uploadType=media", ops_gmail_base());
		req.body = raw;
		req.body_len = len;
		req.content_type = "message/rfc822";
	} else {
		url = ops_xasprintf("%s/upload/gmail/v1/users/me/messages/send?"
		    "uploadType=multipart", ops_gmail_base());
		bound = ops_random_token(18);
		ops_buf_addf(&body, "--%s\r\nContent-Type: application/json; "
		    "charset=UTF-8\r\n\r\n{\"threadId\":\"%s\"}\r\n--%s\r\n"
		    "Content-Type: message/rfc822\r\n\r\n", bound, thread,
		    bound);
		ops_buf_add(&body, raw, len);
		ops_buf_addf(&body, "\r\n--%s--\r\n", bound);
		ctype = ops_xasprintf("multipart/related; boundary=%s", bound);
		free(bound);
		req.body = body.data;
		req.body_len = body.len;
		req.content_type = ctype;
	}
	req.url = url;
	trace(r, "send: %zu bytes, %s", len, len <= OPS_MAIL_UPLOAD_SIZE ?
	    "base64url in JSON" : thread == NULL ? "media upload" :
	    "multipart upload");
	rc = ops_http_do(r->send_http, &req, resp);
	ops_jw_free(w);
	ops_buf_free(&body);
	free(ctype);
	free(b64);
	free(url);
	return rc;
}

/* A wait of dflt seconds, or GMAIL_OPS_BACKOFF_BASE_MS in tests (as
 * http.c's backoff). */
static double
wait_base(double dflt)
{
	const char *s = getenv("GMAIL_OPS_BACKOFF_BASE_MS");

	return s != NULL && *s != '\0' ? atof(s) / 1000.0 : dflt;
}

enum { SENT = 0, NOT_SENT = -1, UNKNOWN = -2 };

/* Sends raw; a send that broke off after it may have been received is
 * never retried blindly: its Message-ID is looked for first. */
static int
deliver(struct run *r, const char *raw, size_t len, const char *thread_id,
    const char *msgid, double since, char **gid, char **gthread, int *code,
    char *why, size_t whylen)
{
	struct ops_http_resp resp;
	char err[600], lerr[600];
	yajl_val v;
	int attempt, found;

	*gid = *gthread = NULL;
	*code = OPS_EX_PARTIAL;
	for (attempt = 1;; attempt++) {
		if (post_message(r, raw, len, thread_id, &resp) == 0) {
			v = ops_json_parse(resp.body.data, err, sizeof(err));
			if (ops_json_str(v, "id") != NULL) {
				*gid = ops_xstrdup(ops_json_str(v, "id"));
				if (ops_json_str(v, "threadId") != NULL)
					*gthread = ops_xstrdup(ops_json_str(v,
					    "threadId"));
				yajl_tree_free(v);
				ops_http_resp_free(&resp);
				return SENT;
			}
			yajl_tree_free(v);
			say(err, sizeof(err), "messages.send: an answer "
			    "without an id");
			resp.status = 0;
		} else {
			say(err, sizeof(err), "%s", resp.errmsg);
		}
		if (resp.status != 0 && resp.status < 500) {
			/* Refused: nothing was sent. */
			int rate = resp.status == 429 || (resp.status == 403 &&
			    strcasestr(resp.reason, "ratelimit") != NULL);
			*code = resp.exit_code;
			ops_http_resp_free(&resp);
			if (rate && attempt < r->max_sends) {
				ops_sleep(ops_backoff(attempt, wait_base(1.0),
				    32.0));
				continue;
			}
			say(why, whylen, "%s", err);
			return NOT_SENT;
		}
		ops_http_resp_free(&resp);
		trace(r, "send: %s: it may have gone; looking for Message-ID "
		    "<%s> before anything else", err, msgid);
		/* It may still be on its way into the mailbox. */
		ops_sleep(wait_base(5.0));
		found = lookup(r, msgid, since, gid, gthread, lerr,
		    sizeof(lerr));
		if (found == 1) {
			trace(r, "look-up: found <%s>: message %s", msgid, *gid);
			return SENT;
		}
		if (found < 0) {
			say(why, whylen, "%s; the message may have been "
			    "sent, and looking for its Message-ID <%s> failed: "
			    "%s", err, msgid, lerr);
			return UNKNOWN;
		}
		if (attempt >= r->max_sends) {
			say(why, whylen, "%s; the message may have been "
			    "sent: Message-ID <%s> not found after %d tries",
			    err, msgid, attempt);
			return UNKNOWN;
		}
		trace(r, "look-up: <%s> not found: sending again", msgid);
	}
}

/* ---------------------------------------------------------------- composing */

static char *
new_msgid(const char *from)
{
	const char *at = strrchr(from, '@');
	unsigned char rnd[16];
	char hex[33], *id, *p;

	if (ops_random_bytes(rnd, sizeof(rnd)) != 0)
		ops_die(OPS_EX_SOFTWARE, "no random bytes");
	ops_hex(rnd, 16, hex);
	id = ops_xasprintf("%s.mail-send@%s", hex, at != NULL ? at + 1 :
	    "mail-send.invalid");
	for (p = id; *p != '\0'; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	return id;
}

static char *
pixel_url(const struct run *r, const char *pixel_id)
{
	if (!r->tracking || pixel_id == NULL || *pixel_id == '\0')
		return NULL;
	return ops_xasprintf("%s/%s.gif", r->pixel_base, pixel_id);
}

/* The message as the account sends it. Caller frees. */
static char *
compose(struct run *r, const struct ops_mail *m, const char *msgid,
    const char *purl, size_t *len, char **text, char **html, char *why,
    size_t whylen)
{
	struct ops_compose o;

	memset(&o, 0, sizeof(o));
	o.from_addr = r->from_addr;
	o.from_name = r->from_name;
	o.signature = r->signature;
	o.reply_to = r->sa_reply_to;
	o.pixel_url = purl;
	o.message_id = msgid;
	o.date = time(NULL);
	return ops_mail_compose(m, &o, len, text, html, why, whylen);
}

/* ---------------------------------------------------------------- requests */

static void
create_draft(struct run *r, const struct ops_mail *m)
{
	struct ops_compose o;
	char why[512], err[512], id[OPS_UUID_LEN + 1], sha[65], *raw;
	const char *user = ops_config_str(r->cfg, "GMAIL_USER");
	size_t len;

	/* The size check, with what is known offline. */
	memset(&o, 0, sizeof(o));
	o.from_addr = ops_addr_check(user, err, sizeof(err)) == 0 ? user :
	    "mail-send@example.invalid";
	o.message_id = "size-check@example.invalid";
	o.date = time(NULL);
	raw = ops_mail_compose(m, &o, &len, NULL, NULL, why, sizeof(why));
	if (raw == NULL) {
		answer_error(r, OPS_EX_PARTIAL, "%s", why);
		return;
	}
	free(raw);
	if (ops_draft_create(r->store, m, id, sha, err, sizeof(err)) != 0) {
		answer_error(r, OPS_EX_PARTIAL, "store: %s", err);
		return;
	}
	trace(r, "store: draft %s pending, sha256 %s", id, sha);
	ops_jw_open(r->w);
	ops_jw_str(r->w, "status", "ok");
	ops_jw_str(r->w, "mode", "draft");
	ops_jw_str(r->w, "draft_id", id);
	ops_jw_close(r->w);
	emit(r);
}

static void
send_now(struct run *r, const struct ops_mail *m)
{
	char why[1024], err[512], pixel[OPS_UUID_LEN + 1], *msgid, *purl;
	char *raw, *gid, *gthread;
	size_t len;
	int rc, code;

	if (need_sendas(r) != 0) {
		answer_error(r, r->sa_code, "%s", r->sa_err);
		return;
	}
	*pixel = '\0';
	if (r->tracking && ops_uuid4(pixel) != 0)
		ops_die(OPS_EX_SOFTWARE, "no random bytes");
	msgid = new_msgid(r->from_addr);
	purl = pixel_url(r, pixel);
	raw = compose(r, m, msgid, purl, &len, NULL, NULL, why, sizeof(why));
	free(purl);
	if (raw == NULL) {
		answer_error(r, OPS_EX_PARTIAL, "%s", why);
		free(msgid);
		return;
	}
	rc = deliver(r, raw, len, m->thread_id, msgid, ops_now(), &gid,
	    &gthread, &code, why, sizeof(why));
	free(raw);
	if (rc != SENT) {
		answer_error(r, code, "%s", why);
		free(msgid);
		return;
	}
	if (*pixel != '\0') {
		if (ops_pixel_put(r->store, pixel, m, gid, NULL, err,
		    sizeof(err)) != 0) {
			ops_warnx("%ssent as %s, but the tracking record was "
			    "not stored: %s", r->where, gid, err);
			note_failure(r, OPS_EX_PARTIAL);
		} else {
			trace(r, "store: tracking record %s", pixel);
		}
	}
	ops_jw_open(r->w);
	ops_jw_str(r->w, "status", "ok");
	ops_jw_str(r->w, "mode", "send");
	ops_jw_str(r->w, "id", gid);
	ops_jw_str(r->w, "pixel_id", *pixel != '\0' ? pixel : NULL);
	ops_jw_close(r->w);
	emit(r);
	free(gid);
	free(gthread);
	free(msgid);
}

static void
answer_sent(struct run *r, const char *gid, const char *pixel_id)
{
	ops_jw_open(r->w);
	ops_jw_str(r->w, "status", "ok");
	ops_jw_str(r->w, "message_id", gid);
	ops_jw_str(r->w, "pixel_id", pixel_id != NULL && *pixel_id != '\0' ?
	    pixel_id : NULL);
	ops_jw_close(r->w);
	emit(r);
}

/* Records the send, or says that it went but was not recorded (the next
 * --send-draft finds it by its Message-ID). */
static void
record_sent(struct run *r, struct ops_draft_claim *cl, const char *gid,
    const char *gthread)
{
	char err[512];

	if (ops_draft_sent(r->store, cl, gid, gthread, err, sizeof(err)) !=
	    0) {
		ops_warnx("%sdraft %s: sent as %s, but not recorded: %s",
		    r->where, cl->id, gid, err);
		note_failure(r, OPS_EX_PARTIAL);
	} else {
		trace(r, "store: draft %s sent as %s%s%s", cl->id, gid,
		    *cl->pixel_id != '\0' ? ", tracking record " : "",
		    cl->pixel_id);
	}
	answer_sent(r, gid, cl->pixel_id);
}

static void
release(struct run *r, struct ops_draft_claim *cl, int unsent,
    const char *why)
{
	char err[512];

	if (ops_draft_release(r->store, cl, unsent, why, err, sizeof(err)) !=
	    0)
		ops_warnx("%sdraft %s: %s", r->where, cl->id, err);
	else
		trace(r, "store: draft %s %s", cl->id, unsent ?
		    "back to pending" : "left sending: outcome unknown");
}

static void
send_draft(struct run *r, const char *id, const char *expect)
{
	struct ops_draft_claim cl;
	char why[1024], err[512], *raw, *purl, *gid, *gthread;
	const char *st;
	yajl_val rec;
	size_t len;
	int rc, code;

	if (!ops_uuid_valid(id)) {
		answer_error(r, OPS_EX_PARTIAL, "%s: not a draft id", id);
		return;
	}
	if (expect != NULL && (strlen(expect) != 64 ||
	    strspn(expect, "0123456789abcdefABCDEF") != 64)) {
		answer_error(r, OPS_EX_PARTIAL, "%s: not a sha256", expect);
		return;
	}
	if (ops_draft_lock(r->store, id, &cl, &code, err, sizeof(err)) != 0) {
		answer_error(r, code, "%s", err);
		return;
	}
	/* Refuse early what the claim would refuse, before the network. */
	rc = ops_draft_get(r->store, id, &rec, err, sizeof(err));
	if (rc <= 0) {
		answer_error(r, OPS_EX_PARTIAL, rc == 0 ? "draft %s: no such "
		    "draft" : "%s", rc == 0 ? id : err);
		goto out;
	}
	st = ops_json_str(rec, "status");
	if (st == NULL || (strcmp(st, "pending") != 0 &&
	    strcmp(st, "sending") != 0)) {
		answer_error(r, OPS_EX_PARTIAL, "draft %s: not pending (%s)",
		    id, st != NULL ? st : "no status");
		yajl_tree_free(rec);
		goto out;
	}
	yajl_tree_free(rec);
	if (need_sendas(r) != 0) {
		answer_error(r, r->sa_code, "%s", r->sa_err);
		goto out;
	}
	if (ops_draft_claim(r->store, &cl, expect, strrchr(r->from_addr, '@') +
	    1, r->tracking, &code, err, sizeof(err)) != 0) {
		answer_error(r, code, "%s", err);
		goto out;
	}
	trace(r, "store: draft %s sending, Message-ID <%s>%s", id, cl.msgid,
	    cl.recovering ? " (left sending by an earlier run)" : "");
	if (cl.recovering) {
		rc = lookup(r, cl.msgid, cl.claimed_at, &gid, &gthread, err,
		    sizeof(err));
		if (rc == 1) {
			trace(r, "look-up: <%s> was sent: message %s",
			    cl.msgid, gid);
			record_sent(r, &cl, gid, gthread);
			free(gid);
			free(gthread);
			goto out;
		}
		if (rc < 0) {
			say(why, sizeof(why), "draft %s was being sent "
			    "when an earlier run stopped, and looking for its "
			    "Message-ID <%s> failed: %s", id, cl.msgid, err);
			release(r, &cl, 0, why);
			answer_error(r, OPS_EX_PARTIAL, "%s", why);
			goto out;
		}
		trace(r, "look-up: <%s> not in the mailbox: sending", cl.msgid);
	}
	purl = pixel_url(r, cl.pixel_id);
	raw = compose(r, &cl.mail, cl.msgid, purl, &len, NULL, NULL, why,
	    sizeof(why));
	free(purl);
	if (raw == NULL) {
		release(r, &cl, !cl.recovering, why);
		answer_error(r, OPS_EX_PARTIAL, "draft %s: %s", id, why);
		goto out;
	}
	rc = deliver(r, raw, len, cl.mail.thread_id, cl.msgid, cl.claimed_at,
	    &gid, &gthread, &code, why, sizeof(why));
	free(raw);
	if (rc == SENT) {
		record_sent(r, &cl, gid, gthread);
		free(gid);
		free(gthread);
	} else {
		/* A recovered draft may have gone in the earlier run. */
		release(r, &cl, rc == NOT_SENT && !cl.recovering, why);
		answer_error(r, code, "draft %s: %s", id, why);
	}
out:
	ops_draft_claim_free(&cl);
}

/* One line of standard input: a send-draft request ({"draft_id"}, the
 * seed's /send-draft) or a message to store or send. */
static void
request(struct run *r, yajl_val v)
{
	struct ops_mail m;
	const char *mode, *id, *expect;
	char why[512];
	size_t i;

	if (ops_json_get(v, "draft_id") != NULL) {
		id = ops_json_str(v, "draft_id");
		expect = ops_json_str(v, "expect_sha256");
		for (i = 0; i < v->u.object.len; i++)
			if (strcmp(v->u.object.keys[i], "draft_id") != 0 &&
			    strcmp(v->u.object.keys[i], "expect_sha256") != 0) {
				answer_error(r, OPS_EX_PARTIAL, "unknown field "
				    "\"%s\" in a send-draft request",
				    v->u.object.keys[i]);
				return;
			}
		if (id == NULL || (ops_json_get(v, "expect_sha256") != NULL &&
		    expect == NULL)) {
			answer_error(r, OPS_EX_PARTIAL, "draft_id and "
			    "expect_sha256 must be strings");
			return;
		}
		send_draft(r, id, expect);
		return;
	}
	mode = r->mode;
	if (ops_json_get(v, "mode") != NULL) {
		mode = ops_json_str(v, "mode");
		if (mode == NULL || (strcmp(mode, "draft") != 0 &&
		    strcmp(mode, "send") != 0)) {
			answer_error(r, OPS_EX_PARTIAL, "mode: draft or send");
			return;
		}
	}
	if (ops_mail_parse(v, "message", 1, &m, why, sizeof(why)) != 0) {
		answer_error(r, OPS_EX_PARTIAL, "%s", why);
		return;
	}
	if (strcmp(mode, "draft") == 0)
		create_draft(r, &m);
	else
		send_now(r, &m);
	ops_mail_free(&m);
}

static void
run_stream(struct run *r)
{
	struct ops_ndjson *rd = ops_ndjson_open(stdin, NULL, 0);
	unsigned long bad = 0;
	yajl_val v;
	int rc;

	for (;;) {
		rc = ops_ndjson_next(rd, &v);
		/* Skipped lines answer too, so answers match lines. */
		*r->where = '\0';
		for (; bad < ops_ndjson_bad(rd); bad++) {
			ops_jw_open(r->w);
			ops_jw_str(r->w, "status", "error");
			ops_jw_str(r->w, "error", "not a JSON object");
			ops_jw_close(r->w);
			emit(r);
			note_failure(r, OPS_EX_PARTIAL);
		}
		if (rc != 1)
			break;
		say(r->where, sizeof(r->where), "line %lu: ",
		    ops_ndjson_lineno(rd));
		request(r, v);
		yajl_tree_free(v);
	}
	*r->where = '\0';
	if (rc < 0)
		note_failure(r, OPS_EX_PARTIAL);
	ops_ndjson_close(rd);
}

/* ---------------------------------------------------------------- drafts */

static int
print_record(yajl_val rec, void *arg)
{
	struct run *r = arg;

	ops_jw_value(r->w, rec);
	emit(r);
	return 0;
}

static void
list_drafts(struct run *r, const char *status)
{
	char err[512];

	if (ops_draft_list(r->store, status, print_record, r, err,
	    sizeof(err)) != 0)
		answer_error(r, OPS_EX_PARTIAL, "%s", err);
}

static void
show_draft(struct run *r, const char *id)
{
	struct ops_mail m;
	char why[512], err[512], sha[65], pixel[OPS_UUID_LEN + 1];
	char *msgid, *purl, *raw, *text, *html;
	const char *stored;
	yajl_val rec;
	size_t len;
	int rc;

	if (!ops_uuid_valid(id)) {
		answer_error(r, OPS_EX_PARTIAL, "%s: not a draft id", id);
		return;
	}
	rc = ops_draft_get(r->store, id, &rec, err, sizeof(err));
	if (rc <= 0) {
		answer_error(r, OPS_EX_PARTIAL, rc == 0 ? "draft %s: no such "
		    "draft" : "%s", rc == 0 ? id : err);
		return;
	}
	if (ops_mail_parse(rec, "body", 0, &m, why, sizeof(why)) != 0) {
		answer_error(r, OPS_EX_PARTIAL, "draft %s: bad record: %s", id,
		    why);
		yajl_tree_free(rec);
		return;
	}
	ops_mail_sha256(&m, sha);
	stored = ops_json_str(rec, "sha256");
	if (stored == NULL || strcmp(stored, sha) != 0)
		ops_warnx("draft %s: content sha256 %s differs from the "
		    "recorded %s: it cannot be sent", id, sha, stored != NULL ?
		    stored : "(none)");
	if (need_sendas(r) != 0) {
		answer_error(r, r->sa_code, "%s", r->sa_err);
		goto out;
	}
	/* Date, Message-ID, boundaries and the pixel id are made anew when
	 * the draft is sent: samples here, outside the hash. */
	if (ops_uuid4(pixel) != 0)
		ops_die(OPS_EX_SOFTWARE, "no random bytes");
	msgid = new_msgid(r->from_addr);
	purl = pixel_url(r, pixel);
	raw = compose(r, &m, msgid, purl, &len, &text, &html, why,
	    sizeof(why));
	free(purl);
	free(msgid);
	if (raw == NULL) {
		answer_error(r, OPS_EX_PARTIAL, "draft %s: %s", id, why);
		goto out;
	}
	ops_jw_open(r->w);
	ops_jw_str(r->w, "draft_id", id);
	ops_jw_str(r->w, "status", ops_json_str(rec, "status"));
	ops_jw_str(r->w, "sha256", sha);
	ops_jw_str(r->w, "from", r->from_addr);
	ops_jw_str(r->w, "to", m.to);
	ops_jw_str(r->w, "cc", m.cc);
	ops_jw_str(r->w, "bcc", m.bcc);
	ops_jw_str(r->w, "subject", m.subject);
	ops_jw_str(r->w, "text", text);
	ops_jw_str(r->w, "html", html);
	ops_jw_strn(r->w, "message", raw, len);
	ops_jw_close(r->w);
	emit(r);
	free(raw);
	free(text);
	free(html);
out:
	ops_mail_free(&m);
	yajl_tree_free(rec);
}

static void
reject_draft(struct run *r, const char *id)
{
	char err[512];

	if (!ops_uuid_valid(id)) {
		answer_error(r, OPS_EX_PARTIAL, "%s: not a draft id", id);
		return;
	}
	if (ops_draft_reject(r->store, id, err, sizeof(err)) != 0) {
		answer_error(r, OPS_EX_PARTIAL, "%s", err);
		return;
	}
	trace(r, "store: draft %s rejected", id);
	ops_jw_open(r->w);
	ops_jw_str(r->w, "status", "ok");
	ops_jw_str(r->w, "draft_id", id);
	ops_jw_str(r->w, "draft_status", "rejected");
	ops_jw_close(r->w);
	emit(r);
}

static void
show_opens(struct run *r, const char *id)
{
	char err[512];
	int rc;

	if (id != NULL && !ops_uuid_valid(id)) {
		answer_error(r, OPS_EX_PARTIAL, "%s: not a pixel id", id);
		return;
	}
	rc = ops_pixel_list(r->store, id, print_record, r, err, sizeof(err));
	if (rc < 0)
		answer_error(r, OPS_EX_PARTIAL, "%s", err);
	else if (rc == 0 && id != NULL)
		answer_error(r, OPS_EX_PARTIAL, "pixel %s: no such tracking "
		    "record", id);
}

/* ---------------------------------------------------------------- setup */

/* ENABLE_TRACKING needs a base URL that is https (http to loopback for
 * tests) and safe inside an HTML attribute. */
static void
check_tracking(struct run *r)
{
	const char *base = ops_config_str(r->cfg, "PIXEL_TRACKER_BASE_URL");
	size_t n;

	r->tracking = ops_config_bool(r->cfg, "ENABLE_TRACKING");
	if (!r->tracking)
		return;
	if (*base == '\0')
		ops_die(OPS_EX_CONFIG, "ENABLE_TRACKING is true but "
		    "PIXEL_TRACKER_BASE_URL is not set");
	if (!ops_url_is_https(base) && !(strncasecmp(base, "http://", 7) == 0 &&
	    ops_url_is_loopback(base)))
		ops_die(OPS_EX_CONFIG, "PIXEL_TRACKER_BASE_URL %s: must be "
		    "https (or http to a loopback host)", base);
	n = strspn(base, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789-._~:/%[]");
	if (base[n] != '\0')
		ops_die(OPS_EX_CONFIG, "PIXEL_TRACKER_BASE_URL %s: no query, "
		    "fragment, quotes or spaces", base);
	r->pixel_base = ops_xstrdup(base);
	n = strlen(r->pixel_base);
	while (n > 0 && r->pixel_base[n - 1] == '/')
		r->pixel_base[--n] = '\0';
}

/* messages.send gets an http of its own with one try per call: a retry
 * there is decided by deliver(), after a look-up. */
static void
open_network(struct run *r)
{
	char *saved;
	long long tries = ops_config_int(r->cfg, "HTTP_MAX_TRIES");

	if (r->verbose)
		setenv("GMAIL_OPS_DEBUG", "1", 1);	/* one line per call */
	r->auth = ops_auth_new(r->cfg);
	r->http = ops_http_new(r->cfg, r->auth);
	saved = ops_xstrdup(ops_config_str(r->cfg, "HTTP_MAX_TRIES"));
	ops_config_set_flag(r->cfg, "HTTP_MAX_TRIES", "1");
	r->send_http = ops_http_new(r->cfg, r->auth);
	ops_config_set_flag(r->cfg, "HTTP_MAX_TRIES", saved);
	free(saved);
	ops_auth_set_http(r->auth, r->http);	/* tokens: with retries */
	r->max_sends = tries < 1 ? 1 : tries > MAX_SENDS ? MAX_SENDS :
	    (int)tries;
}

enum { O_TO = 0x100, O_CC, O_BCC, O_SUBJECT, O_MESSAGE, O_HTML, O_MODE,
	O_LIST, O_STATUS, O_SHOW, O_REJECT, O_SEND_DRAFT, O_EXPECT, O_OPENS };
#define NFIELDS (O_HTML - O_TO + 1)

/* The request of --to, --cc, --bcc, --subject, --message and --html,
 * through the same path as a line of standard input. */
static void
flag_request(struct run *r, const char *const fields[NFIELDS])
{
	static const char *const names[NFIELDS] = { "to", "cc", "bcc",
		"subject", "message", "html" };
	struct ops_jw *w = ops_jw_new();
	const char *text;
	char err[256];
	yajl_val v;
	size_t len;
	int i;

	ops_jw_open(w);
	for (i = 0; i < NFIELDS; i++)
		if (fields[i] != NULL)
			ops_jw_str(w, names[i], fields[i]);
	ops_jw_close(w);
	text = ops_jw_text(w, &len);
	v = ops_jw_failed(w) ? NULL : ops_json_parse(text, err, sizeof(err));
	if (v == NULL)
		answer_error(r, OPS_EX_PARTIAL, "the options are not valid "
		    "UTF-8");
	else
		request(r, v);
	yajl_tree_free(v);
	ops_jw_free(w);
}

int
main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		OPS_CLI_LONGOPTS,
		{ "to", required_argument, NULL, O_TO },
		{ "cc", required_argument, NULL, O_CC },
		{ "bcc", required_argument, NULL, O_BCC },
		{ "subject", required_argument, NULL, O_SUBJECT },
		{ "message", required_argument, NULL, O_MESSAGE },
		{ "html", required_argument, NULL, O_HTML },
		{ "mode", required_argument, NULL, O_MODE },
		{ "list", no_argument, NULL, O_LIST },
		{ "status", required_argument, NULL, O_STATUS },
		{ "show", required_argument, NULL, O_SHOW },
		{ "reject", required_argument, NULL, O_REJECT },
		{ "send-draft", required_argument, NULL, O_SEND_DRAFT },
		{ "expect-sha256", required_argument, NULL, O_EXPECT },
		{ "opens", no_argument, NULL, O_OPENS },
		{ NULL, 0, NULL, 0 }
	};
	const char *fields[NFIELDS] = { NULL };
	const char *mode = NULL, *status = NULL, *id = NULL, *expect = NULL;
	struct ops_cli cli = { 0 };
	struct run r;
	struct ops_log *log;
	int ch, action = 0, nfields = 0, code, i;
	char err[512];

	ops_setprogname(argv[0]);
	memset(&r, 0, sizeof(r));
	while ((ch = getopt_long(argc, argv, "c:ho:v", longopts, NULL)) !=
	    -1) {
		if (ops_cli_option(&cli, ch, optarg))
			continue;
		switch (ch) {
		case O_TO: case O_CC: case O_BCC: case O_SUBJECT:
		case O_MESSAGE: case O_HTML:
			fields[ch - O_TO] = optarg;
			nfields++;
			break;
		case O_MODE:
			mode = optarg;
			break;
		case O_LIST: case O_OPENS:
			if (action != 0)
				usage(0);
			action = ch;
			break;
		case O_SHOW: case O_REJECT: case O_SEND_DRAFT:
			if (action != 0)
				usage(0);
			action = ch;
			id = optarg;
			break;
		case O_STATUS:
			status = optarg;
			break;
		case O_EXPECT:
			expect = optarg;
			break;
		case 'v':
			r.verbose = 1;
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
	if (argc > (action == O_OPENS ? 1 : 0))
		usage(0);
	if (action == O_OPENS && argc == 1)
		id = argv[0];
	if ((status != NULL && action != O_LIST) ||
	    (expect != NULL && action != O_SEND_DRAFT) ||
	    ((nfields > 0 || mode != NULL) && action != 0))
		usage(0);
	if (status != NULL && strcmp(status, "pending") != 0 &&
	    strcmp(status, "sending") != 0 && strcmp(status, "sent") != 0 &&
	    strcmp(status, "rejected") != 0) {
		ops_warnx("--status %s: pending, sending, sent or rejected",
		    status);
		usage(0);
	}
	if (mode != NULL && strcmp(mode, "draft") != 0 &&
	    strcmp(mode, "send") != 0) {
		ops_warnx("--mode %s: draft or send", mode);
		usage(0);
	}

	r.cfg = ops_cli_config(&cli);
	log = ops_log_env(r.cfg);
	if (ops_config_origin(r.cfg, "SCOPES") == OPS_ORIGIN_DEFAULT)
		ops_config_set_flag(r.cfg, "SCOPES", SCOPES_DEFAULT);
	r.mode = mode != NULL ? mode : ops_config_str(r.cfg, "SEND_MODE");
	if (strcmp(r.mode, "draft") != 0 && strcmp(r.mode, "send") != 0)
		ops_die(OPS_EX_CONFIG, "SEND_MODE %s: draft or send", r.mode);
	if (action == 0 || action == O_SHOW || action == O_SEND_DRAFT)
		check_tracking(&r);
	r.store = ops_mailstore_open(r.cfg, &code, err, sizeof(err));
	if (r.store == NULL)
		ops_die(code, "%s", err);
	r.w = ops_jw_new();
	open_network(&r);

	switch (action) {
	case O_LIST:
		list_drafts(&r, status);
		break;
	case O_SHOW:
		show_draft(&r, id);
		break;
	case O_REJECT:
		reject_draft(&r, id);
		break;
	case O_SEND_DRAFT:
		send_draft(&r, id, expect);
		break;
	case O_OPENS:
		show_opens(&r, id);
		break;
	default:
		if (nfields > 0)
			flag_request(&r, fields);
		else
			run_stream(&r);
		break;
	}

	ops_jw_free(r.w);
	ops_http_free(r.send_http);
	ops_http_free(r.http);
	ops_auth_free(r.auth);
	ops_mailstore_close(r.store);
	free(r.pixel_base);
	free(r.from_addr);
	free(r.from_name);
	free(r.signature);
	free(r.sa_reply_to);
	ops_log_close(log);
	ops_config_free(r.cfg);
	i = ops_close_stdout();
	return r.status != 0 ? r.status : i;
}
