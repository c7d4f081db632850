/* store_records.c: the store's records as JSON: receipts with their unique
 * key and sha256 index, JobRuns, ledger rows. */
#include <stdlib.h>
#include <string.h>

#include "gmailops.h"

/* ---- receipts ---- */

void
ops_receipt_json(struct ops_jw *w, const struct ops_receipt *r)
{
	ops_jw_open(w);
	ops_jw_int(w, "id", (long long)r->id);
	ops_jw_str(w, "source", r->source);
	ops_jw_str(w, "gmail_message_id", r->gmail_message_id);
	ops_jw_str(w, "gmail_attachment_id", r->gmail_attachment_id);
	ops_jw_str(w, "part_id", r->part_id);
	ops_jw_str(w, "msg_key", r->msg_key);
	ops_jw_str(w, "original_filename", r->original_filename);
	ops_jw_str(w, "content_type", r->content_type);
	ops_jw_str(w, "sniffed_type", r->sniffed_type);
	ops_jw_int(w, "filesize", r->filesize);
	ops_jw_str(w, "sha256", r->sha256);
	ops_jw_str(w, "storage_path", r->storage_path);
	ops_jw_str(w, "sender", r->sender);
	ops_jw_str(w, "subject", r->subject);
	ops_jw_str(w, "received_at", r->received_at);
	ops_jw_str(w, "created_at", r->created_at);
	if (r->job_run_id != 0)
		ops_jw_int(w, "job_run_id", (long long)r->job_run_id);
	else
		ops_jw_null(w, "job_run_id");
	ops_jw_str(w, "state", r->state);
	ops_jw_str(w, "reason", r->reason);
	ops_jw_close(w);
}

int
ops_receipt_from_json(yajl_val v, struct ops_receipt *r)
{
	long long n;

	memset(r, 0, sizeof(*r));
	if (ops_json_int(v, "id", &n) != 0 || n <= 0)
		return -1;
	r->id = (uint64_t)n;
	r->source = ops_json_str(v, "source");
	r->gmail_message_id = ops_json_str(v, "gmail_message_id");
	r->gmail_attachment_id = ops_json_str(v, "gmail_attachment_id");
	r->part_id = ops_json_str(v, "part_id");
	r->msg_key = ops_json_str(v, "msg_key");
	r->original_filename = ops_json_str(v, "original_filename");
	r->content_type = ops_json_str(v, "content_type");
	r->sniffed_type = ops_json_str(v, "sniffed_type");
	if (ops_json_int(v, "filesize", &r->filesize) != 0)
		return -1;
	r->sha256 = ops_json_str(v, "sha256");
	r->storage_path = ops_json_str(v, "storage_path");
	r->sender = ops_json_str(v, "sender");
	r->subject = ops_json_str(v, "subject");
	r->received_at = ops_json_str(v, "received_at");
	r->created_at = ops_json_str(v, "created_at");
	if (ops_json_int(v, "job_run_id", &n) == 0 && n > 0)
		r->job_run_id = (uint64_t)n;
	r->state = ops_json_str(v, "state");
	r->reason = ops_json_str(v, "reason");
	if (r->source == NULL || r->msg_key == NULL || r->part_id == NULL ||
	    r->sha256 == NULL || r->storage_path == NULL || r->state == NULL)
		return -1;
	return 0;
}

/* "source\0msg_key\0part": caller frees; *len its length. */
static char *
unique_key(const char *source, const char *msg_key, const char *part,
    size_t *len)
{
	size_t a = strlen(source), b = strlen(msg_key), c = strlen(part);
	char *k = ops_xmalloc(a + b + c + 3);

	memcpy(k, source, a + 1);
	memcpy(k + a + 1, msg_key, b + 1);
	memcpy(k + a + b + 2, part, c + 1);
	*len = a + b + c + 2;
	return k;
}

static int
lookup_id(struct ops_store *s, enum ops_db db, const void *key, size_t klen,
    uint64_t *id)
{
	char *val;
	size_t len;

	if (ops_store_get(s, db, key, klen, &val, &len) != 0)
		return 1;
	*id = ops_store_keyid(val, len);
	free(val);
	return 0;
}

int
ops_receipt_find(struct ops_store *s, const char *source, const char *msg_key,
    const char *part, uint64_t *id)
{
	size_t len;
	char *k = unique_key(source, msg_key, part, &len);
	int rc;

	rc = lookup_id(s, OPS_DB_KEYS, k, len, id);
	free(k);
	return rc;
}

int
ops_receipt_by_sha(struct ops_store *s, const char *sha256, uint64_t *id)
{
	return lookup_id(s, OPS_DB_SHA256, sha256, strlen(sha256), id);
}

