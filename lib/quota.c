/* quota.c: Gmail's per-method quota units, per-run counters, and a token
 * bucket that keeps one process under the per-user limit. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gmailops.h"

struct method_units {
	const char	*method;
	int		 units;		/* both regimes, unless listed below */
};

/* Google's "Usage limits" table (units per call). */
static const struct method_units units_table[] = {
	{ "drafts.create", 10 }, { "drafts.delete", 10 }, { "drafts.get", 5 },
	{ "drafts.list", 5 }, { "drafts.send", 100 }, { "drafts.update", 15 },
	{ "getProfile", 1 }, { "history.list", 2 },
	{ "labels.create", 5 }, { "labels.delete", 5 }, { "labels.get", 1 },
	{ "labels.list", 1 }, { "labels.patch", 5 }, { "labels.update", 5 },
	{ "messages.attachments.get", 5 }, { "messages.batchDelete", 50 },
	{ "messages.batchModify", 50 }, { "messages.delete", 10 },
	{ "messages.get", 5 }, { "messages.import", 25 },
	{ "messages.insert", 25 }, { "messages.list", 5 },
	{ "messages.modify", 5 }, { "messages.send", 100 },
	{ "messages.trash", 5 }, { "messages.untrash", 5 },
	{ "settings.sendAs.get", 1 }, { "settings.sendAs.list", 1 },
	{ "stop", 50 }, { "watch", 100 },
	{ "threads.delete", 20 }, { "threads.get", 10 }, { "threads.list", 10 },
	{ "threads.modify", 10 }, { "threads.trash", 10 },
	{ "threads.untrash", 10 },
};

/* Projects created since 2026-05-01 pay 20 units for these. */
static const char *const heavy_2026[] = {
	"messages.get", "messages.attachments.get", "drafts.get",
};

#define MAX_METHODS 48

struct ops_quota {
	enum ops_quota_regime regime;
	double		 limit;		/* units per minute */
	double		 capacity;	/* bucket size */
	double		 rate;		/* refill, units per second */
	double		 tokens;
	double		 last;		/* monotonic time of last refill */
	int		 started;
	struct {
		char	 method[48];
		long	 calls;
		long	 units;
	} count[MAX_METHODS];
	int		 ncount;
};

int
ops_quota_units(enum ops_quota_regime regime, const char *method)
{
	size_t i;

	if (method == NULL)
		return 0;
	if (regime == OPS_QUOTA_2026)
		for (i = 0; i < sizeof(heavy_2026) / sizeof(heavy_2026[0]); i++)
			if (strcmp(method, heavy_2026[i]) == 0)
				return 20;
	for (i = 0; i < sizeof(units_table) / sizeof(units_table[0]); i++)
		if (strcmp(method, units_table[i].method) == 0)
			return units_table[i].units;
	return 5;
}

double
ops_quota_limit(enum ops_quota_regime regime)
{
	return regime == OPS_QUOTA_2026 ? 6000.0 : 15000.0;
}

struct ops_quota *
ops_quota_new(enum ops_quota_regime regime, double limit)
{
	struct ops_quota *q = ops_xmalloc(sizeof(*q));

	memset(q, 0, sizeof(*q));
	q->regime = regime;
	q->limit = limit > 0 ? limit : ops_quota_limit(regime);
	/* A burst of a tenth and a refill of nine tenths per minute: no
	 * 60-second window ever holds more than the limit. */
	q->capacity = q->limit / 10.0;
	q->rate = q->limit * 0.9 / 60.0;
	q->tokens = q->capacity;
	return q;
}

void
ops_quota_free(struct ops_quota *q)
{
	free(q);
}

double
ops_quota_reserve(struct ops_quota *q, int units, double now)
{
	double need;

	if (units <= 0)
		return 0;
	if (!q->started) {
		q->started = 1;
		q->last = now;
	}
	if (now > q->last) {
		q->tokens += (now - q->last) * q->rate;
		if (q->tokens > q->capacity)
			q->tokens = q->capacity;
		q->last = now;
	}
	/* A call dearer than the whole bucket goes when the bucket is full. */
	need = units < q->capacity ? units : q->capacity;
	if (q->tokens + 1e-9 >= need) {
		q->tokens -= units;
		return 0;
	}
	return (need - q->tokens) / q->rate;
}

