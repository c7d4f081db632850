/* drafts.c: mail-send's store: drafts held for review and the tracking
 * records of sent messages, in an LMDB environment of their own
 * (BASE_DIR/var/db/mail), one named sub-database each. Values are JSON
 * objects; keys are UUIDv4 strings. A draft is sent at most once: a write
 * transaction moves it from pending to sending before any network call,
 * and a per-draft flock tells a live sender from a dead one. */
#include <sys/file.h>
#include <sys/stat.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lmdb.h>

#include "gmailops.h"

#define MAP_SIZE	((size_t)4 << 30)	/* address space, not disk */
#define MAX_NAME	64			/* sub-database names */
#define MAX_LIST	1000000			/* drafts walked by a list */

struct ops_mailstore {
	MDB_env		*env;
	MDB_dbi		 drafts, pixels;
	char		*dir;
	char		*lockdir;
};

/* A draft record, as stored: the content and its state. */
struct draft {
	struct ops_mail	 mail;
	char		 id[OPS_UUID_LEN + 1];
	char		*status, *created_at, *sha256;
	char		*claim, *claimed_at, *rfc822msgid;
	char		*sent_at, *message_id, *gmail_thread_id, *pixel_id;
	char		*rejected_at, *last_error;
};


static int
valid_name(const char *s)
{
	size_t n = strlen(s), i;

	if (n == 0 || n > MAX_NAME)
		return 0;
	for (i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && strchr("_.-", s[i]) == NULL)
			return 0;
	return 1;
}

int
ops_uuid4(char out[OPS_UUID_LEN + 1])
{
	unsigned char b[16];

	if (ops_random_bytes(b, sizeof(b)) != 0)
		return -1;
	b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
	snprintf(out, OPS_UUID_LEN + 1, "%02x%02x%02x%02x-%02x%02x-%02x%02x-"
	    "%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1], b[2], b[3], b[4],
	    b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
	    b[15]);
	return 0;
}

int
ops_uuid_valid(const char *s)
{
	size_t i;

	if (strlen(s) != OPS_UUID_LEN)
		return 0;
	for (i = 0; i < OPS_UUID_LEN; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return 0;
		} else if (!isxdigit((unsigned char)s[i]) ||
		    isupper((unsigned char)s[i])) {
			return 0;
		}
	}
	return 1;
}

struct ops_mailstore *
ops_mailstore_open(const struct ops_config *c, int *code, char *errmsg,
    size_t errlen)
{
	struct ops_mailstore *s = ops_xmalloc(sizeof(*s));
	const char *dname = ops_config_str(c, "DRAFT_COLLECTION");
	const char *pname = ops_config_str(c, "PIXEL_COLLECTION");
	MDB_txn *txn;
	int rc, dead;

	memset(s, 0, sizeof(*s));
	*code = OPS_EX_CONFIG;
	if (!valid_name(dname) || !valid_name(pname) ||
	    strcmp(dname, pname) == 0) {
		ops_errf(errmsg, errlen, "DRAFT_COLLECTION and PIXEL_COLLECTION "
		    "must be two different names of 1 to %d letters, digits, "
		    "'_', '.' or '-'", MAX_NAME);
		goto free_s;
	}
	*code = OPS_EX_IOERR;
	s->dir = ops_config_var(c, "db/mail");
	s->lockdir = ops_path_join(s->dir, "locks");
	if (ops_mkdirs(s->lockdir, 0700) != 0) {
		ops_errf(errmsg, errlen, "%s: %s", s->lockdir, strerror(errno));
		goto free_s;
	}
	if (chmod(s->dir, 0700) != 0) {
		ops_errf(errmsg, errlen, "%s: %s", s->dir, strerror(errno));
		goto free_s;
	}
	rc = mdb_env_create(&s->env);
	if (rc != 0) {
		ops_errf(errmsg, errlen, "mdb_env_create: %s", mdb_strerror(rc));
		goto free_s;
	}
	rc = mdb_env_set_maxdbs(s->env, 4);
	if (rc == 0)
		rc = mdb_env_set_mapsize(s->env, MAP_SIZE);
	if (rc == 0)
		rc = mdb_env_open(s->env, s->dir, 0, 0600);
	if (rc != 0) {
		ops_errf(errmsg, errlen, "%s: %s", s->dir, mdb_strerror(rc));
		goto env_close;
	}
	/* Reader slots of killed processes would pin old pages. */
	(void)mdb_reader_check(s->env, &dead);
	rc = mdb_txn_begin(s->env, NULL, 0, &txn);
	if (rc != 0) {
		ops_errf(errmsg, errlen, "%s: %s", s->dir, mdb_strerror(rc));
		goto env_close;
	}
	rc = mdb_dbi_open(txn, dname, MDB_CREATE, &s->drafts);
	if (rc == 0)
		rc = mdb_dbi_open(txn, pname, MDB_CREATE, &s->pixels);
	if (rc != 0) {
		ops_errf(errmsg, errlen, "%s: %s", s->dir, mdb_strerror(rc));
		goto txn_abort;
	}
	rc = mdb_txn_commit(txn);
	if (rc != 0) {
		ops_errf(errmsg, errlen, "%s: %s", s->dir, mdb_strerror(rc));
		goto env_close;
	}
	return s;
txn_abort:
	mdb_txn_abort(txn);
env_close:
	mdb_env_close(s->env);
free_s:
	free(s->lockdir);
	free(s->dir);
	free(s);
	return NULL;
}

