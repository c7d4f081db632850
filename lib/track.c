/* track.c: the tracking pixel's hits. Each hit is one LMDB write
 * transaction on the environment of drafts.c (var/db/mail): the tracking
 * record of PIXEL_COLLECTION gets open_count + 1 and its dates, and the
 * sub-database "<PIXEL_COLLECTION>_hits" one entry per hit. LMDB has one
 * writer at a time, across threads and processes, so hits that arrive
 * together are counted one after the other and none is lost. */
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <lmdb.h>

#include "gmailops.h"

#define HITS_SUFFIX	"_hits"
#define MAX_RECORD	((size_t)64 << 10)	/* a tracking record's JSON */

struct ops_track {
	struct ops_mailstore	*store;		/* borrowed */
	MDB_env			*env;		/* the store's */
	MDB_dbi			 pixels, hits;
	double			 window;
	char			*hits_name;
};


/* ---------------------------------------------------------------- classes */

/* Does s contain word, ignoring case? */
static int
has(const char *s, const char *word)
{
	return strcasestr(s, word) != NULL;
}

/* User-agents of programs that fetch what they find in a message without
 * anyone reading it: link scanners of mail gateways, previewers, tools. */
static const char *const robots[] = {
	"bot", "spider", "crawl", "scanner", "preview", "curl/", "wget/",
	"python-", "go-http-client", "java/", "libwww", "okhttp", "axios/",
	"node-fetch", "headlesschrome", "phantomjs", "barracuda",
	"mimecast", "proofpoint", "symantec", "trendmicro", "forcepoint",
	"facebookexternalhit", "slackbot", "whatsapp", "skypeuripreview",
	NULL
};

void
ops_track_classify(const char *ua, double age, double window,
    struct ops_track_hit *out)
{
	size_t i;

	out->machine = 0;
	if (ua == NULL || *ua == '\0') {
		out->ua_class = "none";
		out->machine = 1;
		out->why = "no-user-agent";
	} else if (has(ua, "GoogleImageProxy")) {
		/* Gmail fetches images through its proxy when the message
		 * is shown: a real open, unless right after the send. */
		out->ua_class = "gmail-proxy";
		out->why = "proxy-fetch-on-open";
	} else if (strcmp(ua, "Mozilla/5.0") == 0) {
		/* Apple Mail Privacy Protection loads every remote image
		 * through Apple's proxies when the message reaches the
		 * device, opened or not, with this bare user-agent. */
		out->ua_class = "apple-mpp";
		out->machine = 1;
		out->why = "apple-privacy-prefetch";
	} else if (has(ua, "YahooMailProxy")) {
		out->ua_class = "yahoo-proxy";
		out->why = "proxy-fetch-on-open";
	} else if (has(ua, "Outlook") || has(ua, "Microsoft Office") ||
	    has(ua, "ms-office") || has(ua, "Thunderbird") ||
	    (has(ua, "AppleWebKit") && !has(ua, "Safari") &&
	    (has(ua, "Macintosh") || has(ua, "iPhone") || has(ua, "iPad")))) {
		/* A mail program's own engine: Apple Mail's WebKit says no
		 * "Safari", Outlook and Thunderbird name themselves. */
		out->ua_class = "mail-client";
		out->why = "client-open";
	} else {
		out->ua_class = NULL;
		for (i = 0; robots[i] != NULL; i++)
			if (has(ua, robots[i]))
				break;
		if (robots[i] != NULL) {
			out->ua_class = "robot";
			out->machine = 1;
			out->why = "robot-user-agent";
		} else if (strncmp(ua, "Mozilla/", 8) == 0 && (has(ua,
		    "Firefox/") || has(ua, "Chrome/") || has(ua, "Safari/") ||
		    has(ua, "Edg/"))) {
			out->ua_class = "browser";
			out->why = "webmail-open";
		} else {
			out->ua_class = "other";
			out->why = "no-machine-sign";
		}
	}
	/* Whatever asks within seconds of the send (or before its record
	 * was written) is a gateway or a prefetch, not a reader. */
	if (!out->machine && window > 0 && age < window) {
		out->machine = 1;
		out->why = "soon-after-send";
	}
}

/* ---------------------------------------------------------------- store */

