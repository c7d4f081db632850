/* multi.c: several requests in flight through the libcurl multi interface
 * (HTTP/2 streams on one connection where the server offers them, else up
 * to max connections). Each request goes through http.c's retry engine
 * (ops_http_call_*): the same token, quota, retry and error rules as
 * ops_http_do, one request at a time. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "gmailops.h"

#define MULTI_MAX	64	/* bound on requests in flight */
#define POLL_MAX_MS	1000	/* longest sleep between looks at the clock */

enum slot_state { SLOT_FREE, SLOT_WAIT, SLOT_RUN, SLOT_DONE };

struct multi_slot {
	enum slot_state	 state;
	CURL		*easy;		/* one per slot, reused */
	struct ops_http_call *call;
	void		*tag;		/* the caller's */
	unsigned long	 seq;		/* order of ops_multi_add */
	double		 wake;		/* SLOT_WAIT: monotonic time to try */
	int		 ok;		/* SLOT_DONE: 2xx answer */
	int		 https;
};

struct ops_multi {
	struct ops_http	*http;
	CURLM		*cm;
	struct multi_slot *slot;
	int		 nslot;
	unsigned long	 seq;
};

struct ops_multi *
ops_multi_new(struct ops_http *h, int max)
{
	struct ops_multi *m = ops_xmalloc(sizeof(*m));
	int i;

	if (max < 1)
		max = 1;
	if (max > MULTI_MAX)
		max = MULTI_MAX;
	memset(m, 0, sizeof(*m));
	m->http = h;
	m->cm = curl_multi_init();
	if (m->cm == NULL)
		ops_die(OPS_EX_SOFTWARE, "curl_multi_init failed");
	/* HTTP/2: many streams on one connection (CURLOPT_PIPEWAIT makes
	 * a transfer wait for it); HTTP/1.1: up to max connections. */
	curl_multi_setopt(m->cm, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
	curl_multi_setopt(m->cm, CURLMOPT_MAX_HOST_CONNECTIONS, (long)max);
	curl_multi_setopt(m->cm, CURLMOPT_MAXCONNECTS, (long)max);
	m->nslot = max;
	m->slot = ops_xmalloc(sizeof(*m->slot) * (size_t)max);
	memset(m->slot, 0, sizeof(*m->slot) * (size_t)max);
	for (i = 0; i < max; i++) {
		m->slot[i].easy = curl_easy_init();
		if (m->slot[i].easy == NULL)
			ops_die(OPS_EX_SOFTWARE, "curl_easy_init failed");
	}
	return m;
}

void
ops_multi_free(struct ops_multi *m)
{
	int i;

	if (m == NULL)
		return;
	for (i = 0; i < m->nslot; i++) {
		if (m->slot[i].state == SLOT_RUN)
			curl_multi_remove_handle(m->cm, m->slot[i].easy);
		ops_http_call_free(m->slot[i].call);
		curl_easy_cleanup(m->slot[i].easy);
	}
	curl_multi_cleanup(m->cm);
	free(m->slot);
	free(m);
}

int
ops_multi_max(const struct ops_multi *m)
{
	return m->nslot;
}

int
ops_multi_pending(const struct ops_multi *m)
{
	int i, n = 0;

	for (i = 0; i < m->nslot; i++)
		if (m->slot[i].state != SLOT_FREE)
			n++;
	return n;
}

void
ops_multi_add(struct ops_multi *m, const struct ops_http_req *req, void *tag)
{
	int i;

	for (i = 0; i < m->nslot; i++)
		if (m->slot[i].state == SLOT_FREE)
			break;
	if (i == m->nslot)
		ops_die(OPS_EX_SOFTWARE, "internal error: ops_multi_add: "
		    "%d requests already pending", m->nslot);
	m->slot[i].call = ops_http_call_new(m->http, req);
	m->slot[i].tag = tag;
	m->slot[i].seq = m->seq++;
	m->slot[i].state = SLOT_WAIT;
	m->slot[i].wake = 0;
	m->slot[i].ok = 0;
	m->slot[i].https = ops_url_is_https(req->url);
}

/* The slot in state st with the lowest sequence number (and, for
 * SLOT_WAIT, due by now), or NULL. */
static struct multi_slot *
first_slot(struct ops_multi *m, enum slot_state st, double now)
{
	struct multi_slot *best = NULL;
	int i;

	for (i = 0; i < m->nslot; i++) {
		struct multi_slot *s = &m->slot[i];
		if (s->state != st || (st == SLOT_WAIT && s->wake > now))
			continue;
		if (best == NULL || s->seq < best->seq)
			best = s;
	}
	return best;
}

/* Starts the waiting requests that are due, oldest first, as far as the
 * quota bucket lets them go. */
static void
start_due(struct ops_multi *m, double now)
{
	struct multi_slot *s;
	double wait;
	int i;

	for (i = 0; i < m->nslot; i++) {
		s = first_slot(m, SLOT_WAIT, now);
		if (s == NULL)
			return;
		wait = ops_http_call_prepare(m->http, s->call, s->easy);
		if (wait < 0) {
			s->state = SLOT_DONE;
			s->ok = 0;
			continue;
		}
		if (wait > 0) {
			/* The bucket is shared: nobody else can go now. */
			s->wake = now + wait;
			return;
		}
		/* HTTP/2 is offered over TLS only (ALPN): there, wait for
		 * the connection's answer and share it; over plain http
		 * (loopback tests) waiting would only serialise. */
		curl_easy_setopt(s->easy, CURLOPT_HTTP_VERSION,
		    (long)CURL_HTTP_VERSION_2TLS);
		if (s->https)
			curl_easy_setopt(s->easy, CURLOPT_PIPEWAIT, 1L);
		if (curl_multi_add_handle(m->cm, s->easy) != CURLM_OK)
			ops_die(OPS_EX_SOFTWARE, "curl_multi_add_handle failed");
		s->state = SLOT_RUN;
	}
}

static struct multi_slot *
slot_of(struct ops_multi *m, CURL *easy)
{
	int i;

	for (i = 0; i < m->nslot; i++)
		if (m->slot[i].easy == easy && m->slot[i].state == SLOT_RUN)
			return &m->slot[i];
	return NULL;
}

/* Judges every finished transfer. */
static void
reap(struct ops_multi *m)
{
	struct multi_slot *s;
	CURLMsg *msg;
	enum ops_http_verdict v;
	double wait;
	int left;

	for (;;) {
		msg = curl_multi_info_read(m->cm, &left);
		if (msg == NULL)
			break;
		if (msg->msg != CURLMSG_DONE)
			continue;
		s = slot_of(m, msg->easy_handle);
		if (s == NULL)
			continue;
		curl_multi_remove_handle(m->cm, s->easy);
		v = ops_http_call_judge(m->http, s->call, s->easy,
		    (int)msg->data.result, &wait);
		if (v == OPS_HTTP_RETRY) {
			s->state = SLOT_WAIT;
			s->wake = ops_monotonic() + wait;
		} else {
			s->state = SLOT_DONE;
			s->ok = v == OPS_HTTP_OK;
		}
	}
}

/* Counts running and waiting slots; *soonest: the earliest wake. */
static void
census(struct ops_multi *m, int *running, int *waiting, double *soonest)
{
	int i;

	*running = *waiting = 0;
	for (i = 0; i < m->nslot; i++) {
		if (m->slot[i].state == SLOT_RUN)
			(*running)++;
		if (m->slot[i].state == SLOT_WAIT) {
			(*waiting)++;
			*soonest = fmin(*soonest, m->slot[i].wake);
		}
	}
}

int
ops_multi_next(struct ops_multi *m, void **tag, struct ops_http_resp *resp,
    int *ok)
{
	struct multi_slot *s;
	double now, soonest;
	int running, waiting, still, ms;

	for (;;) {
		now = ops_monotonic();
		s = first_slot(m, SLOT_DONE, now);
		if (s != NULL) {
			*tag = s->tag;
			*ok = s->ok;
			ops_http_call_take(s->call, resp);
			ops_http_call_free(s->call);
			s->call = NULL;
			s->state = SLOT_FREE;
			return 1;
		}
		start_due(m, now);
		if (first_slot(m, SLOT_DONE, now) != NULL)
			continue;
		soonest = now + POLL_MAX_MS / 1000.0;
		census(m, &running, &waiting, &soonest);
		if (running > 0) {
			if (curl_multi_perform(m->cm, &still) != CURLM_OK)
				ops_die(OPS_EX_SOFTWARE, "curl_multi_perform "
				    "failed");
			reap(m);
			if (first_slot(m, SLOT_DONE, now) != NULL)
				continue;
			soonest = now + POLL_MAX_MS / 1000.0;
			census(m, &running, &waiting, &soonest);
		}
		if (running == 0 && waiting == 0)
			return 0;
		ms = (int)ceil((soonest - ops_monotonic()) * 1000.0);
		if (ms <= 0)
			continue;
		if (ms > POLL_MAX_MS)
			ms = POLL_MAX_MS;
		/* curl_multi_poll also wakes for libcurl's own timers. */
		if (running > 0)
			curl_multi_poll(m->cm, NULL, 0, ms, NULL);
		else
			ops_sleep(ms / 1000.0);
	}
}