void
ops_mailstore_close(struct ops_mailstore *s)
{
	if (s == NULL)
		return;
	mdb_env_close(s->env);
	free(s->lockdir);
	free(s->dir);
	free(s);
}

const char *
ops_mailstore_path(const struct ops_mailstore *s)
{
	return s->dir;
}

/* For track.c, which records the pixel's hits in this environment. */
struct MDB_env *
ops_mailstore_env(const struct ops_mailstore *s)
{
	return s->env;
}

unsigned int
ops_mailstore_pixel_dbi(const struct ops_mailstore *s)
{
	return s->pixels;
}

/* ---------------------------------------------------------------- records */

static void
draft_free(struct draft *d)
{
	ops_mail_free(&d->mail);
	free(d->status);
	free(d->created_at);
	free(d->sha256);
	free(d->claim);
	free(d->claimed_at);
	free(d->rfc822msgid);
	free(d->sent_at);
	free(d->message_id);
	free(d->gmail_thread_id);
	free(d->pixel_id);
	free(d->rejected_at);
	free(d->last_error);
	memset(d, 0, sizeof(*d));
}

static char *
dup_field(yajl_val v, const char *key)
{
	const char *s = ops_json_str(v, key);

	return s != NULL ? ops_xstrdup(s) : NULL;
}

static void
set_str(char **field, const char *val)
{
	free(*field);
	*field = val != NULL ? ops_xstrdup(val) : NULL;
}

/* A stored value into d: 0, or -1 and errmsg. */
static int
draft_parse(const MDB_val *val, const char *id, struct draft *d,
    char *errmsg, size_t errlen)
{
	char err[256], why[256], *text;
	yajl_val v;

	memset(d, 0, sizeof(*d));
	text = ops_xmalloc(val->mv_size + 1);
	memcpy(text, val->mv_data, val->mv_size);
	text[val->mv_size] = '\0';
	v = ops_json_parse(text, err, sizeof(err));
	free(text);
	if (v == NULL)
		return ops_errf(errmsg, errlen, "draft %s: bad record: %s", id,
		    err);
	if (ops_mail_parse(v, "body", 0, &d->mail, why, sizeof(why)) != 0) {
		yajl_tree_free(v);
		return ops_errf(errmsg, errlen, "draft %s: bad record: %s", id,
		    why);
	}
	snprintf(d->id, sizeof(d->id), "%s", id);
	d->status = dup_field(v, "status");
	d->created_at = dup_field(v, "created_at");
	d->sha256 = dup_field(v, "sha256");
	d->claim = dup_field(v, "claim");
	d->claimed_at = dup_field(v, "claimed_at");
	d->rfc822msgid = dup_field(v, "rfc822msgid");
	d->sent_at = dup_field(v, "sent_at");
	d->message_id = dup_field(v, "message_id");
	d->gmail_thread_id = dup_field(v, "gmail_thread_id");
	d->pixel_id = dup_field(v, "pixel_id");
	d->rejected_at = dup_field(v, "rejected_at");
	d->last_error = dup_field(v, "last_error");
	yajl_tree_free(v);
	if (d->status == NULL || d->sha256 == NULL) {
		draft_free(d);
		return ops_errf(errmsg, errlen, "draft %s: bad record: no status "
		    "or sha256", id);
	}
	return 0;
}

