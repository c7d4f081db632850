/* store_ingest.c: receipt-store ingest: mime-extract's message and
 * attachment records in, the policy applied per attachment, files and
 * records made durable per message, result records out.
 *
 * The order that makes a crash harmless, per message:
 *  1. each file kept is written as .tmp-<random> in its target directory
 *     and fsynced (a spool file is fsynced and renamed there);
 *  2. one transaction journals them in "pending" with their final names;
 *  3. each temp file is renamed to its final name (never replacing one)
 *     and the directory fsynced;
 *  4. one transaction writes the receipts, their index entries, the
 *     ledger row and the JobRun's counters, and deletes the journal.
 * A crash before 2 leaves temp files, which the next run removes; between
 * 2 and 4 the journal says which final files to adopt. So a record exists
 * only for a durable file and no temp file ever shows under a final name. */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gmailops.h"

#define MAX_ATTACHMENTS	10000	/* per message */
#define MAX_KEY_BYTES	200	/* msg_key, id: LMDB keys stay < 511 */
#define MAX_PART_BYTES	100
#define BATCH_MAX	32	/* messages made durable together (LMDB keeps
				 * the pages of its largest transaction), */
#define BATCH_SECONDS	1.0	/* the first waiting at most this long */
#define BATCH_DIRS	8	/* target directories held open */

struct att {
	char		*part, *gaid, *filename, *ctype, *sniffed, *sha;
	long long	 size;
	const char	*outcome;	/* stored ... error */
	char		*reason;
	uint64_t	 receipt_id;
	char		*storage_path;
	char		*dir;		/* absolute target directory */
	char		*tmp, *final;	/* names in dir */
	int		 published;
};

struct counts {
	long long	 stored, duplicates, quarantined, skipped, errors;
};

struct msg {
	int		 open;
	char		*id, *msg_key, *sender, *subject, *received_at, *error;
	const char	*source;
	const char	*skip;		/* the sender policy's reason */
	char		 date[11];	/* YYYY-MM-DD of the target directory */
	char		 created_at[32];
	long long	 announced;
	size_t		 n;
	struct att	*atts;
	int		 bad;		/* a bad or missing attachment record */
	const char	*verdict;	/* once its files are published */
	struct counts	 k;
};

struct ops_ingest {
	struct ops_store	*s;
	const struct ops_config	*c;
	uint64_t		 job;
	int			 dry_run;
	struct ops_log		*log;
	FILE			*out;
	struct ops_jw		*w;
	struct ops_strmap	*seen;	/* sha256 → where, this run */
	struct ops_strmap	*names;	/* paths chosen, this run */
	char			*skip_key; /* msg_key of a refused message */
	struct msg		 m;	/* the message being read */
	struct msg		 batch[BATCH_MAX]; /* read, not yet durable */
	size_t			 nbatch;
	double			 batch_start;	/* ops_monotonic() */
	struct {
		char		*path;
		int		 fd;
	}			 dirs[BATCH_DIRS]; /* opened for the batch */
	unsigned long		 lineno;
	long			 failures;
	long			 bad;	/* bad records, not in the JobRun yet */
};

static char *
dup_or_null(const char *s)
{
	return s != NULL ? ops_xstrdup(s) : NULL;
}

static void
emit(struct ops_ingest *g)
{
	if (ops_jw_failed(g->w))
		ops_die(OPS_EX_SOFTWARE, "line %lu: cannot write a result",
		    g->lineno);
	if (ops_jw_emit(g->w, g->out) != 0)
		ops_die(OPS_EX_IOERR, "stdout: write error");
}

/* A storage path as recorded: relative to var/ when it is below it. */
static char *
var_relative(struct ops_ingest *g, const char *dir, const char *name)
{
	const char *var = ops_store_var(g->s);
	size_t n = strlen(var);

	if (strncmp(dir, var, n) == 0 && dir[n] == '/')
		dir += n + 1;
	return name != NULL ? ops_xasprintf("%s/%s", dir, name) :
	    ops_xstrdup(dir);
}

/* A spool file named in a record is removed whatever the outcome; only
 * mime-extract's own ones. */
static void
drop_spool(const char *spool)
{
	const char *base;
	struct stat st;

	if (spool == NULL)
		return;
	base = strrchr(spool, '/') != NULL ? strrchr(spool, '/') + 1 : spool;
	if (strncmp(base, ".spool-", 7) == 0 && lstat(spool, &st) == 0 &&
	    S_ISREG(st.st_mode) && st.st_uid == geteuid())
		(void)unlink(spool);
}

static int
is_sha256(const char *s)
{
	size_t i;

	for (i = 0; i < 64; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' &&
		    s[i] <= 'f')))
			return 0;
	return s[64] == '\0';
}

/* A string field or null/absent: 0 and *out (borrowed); -1 otherwise. */
static int
opt_str(yajl_val v, const char *key, const char **out)
{
	yajl_val f = ops_json_get(v, key);

	*out = NULL;
	if (f == NULL || YAJL_IS_NULL(f))
		return 0;
	if (!YAJL_IS_STRING(f))
		return -1;
	*out = YAJL_GET_STRING(f);
	return 0;
}