struct ops_track *
ops_track_open(struct ops_mailstore *s, const struct ops_config *c,
    double window, int *code, char *errmsg, size_t errlen)
{
	struct ops_track *t = ops_xmalloc(sizeof(*t));
	const char *pname = ops_config_str(c, "PIXEL_COLLECTION");
	const char *dname = ops_config_str(c, "DRAFT_COLLECTION");
	MDB_txn *txn;
	int rc;

	memset(t, 0, sizeof(*t));
	t->store = s;
	t->env = ops_mailstore_env(s);
	t->pixels = ops_mailstore_pixel_dbi(s);
	t->window = window;
	t->hits_name = ops_xasprintf("%s%s", pname, HITS_SUFFIX);
	*code = OPS_EX_CONFIG;
	if (strcmp(t->hits_name, dname) == 0) {
		ops_errf(errmsg, errlen, "DRAFT_COLLECTION %s: the name of the "
		    "hits of PIXEL_COLLECTION %s", dname, pname);
		goto free_t;
	}
	*code = OPS_EX_IOERR;
	/* A system crash may undo the last hits, never break the file:
	 * one sync per hit, not two. Only this process's commits. */
	rc = mdb_env_set_flags(t->env, MDB_NOMETASYNC, 1);
	if (rc == 0)
		rc = mdb_txn_begin(t->env, NULL, 0, &txn);
	if (rc != 0) {
		ops_errf(errmsg, errlen, "%s: %s", ops_mailstore_path(s),
		    mdb_strerror(rc));
		goto free_t;
	}
	/* Before any other thread uses the environment, as LMDB asks. */
	rc = mdb_dbi_open(txn, t->hits_name, MDB_CREATE, &t->hits);
	if (rc != 0) {
		mdb_txn_abort(txn);
		ops_errf(errmsg, errlen, "%s: %s: %s", ops_mailstore_path(s),
		    t->hits_name, mdb_strerror(rc));
		goto free_t;
	}
	rc = mdb_txn_commit(txn);
	if (rc != 0) {
		ops_errf(errmsg, errlen, "%s: %s", ops_mailstore_path(s),
		    mdb_strerror(rc));
		goto free_t;
	}
	return t;
free_t:
	free(t->hits_name);
	free(t);
	return NULL;
}

void
ops_track_close(struct ops_track *t)
{
	if (t == NULL)
		return;
	free(t->hits_name);
	free(t);
}

/* The record with the hit applied, every other field as it was and in
 * its place; the fields a hit sets are added at the end when missing. */
static void
record_write(struct ops_jw *w, yajl_val rec, long long count,
    long long human, const char *first, const char *last,
    const char *first_human)
{
	static const char *const ours[] = { "open_count", "first_opened_at",
		"last_opened_at", "human_open_count", "first_human_open_at",
		NULL };
	int seen[5] = { 0 };
	size_t i, k;

	ops_jw_open(w);
	for (i = 0; i <= rec->u.object.len; i++) {
		const char *key = i < rec->u.object.len ?
		    rec->u.object.keys[i] : NULL;
		for (k = 0; ours[k] != NULL; k++) {
			if (key != NULL ? strcmp(key, ours[k]) != 0 : seen[k])
				continue;
			seen[k] = 1;
			switch (k) {
			case 0: ops_jw_int(w, ours[k], count); break;
			case 1: ops_jw_str(w, ours[k], first); break;
			case 2: ops_jw_str(w, ours[k], last); break;
			case 3: ops_jw_int(w, ours[k], human); break;
			case 4: ops_jw_str(w, ours[k], first_human); break;
			}
			if (key != NULL)
				break;
		}
		if (key != NULL && ours[k] == NULL) {
			ops_jw_key(w, key);
			ops_jw_value(w, rec->u.object.values[i]);
		}
	}
	ops_jw_close(w);
}

static int
put(MDB_txn *txn, MDB_dbi dbi, const char *key, struct ops_jw *w,
    unsigned int flags, char *errmsg, size_t errlen)
{
	MDB_val k, v;
	int rc;

	if (ops_jw_failed(w))
		return ops_errf(errmsg, errlen, "%s: cannot encode the record", key);
	k.mv_data = (void *)key;
	k.mv_size = strlen(key);
	v.mv_data = (void *)ops_jw_text(w, &v.mv_size);
	rc = mdb_put(txn, dbi, &k, &v, flags);
	if (rc != 0)
		return ops_errf(errmsg, errlen, "%s: %s", key, mdb_strerror(rc));
	return 0;
}