/* The stored form of d, in a fixed field order. */
static void
draft_write(struct ops_jw *w, const struct draft *d)
{
	ops_jw_open(w);
	ops_jw_str(w, "draft_id", d->id);
	ops_jw_str(w, "status", d->status);
	ops_jw_str(w, "created_at", d->created_at);
	ops_jw_str(w, "to", d->mail.to);
	ops_jw_str(w, "cc", d->mail.cc);
	ops_jw_str(w, "bcc", d->mail.bcc);
	ops_jw_str(w, "subject", d->mail.subject);
	ops_jw_str(w, "body", d->mail.body);
	ops_jw_str(w, "html", d->mail.html);
	ops_jw_str(w, "reply_to", d->mail.reply_to);
	ops_jw_str(w, "thread_id", d->mail.thread_id);
	ops_jw_str(w, "in_reply_to", d->mail.in_reply_to);
	ops_jw_str(w, "sha256", d->sha256);
	ops_jw_str(w, "claim", d->claim);
	ops_jw_str(w, "claimed_at", d->claimed_at);
	ops_jw_str(w, "rfc822msgid", d->rfc822msgid);
	ops_jw_str(w, "sent_at", d->sent_at);
	ops_jw_str(w, "message_id", d->message_id);
	ops_jw_str(w, "gmail_thread_id", d->gmail_thread_id);
	ops_jw_str(w, "pixel_id", d->pixel_id);
	ops_jw_str(w, "rejected_at", d->rejected_at);
	ops_jw_str(w, "last_error", d->last_error);
	ops_jw_close(w);
}

static int
put_json(MDB_txn *txn, MDB_dbi dbi, const char *key, struct ops_jw *w,
    unsigned int flags, char *errmsg, size_t errlen)
{
	MDB_val k, v;
	int rc;

	if (ops_jw_failed(w))
		return ops_errf(errmsg, errlen, "%s: cannot encode the record (bad "
		    "UTF-8?)", key);
	k.mv_data = (void *)key;
	k.mv_size = strlen(key);
	v.mv_data = (void *)ops_jw_text(w, &v.mv_size);
	rc = mdb_put(txn, dbi, &k, &v, flags);
	if (rc == MDB_KEYEXIST)
		return ops_errf(errmsg, errlen, "%s: exists already", key);
	if (rc != 0)
		return ops_errf(errmsg, errlen, "%s: %s", key, mdb_strerror(rc));
	return 0;
}

static int
put_draft(MDB_txn *txn, struct ops_mailstore *s, const struct draft *d,
    unsigned int flags, char *errmsg, size_t errlen)
{
	struct ops_jw *w = ops_jw_new();
	int rc;

	draft_write(w, d);
	rc = put_json(txn, s->drafts, d->id, w, flags, errmsg, errlen);
	ops_jw_free(w);
	return rc;
}

/* Reads draft id inside txn: 1 found, 0 not found, -1 error. */
static int
get_draft(MDB_txn *txn, struct ops_mailstore *s, const char *id,
    struct draft *d, char *errmsg, size_t errlen)
{
	MDB_val k, v;
	int rc;

	k.mv_data = (void *)id;
	k.mv_size = strlen(id);
	rc = mdb_get(txn, s->drafts, &k, &v);
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc != 0)
		return ops_errf(errmsg, errlen, "draft %s: %s", id,
		    mdb_strerror(rc));
	return draft_parse(&v, id, d, errmsg, errlen) == 0 ? 1 : -1;
}

static void
now_iso(char *out, size_t outlen)
{
	ops_iso8601_ms(ops_now(), out, outlen);
}