int
ops_receipt_put(struct ops_store *s, const struct ops_receipt *r)
{
	struct ops_jw *w;
	unsigned char idk[8];
	const char *text;
	size_t klen, len;
	uint64_t other;
	char *k;
	int rc = 1;

	k = unique_key(r->source, r->msg_key, r->part_id, &klen);
	if (lookup_id(s, OPS_DB_KEYS, k, klen, &other) == 0 ||
	    ops_receipt_by_sha(s, r->sha256, &other) == 0)
		goto out;
	ops_store_idkey(r->id, idk);
	w = ops_jw_new();
	ops_receipt_json(w, r);
	text = ops_jw_text(w, &len);
	if (ops_jw_failed(w))
		ops_die(OPS_EX_DATAERR, "receipt %llu: not valid UTF-8",
		    (unsigned long long)r->id);
	ops_store_put(s, OPS_DB_RECEIPTS, idk, sizeof(idk), text, len, 0);
	ops_jw_free(w);
	ops_store_put(s, OPS_DB_KEYS, k, klen, idk, sizeof(idk), 1);
	ops_store_put(s, OPS_DB_SHA256, r->sha256, strlen(r->sha256), idk,
	    sizeof(idk), 1);
	rc = 0;
out:
	free(k);
	return rc;
}

char *
ops_receipt_str(struct ops_store *s, uint64_t id, const char *field)
{
	unsigned char idk[8];
	const char *p;
	char *text, *str = NULL;
	yajl_val v;

	ops_store_idkey(id, idk);
	if (ops_store_get(s, OPS_DB_RECEIPTS, idk, sizeof(idk), &text, NULL))
		return NULL;
	v = ops_json_parse(text, NULL, 0);
	p = ops_json_str(v, field);
	if (p != NULL)
		str = ops_xstrdup(p);
	yajl_tree_free(v);
	free(text);
	return str;
}

/* ---- JobRuns ---- */

static void
copy_str(char *dst, size_t n, const char *src)
{
	snprintf(dst, n, "%s", src != NULL ? src : "");
}

static char *
dup_or_null(const char *s)
{
	return s != NULL ? ops_xstrdup(s) : NULL;
}

int
ops_jobrun_parse(const char *json, struct ops_jobrun *j)
{
	static const struct {
		const char	*name;
		size_t		 off;
	} counters[] = {
#define C(f) { #f, offsetof(struct ops_jobrun, f) }
		C(emails_scanned), C(attachments_seen), C(downloaded),
		C(created), C(duplicates_skipped), C(quarantined), C(skipped),
		C(errors_count), C(gmail_api_calls), C(quota_units)
#undef C
	};
	const char *t;
	long long n;
	yajl_val v;
	size_t i;

	memset(j, 0, sizeof(*j));
	v = ops_json_parse(json, NULL, 0);
	if (v == NULL)
		return -1;
	if (ops_json_int(v, "job_run_id", &n) != 0 || n <= 0)
		goto bad;
	j->id = (uint64_t)n;
	copy_str(j->job, sizeof(j->job), ops_json_str(v, "job"));
	copy_str(j->status, sizeof(j->status), ops_json_str(v, "status"));
	(void)ops_json_bool(v, "dry_run", &j->dry_run);
	t = ops_json_str(v, "started_at");
	if (t == NULL || ops_parse_rfc3339(t, &j->started) != 0)
		goto bad;
	t = ops_json_str(v, "finished_at");
	if (t != NULL && ops_parse_rfc3339(t, &j->finished) != 0)
		goto bad;
	for (i = 0; i < sizeof(counters) / sizeof(counters[0]); i++)
		if (ops_json_int(v, counters[i].name, &n) == 0)
			*(long long *)((char *)j + counters[i].off) = n;
	j->config_hash = dup_or_null(ops_json_str(v, "config_hash"));
	j->log_path = dup_or_null(ops_json_str(v, "log_path"));
	yajl_tree_free(v);
	return 0;
bad:
	yajl_tree_free(v);
	return -1;
}

int
ops_jobrun_get(struct ops_store *s, uint64_t id, struct ops_jobrun *j)
{
	unsigned char k[8];
	char *text;

	ops_store_idkey(id, k);
	if (ops_store_get(s, OPS_DB_JOBRUNS, k, sizeof(k), &text, NULL) != 0)
		return 1;
	if (ops_jobrun_parse(text, j) != 0)
		ops_die(OPS_EX_DATAERR, "db: JobRun %llu: unreadable record",
		    (unsigned long long)id);
	free(text);
	return 0;
}