void
ops_quota_count(struct ops_quota *q, const char *method, int units)
{
	int i;

	if (method == NULL)
		return;
	for (i = 0; i < q->ncount; i++)
		if (strcmp(q->count[i].method, method) == 0)
			break;
	if (i == q->ncount) {
		if (q->ncount == MAX_METHODS)
			i = MAX_METHODS - 1;	/* lumps the rare rest */
		else
			snprintf(q->count[q->ncount++].method,
			    sizeof(q->count[0].method), "%s", method);
	}
	q->count[i].calls++;
	q->count[i].units += units;
}

long
ops_quota_calls(const struct ops_quota *q)
{
	long n = 0;
	int i;

	for (i = 0; i < q->ncount; i++)
		n += q->count[i].calls;
	return n;
}

long
ops_quota_total_units(const struct ops_quota *q)
{
	long n = 0;
	int i;

	for (i = 0; i < q->ncount; i++)
		n += q->count[i].units;
	return n;
}

void
ops_quota_write(const struct ops_quota *q, struct ops_jw *w)
{
	int i;

	ops_jw_int(w, "gmail_api_calls", ops_quota_calls(q));
	ops_jw_int(w, "quota_units", ops_quota_total_units(q));
	ops_jw_key(w, "by_method");
	ops_jw_open(w);
	for (i = 0; i < q->ncount; i++) {
		ops_jw_key(w, q->count[i].method);
		ops_jw_open(w);
		ops_jw_int(w, "calls", q->count[i].calls);
		ops_jw_int(w, "units", q->count[i].units);
		ops_jw_close(w);
	}
	ops_jw_close(w);
}

/* Segments of a path, "/gmail/v1/users/me/messages/X" → "messages","X". */
static int
split_after_user(const char *path, char seg[4][32])
{
	const char *p = strstr(path, "/gmail/v1/users/");
	int n = 0;

	if (p == NULL)
		return -1;
	p += strlen("/gmail/v1/users/");
	p = strchr(p, '/');		/* skip the user id */
	if (p == NULL)
		return 0;
	while (*p == '/' && n < 4) {
		size_t len = strcspn(p + 1, "/?");
		if (len == 0)
			break;
		snprintf(seg[n], sizeof(seg[n]), "%.*s",
		    (int)(len < 31 ? len : 31), p + 1);
		n++;
		p += 1 + len;
	}
	return n;
}

/* Maps an HTTP method and Gmail API path to the discovery method name. */
const char *
ops_quota_method(const char *m, const char *path)
{
	static char name[96];
	char seg[4][32];
	int n = split_after_user(path, seg), get = strcmp(m, "GET") == 0,
	    post = strcmp(m, "POST") == 0;
	const char *coll, *verb;

	if (n < 0)
		return NULL;
	if (n == 0 || strcmp(seg[0], "profile") == 0)
		return "getProfile";
	coll = seg[0];
	if (strcmp(coll, "settings") == 0 && n >= 2) {
		snprintf(name, sizeof(name), "settings.%s.%s", seg[1],
		    n >= 3 ? (get ? "get" : "update") : (get ? "list" :
		    "create"));
		return name;
	}
	if (n == 1) {
		if (strcmp(coll, "history") == 0)
			return "history.list";
		verb = get ? "list" : post ? (strcmp(coll, "messages") == 0 ?
		    "insert" : "create") : "update";
	} else if (n == 2 && post) {
		verb = seg[1];			/* send, batchModify, import */
	} else if (n >= 4 && strcmp(seg[2], "attachments") == 0) {
		snprintf(name, sizeof(name), "%s.attachments.get", coll);
		return name;
	} else if (n >= 3) {
		verb = seg[2];			/* modify, trash, untrash */
	} else {
		verb = get ? "get" : strcmp(m, "DELETE") == 0 ? "delete" :
		    strcmp(m, "PATCH") == 0 ? "patch" : "update";
	}
	snprintf(name, sizeof(name), "%s.%s", coll, verb);
	return name;
}