static int
commit(MDB_txn *txn, char *errmsg, size_t errlen)
{
	int rc = mdb_txn_commit(txn);

	if (rc != 0)
		return ops_errf(errmsg, errlen, "commit: %s", mdb_strerror(rc));
	return 0;
}

/* ---------------------------------------------------------------- drafts */

static char last_created[40];

int
ops_draft_create(struct ops_mailstore *s, const struct ops_mail *m,
    char id[OPS_UUID_LEN + 1], char sha[65], char *errmsg, size_t errlen)
{
	struct draft d;
	char created[40];
	MDB_txn *txn;
	int rc;

	memset(&d, 0, sizeof(d));
	if (ops_uuid4(id) != 0)
		return ops_errf(errmsg, errlen, "no random bytes for an id");
	ops_mail_sha256(m, sha);
	/* --list is oldest first, by created_at (milliseconds): drafts made
	 * one after the other here get distinct times, so their order holds.
	 * (The tools are single-threaded.) */
	for (;;) {
		now_iso(created, sizeof(created));
		if (strcmp(created, last_created) > 0)
			break;
		nanosleep(&(struct timespec){ 0, 200000 }, NULL);
	}
	snprintf(last_created, sizeof(last_created), "%s", created);
	/* The content is borrowed from m: d.mail is never freed here. */
	d.mail = *m;
	snprintf(d.id, sizeof(d.id), "%s", id);
	d.status = "pending";
	d.created_at = created;
	d.sha256 = sha;
	rc = mdb_txn_begin(s->env, NULL, 0, &txn);
	if (rc != 0)
		return ops_errf(errmsg, errlen, "%s: %s", s->dir, mdb_strerror(rc));
	if (put_draft(txn, s, &d, MDB_NOOVERWRITE, errmsg, errlen) != 0) {
		mdb_txn_abort(txn);
		return -1;
	}
	return commit(txn, errmsg, errlen);
}

/* The JSON record under key in dbi: 1 and *rec (caller frees), 0 when
 * there is none, -1 with errmsg ("WHAT KEY: why"). */
static int
get_record(struct ops_mailstore *s, MDB_dbi dbi, const char *what,
    const char *key, yajl_val *rec, char *errmsg, size_t errlen)
{
	char err[256], *text;
	MDB_txn *txn;
	MDB_val k, v;
	int rc;

	*rec = NULL;
	rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);
	if (rc != 0)
		return ops_errf(errmsg, errlen, "%s: %s", s->dir, mdb_strerror(rc));
	k.mv_data = (void *)key;
	k.mv_size = strlen(key);
	rc = mdb_get(txn, dbi, &k, &v);
	if (rc != 0) {
		mdb_txn_abort(txn);
		if (rc == MDB_NOTFOUND)
			return 0;
		return ops_errf(errmsg, errlen, "%s %s: %s", what, key,
		    mdb_strerror(rc));
	}
	text = ops_xmalloc(v.mv_size + 1);	/* valid only in the txn */
	memcpy(text, v.mv_data, v.mv_size);
	text[v.mv_size] = '\0';
	mdb_txn_abort(txn);
	*rec = ops_json_parse(text, err, sizeof(err));
	free(text);
	if (*rec == NULL)
		return ops_errf(errmsg, errlen, "%s %s: bad record: %s", what,
		    key, err);
	return 1;
}

int
ops_draft_get(struct ops_mailstore *s, const char *id, yajl_val *rec,
    char *errmsg, size_t errlen)
{
	return get_record(s, s->drafts, "draft", id, rec, errmsg, errlen);
}

struct order {
	char	*created_at;
	char	*key;
};

static int
by_created(const void *a, const void *b)
{
	const struct order *x = a, *y = b;
	int c = strcmp(x->created_at, y->created_at);

	return c != 0 ? c : strcmp(x->key, y->key);
}