int
ops_track_record(struct ops_track *t, const char *pixel_id, const char *ua,
    double now, struct ops_track_hit *hit, char *errmsg, size_t errlen)
{
	char at[40], key[OPS_UUID_LEN + 16], err[256], *text;
	const char *first, *first_human, *created;
	long long count, human;
	struct ops_jw *w = NULL;
	yajl_val rec = NULL;
	MDB_txn *txn;
	MDB_val k, v;
	double sent, age;
	int rc, ret = -1;

	if (!ops_uuid_valid(pixel_id))
		return 0;
	k.mv_data = (void *)pixel_id;
	k.mv_size = OPS_UUID_LEN;
	rc = mdb_txn_begin(t->env, NULL, 0, &txn);
	if (rc != 0)
		return ops_errf(errmsg, errlen, "%s: %s",
		    ops_mailstore_path(t->store), mdb_strerror(rc));
	rc = mdb_get(txn, t->pixels, &k, &v);
	if (rc == MDB_NOTFOUND) {
		ret = 0;
		goto txn_abort;
	}
	if (rc != 0) {
		ops_errf(errmsg, errlen, "pixel %s: %s", pixel_id, mdb_strerror(rc));
		goto txn_abort;
	}
	if (v.mv_size > MAX_RECORD) {
		ops_errf(errmsg, errlen, "pixel %s: record of %zu bytes", pixel_id,
		    v.mv_size);
		goto txn_abort;
	}
	/* The value lives in the map, valid only inside the transaction. */
	text = ops_xmalloc(v.mv_size + 1);
	memcpy(text, v.mv_data, v.mv_size);
	text[v.mv_size] = '\0';
	rec = ops_json_parse(text, err, sizeof(err));
	free(text);
	if (rec == NULL || !YAJL_IS_OBJECT(rec)) {
		ops_errf(errmsg, errlen, "pixel %s: bad record: %s", pixel_id,
		    rec == NULL ? err : "not an object");
		goto txn_abort;
	}
	created = ops_json_str(rec, "created_at");
	age = created != NULL && ops_parse_rfc3339(created, &sent) == 0 ?
	    now - sent : INFINITY;
	ops_track_classify(ua, age, t->window, hit);
	if (ops_json_int(rec, "open_count", &count) != 0 || count < 0)
		count = 0;
	if (ops_json_int(rec, "human_open_count", &human) != 0 || human < 0)
		human = 0;
	count++;
	ops_iso8601_ms(now, at, sizeof(at));
	first = ops_json_str(rec, "first_opened_at");
	first_human = ops_json_str(rec, "first_human_open_at");
	if (!hit->machine) {
		human++;
		if (first_human == NULL)
			first_human = at;
	}
	w = ops_jw_new();
	record_write(w, rec, count, human, first != NULL ? first : at, at,
	    first_human);
	if (put(txn, t->pixels, pixel_id, w, 0, errmsg, errlen) != 0)
		goto txn_abort;
	if (count <= OPS_TRACK_MAX_HITS) {
		ops_jw_reset(w);
		ops_jw_open(w);
		ops_jw_int(w, "n", count);
		ops_jw_str(w, "ts", at);
		ops_jw_str(w, "ua_class", hit->ua_class);
		ops_jw_bool(w, "machine", hit->machine);
		ops_jw_str(w, "why", hit->why);
		ops_jw_close(w);
		snprintf(key, sizeof(key), "%s/%010lld", pixel_id, count);
		if (put(txn, t->hits, key, w, MDB_NOOVERWRITE, errmsg,
		    errlen) != 0)
			goto txn_abort;
	}
	rc = mdb_txn_commit(txn);
	txn = NULL;
	if (rc != 0) {
		ops_errf(errmsg, errlen, "pixel %s: commit: %s", pixel_id,
		    mdb_strerror(rc));
		goto out;
	}
	ret = 1;
	goto out;
txn_abort:
	mdb_txn_abort(txn);
out:
	ops_jw_free(w);
	yajl_tree_free(rec);
	return ret;
}

int
ops_track_hits(struct ops_track *t, const char *pixel_id,
    int (*fn)(yajl_val rec, void *arg), void *arg, char *errmsg,
    size_t errlen)
{
	char prefix[OPS_UUID_LEN + 2], err[256], *text;
	size_t plen;
	MDB_cursor *cur;
	MDB_txn *txn;
	MDB_val k, v;
	yajl_val rec;
	int rc, ret = 0, seen = 0;

	if (!ops_uuid_valid(pixel_id))
		return 0;
	plen = (size_t)snprintf(prefix, sizeof(prefix), "%s/", pixel_id);
	rc = mdb_txn_begin(t->env, NULL, MDB_RDONLY, &txn);
	if (rc != 0)
		return ops_errf(errmsg, errlen, "%s: %s",
		    ops_mailstore_path(t->store), mdb_strerror(rc));
	rc = mdb_cursor_open(txn, t->hits, &cur);
	if (rc != 0) {
		ret = ops_errf(errmsg, errlen, "%s: %s", t->hits_name,
		    mdb_strerror(rc));
		goto txn_abort;
	}
	k.mv_data = prefix;
	k.mv_size = plen;
	/* The keys of one pixel sort together, by hit number. */
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0 &&
	    ret == 0 && k.mv_size > plen && memcmp(k.mv_data, prefix,
	    plen) == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		text = ops_xasprintf("%.*s", (int)v.mv_size,
		    (const char *)v.mv_data);
		rec = ops_json_parse(text, err, sizeof(err));
		free(text);
		if (rec == NULL) {
			ops_warnx("%s: %.*s: %s", t->hits_name, (int)k.mv_size,
			    (const char *)k.mv_data, err);
			continue;
		}
		seen = 1;
		ret = fn(rec, arg);
		yajl_tree_free(rec);
	}
	if (rc != 0 && rc != MDB_NOTFOUND && ret == 0)
		ret = ops_errf(errmsg, errlen, "%s: %s", t->hits_name,
		    mdb_strerror(rc));
	mdb_cursor_close(cur);
txn_abort:
	mdb_txn_abort(txn);
	return ret != 0 ? ret : seen;
}