void
ops_jobrun_json(struct ops_jw *w, const struct ops_jobrun *j)
{
	char ts[40];

	ops_jw_open(w);
	ops_jw_int(w, "job_run_id", (long long)j->id);
	ops_jw_str(w, "job", j->job);
	ops_jw_str(w, "status", j->status);
	ops_jw_bool(w, "dry_run", j->dry_run);
	ops_iso8601_ms(j->started, ts, sizeof(ts));
	ops_jw_str(w, "started_at", ts);
	if (j->finished > 0) {
		ops_iso8601_ms(j->finished, ts, sizeof(ts));
		ops_jw_str(w, "finished_at", ts);
		ops_jw_double(w, "duration_sec", j->finished - j->started);
	} else {
		ops_jw_null(w, "finished_at");
		ops_jw_null(w, "duration_sec");
	}
	ops_jw_int(w, "emails_scanned", j->emails_scanned);
	ops_jw_int(w, "attachments_seen", j->attachments_seen);
	ops_jw_int(w, "downloaded", j->downloaded);
	ops_jw_int(w, "created", j->created);
	ops_jw_int(w, "duplicates_skipped", j->duplicates_skipped);
	ops_jw_int(w, "quarantined", j->quarantined);
	ops_jw_int(w, "skipped", j->skipped);
	ops_jw_int(w, "errors_count", j->errors_count);
	ops_jw_int(w, "gmail_api_calls", j->gmail_api_calls);
	ops_jw_int(w, "quota_units", j->quota_units);
	ops_jw_str(w, "config_hash", j->config_hash);
	ops_jw_str(w, "log_path", j->log_path);
	ops_jw_close(w);
}

void
ops_jobrun_put(struct ops_store *s, const struct ops_jobrun *j)
{
	struct ops_jw *w = ops_jw_new();
	unsigned char k[8];
	const char *text;
	size_t len;

	ops_jobrun_json(w, j);
	text = ops_jw_text(w, &len);
	if (ops_jw_failed(w))
		ops_die(OPS_EX_DATAERR, "JobRun %llu: not valid UTF-8",
		    (unsigned long long)j->id);
	ops_store_idkey(j->id, k);
	ops_store_put(s, OPS_DB_JOBRUNS, k, sizeof(k), text, len, 0);
	ops_jw_free(w);
}

void
ops_jobrun_free(struct ops_jobrun *j)
{
	free(j->config_hash);
	free(j->log_path);
	j->config_hash = j->log_path = NULL;
}

/* ---- the ledger: one row per examined message ---- */

int
ops_ledger_get(struct ops_store *s, const char *msg_key, struct ops_ledger *l)
{
	const char *t;
	long long n;
	char *text;
	yajl_val v;

	memset(l, 0, sizeof(*l));
	if (ops_store_get(s, OPS_DB_LEDGER, msg_key, strlen(msg_key), &text,
	    NULL) != 0)
		return 1;
	v = ops_json_parse(text, NULL, 0);
	free(text);
	/* An unreadable row counts as an error: the message is retried. */
	copy_str(l->verdict, sizeof(l->verdict), ops_json_str(v, "verdict"));
	if (l->verdict[0] == '\0')
		copy_str(l->verdict, sizeof(l->verdict), "error");
	if (ops_json_int(v, "job_run_id", &n) == 0 && n > 0)
		l->job_run_id = (uint64_t)n;
	t = ops_json_str(v, "updated_at");
	if (t != NULL)
		(void)ops_parse_rfc3339(t, &l->updated);
	(void)ops_json_int(v, "stored", &l->stored);
	(void)ops_json_int(v, "duplicates", &l->duplicates);
	(void)ops_json_int(v, "quarantined", &l->quarantined);
	(void)ops_json_int(v, "skipped", &l->skipped);
	yajl_tree_free(v);
	return 0;
}

void
ops_ledger_put(struct ops_store *s, const char *msg_key,
    const struct ops_ledger *l)
{
	struct ops_jw *w = ops_jw_new();
	const char *text;
	char ts[40];
	size_t len;

	ops_jw_open(w);
	ops_jw_str(w, "verdict", l->verdict);
	if (l->job_run_id != 0)
		ops_jw_int(w, "job_run_id", (long long)l->job_run_id);
	else
		ops_jw_null(w, "job_run_id");
	ops_iso8601(l->updated > 0 ? (time_t)l->updated : time(NULL), ts,
	    sizeof(ts));
	ops_jw_str(w, "updated_at", ts);
	ops_jw_int(w, "stored", l->stored);
	ops_jw_int(w, "duplicates", l->duplicates);
	ops_jw_int(w, "quarantined", l->quarantined);
	ops_jw_int(w, "skipped", l->skipped);
	ops_jw_close(w);
	text = ops_jw_text(w, &len);
	ops_store_put(s, OPS_DB_LEDGER, msg_key, strlen(msg_key), text, len, 0);
	ops_jw_free(w);
}

int
ops_ledger_final(const struct ops_ledger *l)
{
	return strcmp(l->verdict, "error") != 0;
}