/* Calls fn on every record of dbi, in key order or (sort) by created_at. */
static int
walk(struct ops_mailstore *s, MDB_dbi dbi, int sort, const char *status,
    int (*fn)(yajl_val rec, void *arg), void *arg, char *errmsg,
    size_t errlen)
{
	struct order *ord = NULL;
	size_t n = 0, cap = 0, i;
	char err[256], *text;
	MDB_cursor *cur;
	MDB_txn *txn;
	MDB_val k, v;
	yajl_val rec;
	int rc, ret = 0;

	rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);
	if (rc != 0)
		return ops_errf(errmsg, errlen, "%s: %s", s->dir, mdb_strerror(rc));
	rc = mdb_cursor_open(txn, dbi, &cur);
	if (rc != 0) {
		ret = ops_errf(errmsg, errlen, "%s: %s", s->dir, mdb_strerror(rc));
		goto txn_abort;
	}
	/* First the keys (and dates), then the records in order: values
	 * stay valid for the whole read transaction. */
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0 &&
	    n < MAX_LIST; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (n == cap) {
			cap = cap != 0 ? cap * 2 : 64;
			ord = ops_xrealloc(ord, cap * sizeof(*ord));
		}
		ord[n].key = ops_xasprintf("%.*s", (int)k.mv_size,
		    (const char *)k.mv_data);
		ord[n].created_at = ops_xstrdup("");
		if (sort) {
			/* "created_at":"..." is the third field, early in the
			 * value: parsing whole drafts only to sort is waste. */
			const char *p = memmem(v.mv_data, v.mv_size,
			    "\"created_at\":\"", 14);
			if (p != NULL && (size_t)(p - (const char *)v.mv_data) +
			    14 + 24 <= v.mv_size) {
				free(ord[n].created_at);
				ord[n].created_at = ops_xasprintf("%.24s",
				    p + 14);
			}
		}
		n++;
	}
	mdb_cursor_close(cur);
	if (rc != 0 && rc != MDB_NOTFOUND) {
		ret = ops_errf(errmsg, errlen, "%s: %s", s->dir, mdb_strerror(rc));
		goto free_ord;
	}
	if (sort && n > 1)
		qsort(ord, n, sizeof(*ord), by_created);
	for (i = 0; i < n && ret == 0; i++) {
		k.mv_data = ord[i].key;
		k.mv_size = strlen(ord[i].key);
		if (mdb_get(txn, dbi, &k, &v) != 0)
			continue;
		text = ops_xmalloc(v.mv_size + 1);
		memcpy(text, v.mv_data, v.mv_size);
		text[v.mv_size] = '\0';
		rec = ops_json_parse(text, err, sizeof(err));
		free(text);
		if (rec == NULL) {
			ops_warnx("%s: record %s: %s", s->dir, ord[i].key, err);
			continue;
		}
		if (status == NULL || (ops_json_str(rec, "status") != NULL &&
		    strcmp(ops_json_str(rec, "status"), status) == 0))
			ret = fn(rec, arg);
		yajl_tree_free(rec);
	}
free_ord:
	for (i = 0; i < n; i++) {
		free(ord[i].key);
		free(ord[i].created_at);
	}
	free(ord);
txn_abort:
	mdb_txn_abort(txn);
	return ret;
}

int
ops_draft_list(struct ops_mailstore *s, const char *status,
    int (*fn)(yajl_val rec, void *arg), void *arg, char *errmsg,
    size_t errlen)
{
	return walk(s, s->drafts, 1, status, fn, arg, errmsg, errlen);
}

int
ops_draft_reject(struct ops_mailstore *s, const char *id, char *errmsg,
    size_t errlen)
{
	struct draft d;
	char at[40];
	MDB_txn *txn;
	int rc;

	rc = mdb_txn_begin(s->env, NULL, 0, &txn);
	if (rc != 0)
		return ops_errf(errmsg, errlen, "%s: %s", s->dir, mdb_strerror(rc));
	rc = get_draft(txn, s, id, &d, errmsg, errlen);
	if (rc == 0)
		ops_errf(errmsg, errlen, "draft %s: no such draft", id);
	if (rc <= 0)
		goto txn_abort;
	if (strcmp(d.status, "pending") != 0) {
		ops_errf(errmsg, errlen, "draft %s: not pending (%s)", id, d.status);
		goto draft_free;
	}
	now_iso(at, sizeof(at));
	set_str(&d.status, "rejected");
	set_str(&d.rejected_at, at);
	if (put_draft(txn, s, &d, 0, errmsg, errlen) != 0)
		goto draft_free;
	draft_free(&d);
	return commit(txn, errmsg, errlen);
draft_free:
	draft_free(&d);
txn_abort:
	mdb_txn_abort(txn);
	return -1;
}