static void __attribute__((format(printf, 2, 3)))
bad_record(struct ops_ingest *g, const char *fmt, ...)
{
	char why[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	ops_warnx("line %lu: %s", g->lineno, why);
	g->failures++;
	g->bad++;
}

/* ---- the JobRun's counters ---- */

static void
job_add(struct ops_ingest *g, long long messages, long long seen,
    const struct counts *k)
{
	struct ops_jobrun j;

	if (ops_jobrun_get(g->s, g->job, &j) != 0)
		ops_die(OPS_EX_DATAERR, "JobRun %llu: no such JobRun",
		    (unsigned long long)g->job);
	j.emails_scanned += messages;
	j.attachments_seen += seen;
	j.downloaded += seen - k->skipped;
	j.created += k->stored;
	j.duplicates_skipped += k->duplicates;
	j.quarantined += k->quarantined;
	j.skipped += k->skipped;
	j.errors_count += k->errors;
	ops_jobrun_put(g->s, &j);
	ops_jobrun_free(&j);
}

/* ---- one message ---- */

static void
msg_clear(struct msg *m)
{
	size_t i;

	for (i = 0; i < m->n; i++) {
		struct att *a = &m->atts[i];
		free(a->part);
		free(a->gaid);
		free(a->filename);
		free(a->ctype);
		free(a->sniffed);
		free(a->sha);
		free(a->reason);
		free(a->storage_path);
		free(a->dir);
		free(a->tmp);
		free(a->final);
	}
	free(m->atts);
	free(m->id);
	free(m->msg_key);
	free(m->sender);
	free(m->subject);
	free(m->received_at);
	free(m->error);
	memset(m, 0, sizeof(*m));
}

/* A target directory (root/DATE), made if create, opened once per batch:
 * the fd is the batch's, valid until the next call; -1/errno. Held no
 * longer than a batch: a directory removed meanwhile is looked up afresh
 * by the next one. */
static int
batch_dir(struct ops_ingest *g, const char *path, int create)
{
	size_t i;
	int fd;

	for (i = 0; i < BATCH_DIRS && g->dirs[i].path != NULL; i++)
		if (strcmp(g->dirs[i].path, path) == 0)
			return g->dirs[i].fd;
	fd = ops_store_opendir(path, NULL, create);
	if (fd < 0)
		return -1;
	if (i == BATCH_DIRS) {		/* full: the first one goes, synced */
		i = 0;
		if (fsync(g->dirs[i].fd) != 0)
			ops_dief(OPS_EX_IOERR, "fsync %s", g->dirs[i].path);
		free(g->dirs[i].path);
		close(g->dirs[i].fd);
	}
	g->dirs[i].path = ops_xstrdup(path);
	g->dirs[i].fd = fd;
	return fd;
}

static void
batch_dirs_close(struct ops_ingest *g)
{
	size_t i;

	for (i = 0; i < BATCH_DIRS && g->dirs[i].path != NULL; i++) {
		free(g->dirs[i].path);
		close(g->dirs[i].fd);
		g->dirs[i].path = NULL;
	}
}

static void finish_message(struct ops_ingest *);

static void
start_message(struct ops_ingest *g, yajl_val v)
{
	const char *id, *key, *sender, *subject, *received, *error;
	struct msg *m = &g->m;
	yajl_val auth;
	long long n;
	double t;
	time_t tt;
	struct tm tm;

	if (m->open)
		finish_message(g);
	free(g->skip_key);
	g->skip_key = NULL;
	key = ops_json_str(v, "msg_key");
	if (key == NULL || *key == '\0' || strlen(key) > MAX_KEY_BYTES) {
		bad_record(g, "message: no usable \"msg_key\"");
		return;
	}
	if (ops_json_int(v, "attachments", &n) != 0 || n < 0 ||
	    n > MAX_ATTACHMENTS) {
		bad_record(g, "message %s: \"attachments\" is not a count of "
		    "at most %d", key, MAX_ATTACHMENTS);
		g->skip_key = ops_xstrdup(key);
		return;
	}
	auth = ops_json_get(v, "auth");
	if (opt_str(v, "id", &id) != 0 || (id != NULL && (*id == '\0' ||
	    strlen(id) > MAX_KEY_BYTES)) ||
	    opt_str(v, "sender", &sender) != 0 ||
	    opt_str(v, "subject", &subject) != 0 ||
	    opt_str(v, "received_at", &received) != 0 ||
	    opt_str(v, "error", &error) != 0 ||
	    (auth != NULL && !YAJL_IS_NULL(auth) && !YAJL_IS_OBJECT(auth))) {
		bad_record(g, "message %s: a field of the wrong type", key);
		g->skip_key = ops_xstrdup(key);
		return;
	}
	memset(m, 0, sizeof(*m));
	m->open = 1;
	m->id = dup_or_null(id);
	m->msg_key = ops_xstrdup(key);
	m->source = id != NULL ? "gmail" : "file";
	m->sender = dup_or_null(sender);
	m->subject = dup_or_null(subject);
	m->error = dup_or_null(error);
	m->announced = n;
	m->atts = ops_xmalloc(((size_t)n > 0 ? (size_t)n : 1) *
	    sizeof(*m->atts));
	m->skip = ops_policy_sender(g->c, sender, auth);
	ops_iso8601(time(NULL), m->created_at, sizeof(m->created_at));
	/* Filed by the day it was received (UTC), so a re-run files it in
	 * the same place; by today's date when that is not known. */
	if (received != NULL && ops_parse_rfc3339(received, &t) == 0) {
		char iso[32];
		tt = (time_t)t;
		ops_iso8601(tt, iso, sizeof(iso));
		m->received_at = ops_xstrdup(iso);
	} else
		tt = time(NULL);
	gmtime_r(&tt, &tm);
	strftime(m->date, sizeof(m->date), "%Y-%m-%d", &tm);
	if (n == 0)
		finish_message(g);
}

/* A duplicate: by the unique key, by the sha256 index, or by a sha256
 * seen earlier in this run. 1 when it is one (a filled in). */
static int
find_duplicate(struct ops_ingest *g, struct att *a)
{
	struct msg *m = &g->m;
	const char *where;
	char *state = NULL;
	uint64_t id;
	int dup = 1;

	a->outcome = "duplicate";
	ops_store_begin(g->s, 0);
	if (ops_receipt_find(g->s, m->source, m->msg_key, a->part, &id) == 0) {
		a->reason = ops_xasprintf("already recorded as receipt %llu",
		    (unsigned long long)id);
		/* This very attachment, recorded by an earlier run or
		 * adopted after a crash: one held in quarantine stays
		 * quarantined, so that its message gets the verdict and
		 * label an uninterrupted run gave it. */
		state = ops_receipt_str(g->s, id, "state");
		if (state != NULL && strcmp(state, "quarantined") == 0)
			a->outcome = "quarantined";
		free(state);
	} else if (ops_receipt_by_sha(g->s, a->sha, &id) == 0)
		a->reason = ops_xasprintf("same content as receipt %llu",
		    (unsigned long long)id);
	else
		dup = 0;
	if (dup) {
		a->receipt_id = id;
		a->storage_path = ops_receipt_str(g->s, id, "storage_path");
	}
	ops_store_abort(g->s);
	if (!dup) {
		where = ops_strmap_get(g->seen, a->sha);
		if (where == NULL)
			return 0;
		a->reason = ops_xasprintf("same content as %s in this run",
		    where);
	}
	return 1;
}

/* A storage directory that cannot take a file (full, read-only, not
 * writable, failing): every message after this one would fail the same
 * way. The message's temp files and spool file are removed and ingest
 * stops (74) before anything of it is recorded, so the next run takes it
 * whole; earlier messages, their files in place, are made durable first. */
static void __attribute__((noreturn))
storage_failed(struct ops_ingest *g, const char *dir, const char *spool,
    int why)
{
	struct msg *m = &g->m;
	char *path, *where;
	size_t i;

	for (i = 0; i < m->n; i++) {
		if (m->atts[i].tmp == NULL)
			continue;
		path = ops_path_join(m->atts[i].dir, m->atts[i].tmp);
		(void)unlink(path);
		free(path);
	}
	drop_spool(spool);
	where = ops_xstrdup(dir);	/* dir may be the message's */
	msg_clear(m);
	ops_ingest_flush(g);
	errno = why;
	ops_dief(OPS_EX_IOERR, "%s", where);
}

static int
storage_error(int e)
{
	return e == ENOSPC || e == EDQUOT || e == EROFS || e == EACCES ||
	    e == EPERM || e == EIO;
}

/* The bytes of a kept attachment into a temp file in its directory. */
static void
take_bytes(struct ops_ingest *g, struct att *a, const char *root,
    const char *spool, const char *data)
{
	unsigned char *bytes = NULL;
	char err[512], hex[65];
	size_t len;
	int dirfd, saved;

	a->dir = ops_path_join(root, g->m.date);
	dirfd = batch_dir(g, a->dir, !g->dry_run);
	saved = errno;
	if (dirfd < 0 && !g->dry_run && storage_error(saved))
		storage_failed(g, a->dir, spool, saved);
	if (dirfd < 0 && (saved == ELOOP || saved == ENOTDIR || !g->dry_run)) {
		char *rel = var_relative(g, a->dir, NULL);
		free(a->reason);
		a->reason = saved == ELOOP ? ops_xasprintf("%s: a symbolic "
		    "link, refused", rel) : ops_xasprintf("%s: %s", rel,
		    strerror(saved));
		free(rel);
		goto fail;
	}
	if (g->dry_run) {
		/* Names this run would give, so two report two names. */
		char *name = ops_store_sanitize(a->filename, a->sniffed);
		char *rel = var_relative(g, a->dir, NULL);
		a->final = ops_store_unique(dirfd, name, g->names, rel);
		if (a->final != NULL) {
			a->storage_path = var_relative(g, a->dir, a->final);
			ops_strmap_add(g->names, a->storage_path, "");
		}
		free(name);
		free(rel);
		return;
	}
	if (spool != NULL) {
		if (ops_store_take_spool(dirfd, spool, a->sha, a->size, &a->tmp,
		    err, sizeof(err)) != 0)
			goto fail_io;
	} else if (data != NULL) {
		bytes = ops_b64_decode(data, strlen(data), &len);
		if (bytes == NULL) {
			snprintf(err, sizeof(err), "\"data\" is not base64");
			goto fail_err;
		}
		ops_sha256_hex(bytes, len, hex);
		if ((long long)len != a->size || strcmp(hex, a->sha) != 0) {
			snprintf(err, sizeof(err), "\"data\" does not match the "
			    "record's size and sha256");
			goto fail_err;
		}
		if (ops_store_write_tmp(dirfd, bytes, len, &a->tmp, err,
		    sizeof(err)) != 0)
			goto fail_io;
	} else {
		snprintf(err, sizeof(err), "no bytes: neither \"spool\" nor "
		    "\"data\" (mime-extract --no-data is for dry runs)");
		goto fail_err;
	}
	free(bytes);
	return;
fail_io:
	if (storage_error(errno)) {
		saved = errno;
		free(bytes);
		storage_failed(g, a->dir, spool, saved);
	}
fail_err:
	free(a->reason);
	a->reason = ops_xstrdup(err);
fail:
	free(bytes);
	drop_spool(spool);
	a->outcome = "error";
}

static void
add_attachment(struct ops_ingest *g, yajl_val v)
{
	const char *key, *part, *sha, *gaid, *fname, *ctype, *sniffed, *defect;
	const char *spool, *data, *root;
	struct msg *m = &g->m;
	struct att *a;
	long long size;

	key = ops_json_str(v, "msg_key");
	(void)opt_str(v, "spool", &spool);
	if (key != NULL && g->skip_key != NULL &&
	    strcmp(key, g->skip_key) == 0) {
		drop_spool(spool);		/* its message was refused */
		return;
	}
	if (!m->open || key == NULL || strcmp(key, m->msg_key) != 0) {
		bad_record(g, "attachment outside its message");
		drop_spool(spool);
		return;
	}
	if ((long long)m->n >= m->announced) {
		bad_record(g, "message %s: more attachments than the %lld "
		    "announced", m->msg_key, m->announced);
		drop_spool(spool);
		return;
	}
	part = ops_json_str(v, "part");
	sha = ops_json_str(v, "sha256");
	if (part == NULL || *part == '\0' || strlen(part) > MAX_PART_BYTES ||
	    sha == NULL || !is_sha256(sha) ||
	    ops_json_int(v, "size", &size) != 0 || size < 0 ||
	    opt_str(v, "gmail_attachment_id", &gaid) != 0 ||
	    opt_str(v, "filename", &fname) != 0 ||
	    opt_str(v, "content_type", &ctype) != 0 ||
	    opt_str(v, "sniffed_type", &sniffed) != 0 ||
	    opt_str(v, "defect", &defect) != 0 ||
	    opt_str(v, "data", &data) != 0) {
		bad_record(g, "message %s: attachment: a field missing or of "
		    "the wrong type (part, sha256, size, ...)", m->msg_key);
		drop_spool(spool);
		m->bad = 1;
		m->announced--;		/* it will not come again */
		if ((long long)m->n == m->announced)
			finish_message(g);
		return;
	}
	a = &m->atts[m->n++];
	memset(a, 0, sizeof(*a));
	a->part = ops_xstrdup(part);
	a->sha = ops_xstrdup(sha);
	a->size = size;
	a->gaid = dup_or_null(gaid);
	a->filename = dup_or_null(fname);
	a->ctype = dup_or_null(ctype);
	a->sniffed = dup_or_null(sniffed);

	if (m->skip != NULL) {
		a->outcome = "skipped";
		a->reason = ops_xstrdup(m->skip);
		drop_spool(spool);
	} else if (find_duplicate(g, a)) {
		drop_spool(spool);
	} else {
		a->reason = ops_policy_quarantine(g->c, size, sniffed, defect);
		a->outcome = a->reason != NULL ? "quarantined" : "stored";
		root = ops_config_path(g->c, a->reason != NULL ?
		    "STORAGE_QUARANTINE_DIR" : "STORAGE_INCOMING_DIR");
		take_bytes(g, a, root, spool, data);
		if (g->dry_run)
			drop_spool(spool);
		if (strcmp(a->outcome, "error") != 0) {
			char *where = ops_xasprintf("part %s of %s", a->part,
			    m->msg_key);
			ops_strmap_add(g->seen, a->sha, where);
			free(where);
		}
	}
	if ((long long)m->n == m->announced)
		finish_message(g);
}

/* Step 2 for one message: final names (none taken twice in the batch)
 * and journal entries. */
static void
journal_message(struct ops_ingest *g, struct msg *m, struct ops_strmap *taken,
    struct ops_jw *w)
{
	struct ops_receipt r;
	unsigned char k[8];
	const char *text;
	char *name;
	size_t i, len;
	int dirfd;

	for (i = 0; i < m->n; i++) {
		struct att *a = &m->atts[i];
		if (a->tmp == NULL)
			continue;
		dirfd = batch_dir(g, a->dir, 0);
		name = ops_store_sanitize(a->filename, a->sniffed);
		a->final = dirfd >= 0 ? ops_store_unique(dirfd, name, taken,
		    a->dir) : NULL;
		free(name);
		if (a->final == NULL) {
			a->outcome = "error";
			free(a->reason);
			a->reason = ops_xstrdup("no free file name");
			name = ops_path_join(a->dir, a->tmp);
			(void)unlink(name);
			free(name);
			continue;
		}
		name = ops_xasprintf("%s/%s", a->dir, a->final);
		ops_strmap_add(taken, name, "");
		free(name);
		a->receipt_id = ops_store_next_id(g->s, "receipts");
		a->storage_path = var_relative(g, a->dir, a->final);
		memset(&r, 0, sizeof(r));
		r.id = a->receipt_id;
		r.source = m->source;
		r.msg_key = m->msg_key;
		r.gmail_message_id = m->id;
		r.gmail_attachment_id = a->gaid;
		r.part_id = a->part;
		r.original_filename = a->filename;
		r.content_type = a->ctype;
		r.sniffed_type = a->sniffed;
		r.filesize = a->size;
		r.sha256 = a->sha;
		r.storage_path = a->storage_path;
		r.sender = m->sender;
		r.subject = m->subject;
		r.received_at = m->received_at;
		r.created_at = m->created_at;
		r.job_run_id = g->job;
		r.state = strcmp(a->outcome, "stored") == 0 ? "ingested" :
		    "quarantined";
		r.reason = strcmp(a->outcome, "stored") == 0 ? NULL : a->reason;
		ops_jw_open(w);
		ops_jw_key(w, "receipt");
		ops_receipt_json(w, &r);
		ops_jw_str(w, "dir", a->dir);
		ops_jw_str(w, "tmp", a->tmp);
		ops_jw_str(w, "final", a->final);
		ops_jw_close(w);
		text = ops_jw_text(w, &len);
		if (ops_jw_failed(w))
			ops_die(OPS_EX_DATAERR, "line %lu: message %s: not "
			    "valid UTF-8", g->lineno, m->msg_key);
		ops_store_idkey(a->receipt_id, k);
		ops_store_put(g->s, OPS_DB_PENDING, k, sizeof(k), text, len, 0);
		ops_jw_reset(w);
	}
}

/* Step 2: the batch's final names and journal, in one transaction. */
static void
journal(struct ops_ingest *g)
{
	struct ops_strmap *taken = ops_strmap_new();
	struct ops_jw *w = ops_jw_new();
	size_t b;

	ops_store_begin(g->s, 1);
	for (b = 0; b < g->nbatch; b++)
		journal_message(g, &g->batch[b], taken, w);
	ops_store_commit(g->s);
	ops_jw_free(w);
	ops_strmap_free(taken);
}

/* Step 3: temp names to final names, then each directory fsynced once. */
static void
publish(struct ops_ingest *g)
{
	size_t b, i;
	int dirfd, rc;

	for (b = 0; b < g->nbatch; b++) {
		for (i = 0; i < g->batch[b].n; i++) {
			struct att *a = &g->batch[b].atts[i];
			if (a->tmp == NULL || a->final == NULL)
				continue;
			dirfd = batch_dir(g, a->dir, 0);
			if (dirfd < 0)
				ops_dief(OPS_EX_IOERR, "%s", a->dir);
			rc = ops_store_publish(dirfd, a->tmp, a->final);
			if (rc != 0) {
				a->outcome = "error";
				free(a->reason);
				a->reason = rc == 1 ? ops_xasprintf("%s: taken "
				    "meanwhile", a->storage_path) :
				    ops_xasprintf("%s: rename: %s",
				    a->storage_path, strerror(errno));
				(void)unlinkat(dirfd, a->tmp, 0);
			} else
				a->published = 1;
		}
	}
	/* Without a durable directory entry there must be no record: die
	 * and let the journal settle it on the next run. */
	for (i = 0; i < BATCH_DIRS && g->dirs[i].path != NULL; i++)
		if (fsync(g->dirs[i].fd) != 0)
			ops_dief(OPS_EX_IOERR, "fsync %s", g->dirs[i].path);
}

static const char *
verdict_of(const struct msg *m, const struct counts *k)
{
	if (k->errors > 0 || m->error != NULL || m->bad ||
	    (long long)m->n < m->announced)
		return "error";
	if (m->skip != NULL)
		return "skipped";
	if (m->announced == 0)
		return "no_attachment";
	if (k->quarantined > 0)
		return k->stored + k->duplicates > 0 ? "mixed" : "quarantined";
	return "imported";
}

static void
count(const struct msg *m, struct counts *k)
{
	size_t i;

	memset(k, 0, sizeof(*k));
	for (i = 0; i < m->n; i++) {
		const char *o = m->atts[i].outcome;
		if (strcmp(o, "stored") == 0)
			k->stored++;
		else if (strcmp(o, "duplicate") == 0)
			k->duplicates++;
		else if (strcmp(o, "quarantined") == 0)
			k->quarantined++;
		else if (strcmp(o, "skipped") == 0)
			k->skipped++;
		else
			k->errors++;
	}
}

/* Step 4 for one message: receipts, index, ledger, counters; its
 * journal entries deleted. */
static void
commit_message(struct ops_ingest *g, const struct msg *m,
    long long extra_errors)
{
	const struct counts *k = &m->k;
	struct ops_receipt r;
	struct ops_ledger l;
	struct counts sum = *k;
	unsigned char key[8];
	yajl_val v, rv;
	char *text;
	size_t i;

	for (i = 0; i < m->n && !g->dry_run; i++) {
		struct att *a = &m->atts[i];
		if (a->receipt_id == 0 || a->tmp == NULL)
			continue;
		ops_store_idkey(a->receipt_id, key);
		if (a->published &&
		    ops_store_get(g->s, OPS_DB_PENDING, key, 8, &text, NULL) == 0) {
			v = ops_json_parse(text, NULL, 0);
			rv = ops_json_get(v, "receipt");
			if (ops_receipt_from_json(rv, &r) != 0 ||
			    ops_receipt_put(g->s, &r) != 0)
				ops_die(OPS_EX_SOFTWARE, "receipt %llu: cannot "
				    "be recorded", (unsigned long long)r.id);
			yajl_tree_free(v);
			free(text);
		}
		ops_store_del(g->s, OPS_DB_PENDING, key, 8);
	}
	if (!g->dry_run) {
		memset(&l, 0, sizeof(l));
		snprintf(l.verdict, sizeof(l.verdict), "%s", m->verdict);
		l.job_run_id = g->job;
		l.stored = k->stored;
		l.duplicates = k->duplicates;
		l.quarantined = k->quarantined;
		l.skipped = k->skipped;
		ops_ledger_put(g->s, m->msg_key, &l);
	}
	sum.errors += extra_errors;
	job_add(g, 1, (long long)m->n, &sum);
}

static void
report(struct ops_ingest *g, const struct msg *m)
{
	const struct counts *k = &m->k;
	const char *verdict = m->verdict;
	const char *logid = m->id != NULL ? m->id : m->msg_key;
	struct ops_jw *lw;
	size_t i;

	for (i = 0; i < m->n; i++) {
		struct att *a = &m->atts[i];
		ops_jw_open(g->w);
		ops_jw_str(g->w, "type", "attachment_result");
		ops_jw_str(g->w, "id", m->id);
		ops_jw_str(g->w, "msg_key", m->msg_key);
		ops_jw_str(g->w, "part", a->part);
		ops_jw_str(g->w, "outcome", a->outcome);
		ops_jw_str(g->w, "reason", a->reason);
		if (a->receipt_id != 0 && strcmp(a->outcome, "error") != 0)
			ops_jw_int(g->w, "receipt_id", (long long)a->receipt_id);
		else
			ops_jw_null(g->w, "receipt_id");
		ops_jw_str(g->w, "storage_path", strcmp(a->outcome, "error") ?
		    a->storage_path : NULL);
		ops_jw_str(g->w, "sha256", a->sha);
		ops_jw_bool(g->w, "dry_run", g->dry_run);
		ops_jw_close(g->w);
		emit(g);
		if (g->log != NULL) {
			lw = ops_log_begin(g->log, "attachment");
			ops_jw_str(lw, "id", logid);
			ops_jw_str(lw, "part", a->part);
			ops_jw_str(lw, "outcome", a->outcome);
			ops_jw_str(lw, "reason", a->reason);
			ops_jw_bool(lw, "dry_run", g->dry_run);
			(void)ops_log_end(g->log);
		}
		if (strcmp(a->outcome, "error") == 0)
			ops_warnx("message %s: part %s: %s", logid, a->part,
			    a->reason);
	}
	ops_jw_open(g->w);
	ops_jw_str(g->w, "type", "message_result");
	ops_jw_str(g->w, "id", m->id);
	ops_jw_str(g->w, "msg_key", m->msg_key);
	ops_jw_str(g->w, "verdict", verdict);
	ops_jw_int(g->w, "stored", k->stored);
	ops_jw_int(g->w, "duplicates", k->duplicates);
	ops_jw_int(g->w, "quarantined", k->quarantined);
	ops_jw_int(g->w, "skipped", k->skipped);
	ops_jw_bool(g->w, "dry_run", g->dry_run);
	ops_jw_close(g->w);
	emit(g);
	if (g->log != NULL) {
		lw = ops_log_begin(g->log, "message");
		ops_jw_str(lw, "id", logid);
		ops_jw_str(lw, "sender", m->sender);
		ops_jw_str(lw, "verdict", verdict);
		if (m->error != NULL)
			ops_jw_str(lw, "error", m->error);
		ops_jw_int(lw, "job_run_id", (long long)g->job);
		ops_jw_bool(lw, "dry_run", g->dry_run);
		(void)ops_log_end(g->log);
	}
}

/* For the tests: die here as kill -9 would (GMAIL_OPS_TEST_CRASH=tmp,
 * journal or publish: after that step of the first batch with files). */
static void
crash_point(const char *step)
{
	const char *e = getenv("GMAIL_OPS_TEST_CRASH");

	if (e != NULL && strcmp(e, step) == 0) {
		fflush(NULL);
		raise(SIGKILL);
	}
}

/* A duplicate of a file of this batch points at its receipt once the
 * file is published, as one of an earlier batch does; if that file
 * failed, so does the duplicate (its message is tried again). */
static void
resolve_duplicates(struct ops_ingest *g)
{
	struct att *a, *o;
	size_t b, i, ob, oi;

	for (b = 0; b < g->nbatch; b++)
		for (i = 0; i < g->batch[b].n; i++) {
			a = &g->batch[b].atts[i];
			if (strcmp(a->outcome, "duplicate") != 0 ||
			    a->receipt_id != 0)
				continue;
			o = NULL;
			for (ob = 0; ob <= b && o == NULL; ob++)
				for (oi = 0; oi < g->batch[ob].n; oi++) {
					o = &g->batch[ob].atts[oi];
					if (o->tmp != NULL &&
					    strcmp(o->sha, a->sha) == 0)
						break;
					o = NULL;
				}
			if (o == NULL)
				continue;
			free(a->reason);
			if (o->published) {
				a->receipt_id = o->receipt_id;
				a->storage_path = ops_xstrdup(o->storage_path);
				a->reason = ops_xasprintf("same content as "
				    "receipt %llu",
				    (unsigned long long)o->receipt_id);
			} else {
				a->outcome = "error";
				a->reason = ops_xasprintf("same content as part "
				    "%s of %s, which failed", o->part,
				    g->batch[ob - 1].msg_key);
			}
		}
}

/* Makes the batch durable (steps 2 to 4, one transaction each for all
 * its messages), then reports each message in order. */
void
ops_ingest_flush(struct ops_ingest *g)
{
	struct msg *m;
	long long extra;
	size_t b, i;
	int files = 0;

	if (g->nbatch == 0)
		return;
	for (b = 0; b < g->nbatch; b++)
		for (i = 0; i < g->batch[b].n; i++)
			if (g->batch[b].atts[i].tmp != NULL)
				files = 1;
	if (files) {
		crash_point("tmp");
		journal(g);
		crash_point("journal");
		publish(g);
		crash_point("publish");
		resolve_duplicates(g);
	}
	ops_store_begin(g->s, 1);
	for (b = 0; b < g->nbatch; b++) {
		m = &g->batch[b];
		count(m, &m->k);
		m->verdict = verdict_of(m, &m->k);
		/* One error for the message unless a failed attachment or a
		 * bad record (counted on its own) already says so. */
		extra = m->k.errors == 0 && !m->bad &&
		    strcmp(m->verdict, "error") == 0;
		g->failures += m->k.errors;
		commit_message(g, m, extra);
	}
	ops_store_commit(g->s);
	for (b = 0; b < g->nbatch; b++) {
		report(g, &g->batch[b]);
		msg_clear(&g->batch[b]);
	}
	g->nbatch = 0;
	batch_dirs_close(g);
	/* Committed: the sha256 index now knows the batch's files, so the
	 * run's own map (which a dry run needs whole) starts again and
	 * memory stays flat however many messages come. */
	if (!g->dry_run) {
		ops_strmap_free(g->seen);
		g->seen = ops_strmap_new();
	}
}

/* The message read is whole: into the batch, made durable with it. */
static void
finish_message(struct ops_ingest *g)
{
	struct msg *m = &g->m;

	if (!m->open)
		return;
	if ((long long)m->n < m->announced) {
		ops_warnx("message %s: %zu of %lld attachment records",
		    m->msg_key, m->n, m->announced);
		g->failures++;
	}
	if (g->nbatch == 0)
		g->batch_start = ops_monotonic();
	g->batch[g->nbatch++] = *m;
	memset(m, 0, sizeof(*m));
	if (g->nbatch == BATCH_MAX ||
	    ops_monotonic() - g->batch_start >= BATCH_SECONDS)
		ops_ingest_flush(g);
}

/* gmail-fetch's error record: the ledger says error (retried next run). */
static void
error_record(struct ops_ingest *g, yajl_val v)
{
	const char *id = ops_json_str(v, "id");
	struct counts k = { 0, 0, 0, 0, 1 };
	struct ops_ledger l;
	struct ops_jw *lw;

	ops_store_begin(g->s, 1);
	if (!g->dry_run && id != NULL && *id != '\0' &&
	    strlen(id) <= MAX_KEY_BYTES &&
	    (ops_ledger_get(g->s, id, &l) != 0 || !ops_ledger_final(&l))) {
		memset(&l, 0, sizeof(l));
		snprintf(l.verdict, sizeof(l.verdict), "error");
		l.job_run_id = g->job;
		ops_ledger_put(g->s, id, &l);
	}
	job_add(g, 0, 0, &k);
	ops_store_commit(g->s);
	if (g->log != NULL) {
		lw = ops_log_begin(g->log, "message");
		ops_jw_str(lw, "id", id);
		ops_jw_null(lw, "sender");
		ops_jw_str(lw, "verdict", "error");
		ops_jw_str(lw, "stage", ops_json_str(v, "stage"));
		ops_jw_int(lw, "job_run_id", (long long)g->job);
		(void)ops_log_end(g->log);
	}
}

/* ---- the API ---- */

struct ops_ingest *
ops_ingest_new(struct ops_store *s, const struct ops_config *c, uint64_t job,
    int dry_run, struct ops_log *log, FILE *out)
{
	struct ops_ingest *g = ops_xmalloc(sizeof(*g));

	memset(g, 0, sizeof(*g));
	g->s = s;
	g->c = c;
	g->job = job;
	g->dry_run = dry_run;
	g->log = log;
	g->out = out;
	g->w = ops_jw_new();
	g->seen = ops_strmap_new();
	g->names = ops_strmap_new();
	if (ops_config_list(c, "ALLOWED_SENDERS")[0] == NULL)
		ops_warnx("ALLOWED_SENDERS is empty: every message is skipped");
	return g;
}

void
ops_ingest_record(struct ops_ingest *g, yajl_val v, unsigned long lineno)
{
	const char *type = ops_json_str(v, "type");

	g->lineno = lineno;
	if (type != NULL && strcmp(type, "message") == 0) {
		start_message(g, v);
	} else if (type != NULL && strcmp(type, "attachment") == 0) {
		add_attachment(g, v);
	} else {
		/* Anything else goes on, in order; an error is noted too. */
		ops_ingest_flush(g);
		if (type != NULL && strcmp(type, "error") == 0)
			error_record(g, v);
		ops_jw_value(g->w, v);
		emit(g);
	}
}

long
ops_ingest_end(struct ops_ingest *g, unsigned long bad_lines)
{
	struct counts k = { 0, 0, 0, 0, 0 };

	finish_message(g);
	ops_ingest_flush(g);
	k.errors = g->bad + (long long)bad_lines;
	if (k.errors > 0) {
		ops_store_begin(g->s, 1);
		job_add(g, 0, 0, &k);
		ops_store_commit(g->s);
	}
	g->bad = 0;
	return g->failures + (long)bad_lines;
}

void
ops_ingest_free(struct ops_ingest *g)
{
	size_t i;

	if (g == NULL)
		return;
	msg_clear(&g->m);
	for (i = 0; i < g->nbatch; i++)
		msg_clear(&g->batch[i]);
	batch_dirs_close(g);
	ops_jw_free(g->w);
	ops_strmap_free(g->seen);
	ops_strmap_free(g->names);
	free(g->skip_key);
	free(g);
}

/* ---- crash recovery ---- */

struct pending {
	uint64_t	 id;
	char		*text;
};

struct pending_list {
	struct pending	*p;
	size_t		 n;
};

static int
collect_pending(void *arg, const void *key, size_t klen, const char *val,
    size_t vlen)
{
	struct pending_list *pl = arg;

	(void)vlen;
	pl->p = ops_xrealloc(pl->p, (pl->n + 1) * sizeof(*pl->p));
	pl->p[pl->n].id = ops_store_keyid(key, klen);
	pl->p[pl->n].text = ops_xstrdup(val);
	pl->n++;
	return 0;
}

/* Adopts the final file of one journal entry if it is whole: 1 adopted,
 * 0 dropped. */
static int
settle(struct ops_store *s, const struct pending *p)
{
	const char *dir, *tmp, *final;
	struct ops_receipt r;
	unsigned char key[8];
	char hex[65];
	long long size;
	yajl_val v;
	int dirfd = -1, whole = 0, adopted = 0;

	v = ops_json_parse(p->text, NULL, 0);
	dir = ops_json_str(v, "dir");
	tmp = ops_json_str(v, "tmp");
	final = ops_json_str(v, "final");
	if (ops_receipt_from_json(ops_json_get(v, "receipt"), &r) == 0 &&
	    dir != NULL && *dir == '/' && tmp != NULL &&
	    ops_is_tmp_name(tmp) && strchr(tmp, '/') == NULL &&
	    final != NULL && strchr(final, '/') == NULL && *final != '.')
		dirfd = ops_store_opendir(dir, NULL, 0);
	if (dirfd >= 0) {
		whole = ops_store_hash_file(dirfd, final, hex, &size) == 0 &&
		    size == r.filesize && strcmp(hex, r.sha256) == 0;
		(void)unlinkat(dirfd, tmp, 0);
		if (whole && fsync(dirfd) != 0)
			ops_dief(OPS_EX_IOERR, "fsync %s", dir);
	}
	ops_store_idkey(p->id, key);
	ops_store_begin(s, 1);
	if (whole && ops_receipt_put(s, &r) == 0) {
		adopted = 1;
		ops_warnx("recovery: adopted %s as receipt %llu",
		    r.storage_path, (unsigned long long)r.id);
	}
	ops_store_del(s, OPS_DB_PENDING, key, sizeof(key));
	ops_store_commit(s);
	if (dirfd >= 0)
		close(dirfd);
	yajl_tree_free(v);
	return adopted;
}

int
ops_ingest_recover(struct ops_store *s, const struct ops_config *c)
{
	struct pending_list pl = { NULL, 0 };
	int adopted = 0, removed;
	size_t i;

	ops_store_begin(s, 0);
	ops_store_each(s, OPS_DB_PENDING, 0, collect_pending, &pl);
	ops_store_abort(s);
	for (i = 0; i < pl.n; i++) {
		adopted += settle(s, &pl.p[i]);
		free(pl.p[i].text);
	}
	free(pl.p);
	removed = ops_store_sweep(ops_config_path(c, "STORAGE_INCOMING_DIR")) +
	    ops_store_sweep(ops_config_path(c, "STORAGE_QUARANTINE_DIR"));
	if (removed > 0)
		ops_warnx("recovery: removed %d temp file%s", removed,
		    removed == 1 ? "" : "s");
	return adopted;
}