/* ---------------------------------------------------------------- sending */

int
ops_draft_lock(struct ops_mailstore *s, const char *id,
    struct ops_draft_claim *cl, int *code, char *errmsg, size_t errlen)
{
	char *path;
	int fd;

	memset(cl, 0, sizeof(*cl));
	cl->lock_fd = -1;
	snprintf(cl->id, sizeof(cl->id), "%s", id);
	path = ops_xasprintf("%s/%s.lock", s->lockdir, id);
	fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		*code = OPS_EX_IOERR;
		ops_errf(errmsg, errlen, "%s: %s", path, strerror(errno));
		free(path);
		return -1;
	}
	free(path);
	while (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		if (errno == EINTR)
			continue;
		*code = errno == EWOULDBLOCK ? OPS_EX_TEMPFAIL : OPS_EX_IOERR;
		if (errno == EWOULDBLOCK)
			ops_errf(errmsg, errlen, "draft %s: being sent by another "
			    "process", id);
		else
			ops_errf(errmsg, errlen, "draft %s: lock: %s", id,
			    strerror(errno));
		close(fd);
		return -1;
	}
	cl->lock_fd = fd;
	return 0;
}

/* Removes the lock file of a draft in a final state. Whoever still holds
 * the old file open will, once it has the lock, read a final state and
 * stop, so the unlink cannot let two senders in. */
static void
drop_lock_file(struct ops_mailstore *s, const char *id)
{
	char *path = ops_xasprintf("%s/%s.lock", s->lockdir, id);

	(void)unlink(path);
	free(path);
}

int
ops_draft_claim(struct ops_mailstore *s, struct ops_draft_claim *cl,
    const char *expect_sha, const char *domain, int tracking, int *code,
    char *errmsg, size_t errlen)
{
	char sha[65], at[40], hex[33], *token;
	unsigned char rnd[16];
	struct draft d;
	MDB_txn *txn;
	double t;
	int rc, i;

	*code = OPS_EX_PARTIAL;
	if (cl->lock_fd < 0)
		return ops_errf(errmsg, errlen, "internal error: claim without "
		    "the lock");
	rc = mdb_txn_begin(s->env, NULL, 0, &txn);
	if (rc != 0)
		return ops_errf(errmsg, errlen, "%s: %s", s->dir, mdb_strerror(rc));
	rc = get_draft(txn, s, cl->id, &d, errmsg, errlen);
	if (rc == 0)
		ops_errf(errmsg, errlen, "draft %s: no such draft", cl->id);
	if (rc <= 0)
		goto txn_abort;
	if (strcmp(d.status, "pending") == 0) {
		cl->recovering = 0;
	} else if (strcmp(d.status, "sending") == 0) {
		/* We hold the lock: its sender is gone. */
		cl->recovering = 1;
	} else {
		ops_errf(errmsg, errlen, "draft %s: not pending (%s)", cl->id,
		    d.status);
		goto draft_free;
	}
	ops_mail_sha256(&d.mail, sha);
	if (strcmp(sha, d.sha256) != 0) {
		ops_errf(errmsg, errlen, "draft %s: its content no longer matches "
		    "its sha256 %s (changed in the store)", cl->id, d.sha256);
		goto draft_free;
	}
	if (expect_sha != NULL && strcasecmp(expect_sha, sha) != 0) {
		ops_errf(errmsg, errlen, "draft %s: content sha256 %s, not the "
		    "approved %s", cl->id, sha, expect_sha);
		goto draft_free;
	}
	if (d.rfc822msgid == NULL) {
		if (ops_random_bytes(rnd, sizeof(rnd)) != 0) {
			ops_errf(errmsg, errlen, "no random bytes");
			goto draft_free;
		}
		ops_hex(rnd, 16, hex);
		d.rfc822msgid = ops_xasprintf("%s.mail-send@%s", hex, domain);
		for (i = 0; d.rfc822msgid[i] != '\0'; i++)
			d.rfc822msgid[i] = (char)tolower(
			    (unsigned char)d.rfc822msgid[i]);
	}
	if (d.pixel_id == NULL && tracking && !cl->recovering) {
		d.pixel_id = ops_xmalloc(OPS_UUID_LEN + 1);
		if (ops_uuid4(d.pixel_id) != 0) {
			ops_errf(errmsg, errlen, "no random bytes");
			goto draft_free;
		}
	}
	if (d.claimed_at == NULL) {
		now_iso(at, sizeof(at));
		d.claimed_at = ops_xstrdup(at);
	}
	token = ops_random_token(16);
	set_str(&d.claim, token);
	free(token);
	set_str(&d.status, "sending");
	if (put_draft(txn, s, &d, 0, errmsg, errlen) != 0)
		goto draft_free;
	rc = mdb_txn_commit(txn);
	if (rc != 0) {
		ops_errf(errmsg, errlen, "commit: %s", mdb_strerror(rc));
		draft_free(&d);
		return -1;
	}
	/* The claim's copy of what the send needs. */
	cl->mail = d.mail;
	memset(&d.mail, 0, sizeof(d.mail));
	snprintf(cl->sha, sizeof(cl->sha), "%s", sha);
	cl->msgid = d.rfc822msgid;
	d.rfc822msgid = NULL;
	snprintf(cl->pixel_id, sizeof(cl->pixel_id), "%s",
	    d.pixel_id != NULL ? d.pixel_id : "");
	cl->claimed_at = ops_parse_rfc3339(d.claimed_at, &t) == 0 ? t :
	    ops_now();
	draft_free(&d);
	return 0;
draft_free:
	draft_free(&d);
txn_abort:
	mdb_txn_abort(txn);
	return -1;
}

static int
put_pixel(MDB_txn *txn, struct ops_mailstore *s, const char *pixel_id,
    const struct ops_mail *m, const char *message_id, const char *draft_id,
    char *errmsg, size_t errlen)
{
	struct ops_jw *w = ops_jw_new();
	char at[40];
	int rc;

	now_iso(at, sizeof(at));
	ops_jw_open(w);
	ops_jw_str(w, "pixel_id", pixel_id);
	ops_jw_str(w, "to", m->to);
	ops_jw_str(w, "subject", m->subject);
	ops_jw_str(w, "message_id", message_id);
	ops_jw_str(w, "draft_id", draft_id);
	ops_jw_int(w, "open_count", 0);
	ops_jw_str(w, "created_at", at);
	ops_jw_null(w, "first_opened_at");
	ops_jw_null(w, "last_opened_at");
	ops_jw_close(w);
	rc = put_json(txn, s->pixels, pixel_id, w, MDB_NOOVERWRITE, errmsg,
	    errlen);
	ops_jw_free(w);
	return rc;
}

/* The claimed draft, still "sending", in a new write transaction: 0 with
 * *txn open and d filled (the caller frees both), or -1 with errmsg and
 * nothing left open. */
static int
open_sending(struct ops_mailstore *s, const struct ops_draft_claim *cl,
    MDB_txn **txn, struct draft *d, char *errmsg, size_t errlen)
{
	int rc = mdb_txn_begin(s->env, NULL, 0, txn);

	if (rc != 0)
		return ops_errf(errmsg, errlen, "%s: %s", s->dir, mdb_strerror(rc));
	rc = get_draft(*txn, s, cl->id, d, errmsg, errlen);
	if (rc == 0)
		ops_errf(errmsg, errlen, "draft %s: gone from the store", cl->id);
	if (rc > 0 && strcmp(d->status, "sending") != 0) {
		ops_errf(errmsg, errlen, "draft %s: %s, not sending", cl->id,
		    d->status);
		draft_free(d);
		rc = -1;
	}
	if (rc <= 0) {
		mdb_txn_abort(*txn);
		return -1;
	}
	return 0;
}

int
ops_draft_sent(struct ops_mailstore *s, struct ops_draft_claim *cl,
    const char *message_id, const char *thread_id, char *errmsg,
    size_t errlen)
{
	struct draft d;
	char at[40];
	MDB_txn *txn;
	MDB_val k, v;

	if (open_sending(s, cl, &txn, &d, errmsg, errlen) != 0)
		return -1;
	now_iso(at, sizeof(at));
	set_str(&d.status, "sent");
	set_str(&d.sent_at, at);
	set_str(&d.message_id, message_id);
	set_str(&d.gmail_thread_id, thread_id);
	set_str(&d.claim, NULL);
	set_str(&d.last_error, NULL);
	if (put_draft(txn, s, &d, 0, errmsg, errlen) != 0)
		goto draft_free;
	if (*cl->pixel_id != '\0') {
		/* A recovery may find the record written already. */
		k.mv_data = cl->pixel_id;
		k.mv_size = strlen(cl->pixel_id);
		if (mdb_get(txn, s->pixels, &k, &v) == MDB_NOTFOUND &&
		    put_pixel(txn, s, cl->pixel_id, &cl->mail, message_id,
		    cl->id, errmsg, errlen) != 0)
			goto draft_free;
	}
	draft_free(&d);
	if (commit(txn, errmsg, errlen) != 0)
		return -1;
	drop_lock_file(s, cl->id);
	return 0;
draft_free:
	draft_free(&d);
	mdb_txn_abort(txn);
	return -1;
}

int
ops_draft_release(struct ops_mailstore *s, struct ops_draft_claim *cl,
    int unsent, const char *why, char *errmsg, size_t errlen)
{
	struct draft d;
	MDB_txn *txn;

	if (open_sending(s, cl, &txn, &d, errmsg, errlen) != 0)
		return -1;
	if (unsent) {
		/* Nothing left Gmail: a later send makes a new message. */
		set_str(&d.status, "pending");
		set_str(&d.claimed_at, NULL);
		set_str(&d.rfc822msgid, NULL);
		set_str(&d.pixel_id, NULL);
	}
	set_str(&d.claim, NULL);
	set_str(&d.last_error, why);
	if (put_draft(txn, s, &d, 0, errmsg, errlen) != 0)
		goto draft_free;
	draft_free(&d);
	return commit(txn, errmsg, errlen);
draft_free:
	draft_free(&d);
	mdb_txn_abort(txn);
	return -1;
}

void
ops_draft_claim_free(struct ops_draft_claim *cl)
{
	if (cl == NULL)
		return;
	ops_mail_free(&cl->mail);
	free(cl->msgid);
	cl->msgid = NULL;
	if (cl->lock_fd >= 0)
		close(cl->lock_fd);	/* releases the flock */
	cl->lock_fd = -1;
}

/* ---------------------------------------------------------------- pixels */

int
ops_pixel_put(struct ops_mailstore *s, const char *pixel_id,
    const struct ops_mail *m, const char *message_id, const char *draft_id,
    char *errmsg, size_t errlen)
{
	MDB_txn *txn;
	int rc;

	rc = mdb_txn_begin(s->env, NULL, 0, &txn);
	if (rc != 0)
		return ops_errf(errmsg, errlen, "%s: %s", s->dir, mdb_strerror(rc));
	if (put_pixel(txn, s, pixel_id, m, message_id, draft_id, errmsg,
	    errlen) != 0) {
		mdb_txn_abort(txn);
		return -1;
	}
	return commit(txn, errmsg, errlen);
}

struct one {
	int	(*fn)(yajl_val rec, void *arg);
	void	*arg;
	int	 seen;
};

static int
count_one(yajl_val rec, void *arg)
{
	struct one *o = arg;

	o->seen = 1;
	return o->fn(rec, o->arg);
}

int
ops_pixel_list(struct ops_mailstore *s, const char *pixel_id,
    int (*fn)(yajl_val rec, void *arg), void *arg, char *errmsg,
    size_t errlen)
{
	struct one o = { fn, arg, 0 };
	yajl_val rec;
	int rc;

	if (pixel_id == NULL) {
		rc = walk(s, s->pixels, 1, NULL, count_one, &o, errmsg, errlen);
		return rc != 0 ? rc : o.seen;
	}
	rc = get_record(s, s->pixels, "pixel", pixel_id, &rec, errmsg, errlen);
	if (rc != 1)
		return rc;
	rc = fn(rec, arg);
	yajl_tree_free(rec);
	return rc != 0 ? rc : 1;
}
