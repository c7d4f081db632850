/* store.c: the receipt store's LMDB environment: one per process, named
 * sub-databases, one transaction at a time (receipt-store(1), DATABASE).
 * LMDB values live in the map only while their transaction does, so every
 * value handed out is a copy. */
#include <sys/mman.h>

#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lmdb.h>

#include "gmailops.h"

/* Virtual address space, not disk: the file grows as data is written.
 * A receipt costs about 1 KiB with its index entries. */
#define STORE_MAPSIZE	((size_t)1 << 30)

static const char *db_names[OPS_DB_COUNT] = {
	"receipts", "receipt_keys", "sha256", "ledger", "jobruns", "pending",
	"meta"
};

struct ops_store {
	MDB_env		*env;
	MDB_txn		*txn;
	MDB_dbi		 dbi[OPS_DB_COUNT];
	char		*dir;		/* var/db */
	char		*var;		/* BASE_DIR/var */
	int		 lockfd;
	void		*map;		/* LMDB's map of data.mdb, or NULL */
	size_t		 mapsize;
	unsigned	 calls;		/* since the map's pages were let go */
};

/* Database calls between two ops_store_release(): each reads a few pages
 * of the map, which a long run would otherwise keep resident. */
#define RELEASE_EVERY	2

/* Where LMDB mapped data.mdb, from /proc/self/maps (LMDB does not say:
 * mdb_env_info gives a fixed map's address only). */
static void
find_map(struct ops_store *s)
{
	unsigned long start, end, ino;
	struct stat st;
	char line[PATH_MAX + 128], perms[8];
	FILE *fp;
	int fd;

	if (mdb_env_get_fd(s->env, &fd) != 0 || fstat(fd, &st) != 0 ||
	    (fp = fopen("/proc/self/maps", "re")) == NULL)
		return;
	while (fgets(line, sizeof(line), fp) != NULL)
		if (sscanf(line, "%lx-%lx %7s %*x %*s %lu", &start, &end, perms,
		    &ino) == 4 && ino == (unsigned long)st.st_ino &&
		    perms[3] == 's' && strstr(line, "/data.mdb") != NULL) {
			s->map = (void *)start;
			s->mapsize = end - start;
			break;
		}
	fclose(fp);
}

/* An LMDB failure: busy ones are temporary (75), the rest local I/O.
 * LMDB reports a short write, as on a full file system, as EIO: the
 * room left on var/db's file system says what it was. */
static void __attribute__((noreturn))
store_die(const struct ops_store *s, const char *what, int rc)
{
	struct statvfs vfs;
	char why[96] = "";
	int code = OPS_EX_IOERR;

	if (rc == MDB_READERS_FULL || rc == EAGAIN || rc == EBUSY)
		code = OPS_EX_TEMPFAIL;
	if (rc == MDB_MAP_FULL)
		snprintf(why, sizeof(why), " (the store has reached its 1 GiB "
		    "map)");
	else if ((rc == EIO || rc == ENOSPC || rc == EDQUOT) &&
	    statvfs(s->dir, &vfs) == 0)
		snprintf(why, sizeof(why), " (%llu kB free on the file system "
		    "of %s)", (unsigned long long)vfs.f_bavail * vfs.f_frsize /
		    1024, s->dir);
	ops_die(code, "db: %s: %s%s", what, mdb_strerror(rc), why);
}

/* Opens every sub-database in one transaction; write: create missing
 * ones. 0, or MDB_NOTFOUND when one is missing and !write. */
static int
open_dbis(struct ops_store *s, int write)
{
	MDB_txn *txn;
	int rc, i;

	rc = mdb_txn_begin(s->env, NULL, write ? 0 : MDB_RDONLY, &txn);
	if (rc != 0)
		store_die(s, "mdb_txn_begin", rc);
	for (i = 0; i < OPS_DB_COUNT; i++) {
		rc = mdb_dbi_open(txn, db_names[i], write ? MDB_CREATE : 0,
		    &s->dbi[i]);
		if (rc == MDB_NOTFOUND && !write) {
			mdb_txn_abort(txn);
			return rc;
		}
		if (rc != 0) {
			mdb_txn_abort(txn);
			store_die(s, db_names[i], rc);
		}
	}
	/* Committing (read-only too) makes the handles the environment's. */
	rc = mdb_txn_commit(txn);
	if (rc != 0)
		store_die(s, "mdb_txn_commit", rc);
	return 0;
}

struct ops_store *
ops_store_open(const struct ops_config *c)
{
	struct ops_store *s = ops_xmalloc(sizeof(*s));
	int rc;

	memset(s, 0, sizeof(*s));
	s->lockfd = -1;
	s->var = ops_xasprintf("%s/var", ops_config_path(c, "BASE_DIR"));
	s->dir = ops_config_var(c, "db");
	if (ops_mkdirs(s->var, 0755) != 0 || ops_mkdirs(s->dir, 0700) != 0)
		ops_dief(OPS_EX_IOERR, "%s", s->dir);
	rc = mdb_env_create(&s->env);
	if (rc != 0)
		store_die(s, "mdb_env_create", rc);
	rc = mdb_env_set_maxdbs(s->env, OPS_DB_COUNT);
	if (rc == 0)
		rc = mdb_env_set_mapsize(s->env, STORE_MAPSIZE);
	if (rc != 0)
		store_die(s, "mdb_env_set", rc);
	rc = mdb_env_open(s->env, s->dir, 0, 0600);
	if (rc != 0)
		ops_die(rc == EAGAIN ? OPS_EX_TEMPFAIL : OPS_EX_IOERR,
		    "db: %s: %s", s->dir, mdb_strerror(rc));
	/* Reader slots of processes killed meanwhile (kill -9) are freed. */
	(void)mdb_reader_check(s->env, NULL);
	if (open_dbis(s, 0) == MDB_NOTFOUND)
		open_dbis(s, 1);
	find_map(s);
	return s;
}

void
ops_store_close(struct ops_store *s)
{
	if (s == NULL)
		return;
	if (s->txn != NULL)
		mdb_txn_abort(s->txn);
	mdb_env_close(s->env);
	if (s->lockfd >= 0)
		close(s->lockfd);
	free(s->dir);
	free(s->var);
	free(s);
}

const char *
ops_store_var(const struct ops_store *s)
{
	return s->var;
}

int
ops_store_lock(struct ops_store *s, const char *name)
{
	char *path = ops_xasprintf("%s/%s.lock", s->dir, name);
	int fd;

	fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		ops_dief(OPS_EX_IOERR, "%s", path);
	free(path);
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		if (errno != EWOULDBLOCK)
			ops_dief(OPS_EX_IOERR, "flock");
		close(fd);
		return 1;
	}
	if (s->lockfd >= 0)
		close(s->lockfd);
	s->lockfd = fd;
	return 0;
}

void
ops_store_begin(struct ops_store *s, int write)
{
	int rc;

	if (s->txn != NULL)
		ops_die(OPS_EX_SOFTWARE, "internal error: nested transaction");
	rc = mdb_txn_begin(s->env, NULL, write ? 0 : MDB_RDONLY, &s->txn);
	if (rc != 0) {
		s->txn = NULL;
		store_die(s, "mdb_txn_begin", rc);
	}
}

void
ops_store_commit(struct ops_store *s)
{
	int rc = mdb_txn_commit(s->txn);

	s->txn = NULL;
	ops_store_release(s);		/* the commit read some too */
	if (rc != 0)
		store_die(s, "mdb_txn_commit", rc);
}

void
ops_store_release(struct ops_store *s)
{
	/* The map is shared and read-only (no MDB_WRITEMAP: a write
	 * transaction's pages are its own memory until the commit writes
	 * them): dropped pages stay in the page cache and come back on the
	 * next read, as minor faults. So this is safe at any time. */
	if (s->map != NULL)
		(void)madvise(s->map, s->mapsize, MADV_DONTNEED);
}

void
ops_store_abort(struct ops_store *s)
{
	if (s->txn != NULL)
		mdb_txn_abort(s->txn);
	s->txn = NULL;
}

static MDB_txn *
need_txn(struct ops_store *s)
{
	if (s->txn == NULL)
		ops_die(OPS_EX_SOFTWARE, "internal error: no transaction");
	if (++s->calls >= RELEASE_EVERY) {
		s->calls = 0;
		ops_store_release(s);
	}
	return s->txn;
}

void
ops_store_idkey(uint64_t id, unsigned char key[8])
{
	int i;

	for (i = 7; i >= 0; i--) {
		key[i] = (unsigned char)(id & 0xff);
		id >>= 8;
	}
}

uint64_t
ops_store_keyid(const void *key, size_t len)
{
	const unsigned char *k = key;
	uint64_t id = 0;
	size_t i;

	if (len != 8)
		return 0;
	for (i = 0; i < 8; i++)
		id = id << 8 | k[i];
	return id;
}

int
ops_store_get(struct ops_store *s, enum ops_db db, const void *key,
    size_t klen, char **val, size_t *vlen)
{
	MDB_val k = { klen, (void *)key }, v;
	int rc;

	rc = mdb_get(need_txn(s), s->dbi[db], &k, &v);
	if (rc == MDB_NOTFOUND)
		return 1;
	if (rc != 0)
		store_die(s, db_names[db], rc);
	if (val != NULL) {
		*val = ops_xmalloc(v.mv_size + 1);
		memcpy(*val, v.mv_data, v.mv_size);
		(*val)[v.mv_size] = '\0';
	}
	if (vlen != NULL)
		*vlen = v.mv_size;
	return 0;
}

int
ops_store_put(struct ops_store *s, enum ops_db db, const void *key,
    size_t klen, const void *val, size_t vlen, int nooverwrite)
{
	MDB_val k = { klen, (void *)key }, v = { vlen, (void *)val };
	int rc;

	rc = mdb_put(need_txn(s), s->dbi[db], &k, &v,
	    nooverwrite ? MDB_NOOVERWRITE : 0);
	if (rc == MDB_KEYEXIST && nooverwrite)
		return 1;
	if (rc != 0)
		store_die(s, db_names[db], rc);
	return 0;
}

int
ops_store_del(struct ops_store *s, enum ops_db db, const void *key,
    size_t klen)
{
	MDB_val k = { klen, (void *)key };
	int rc;

	rc = mdb_del(need_txn(s), s->dbi[db], &k, NULL);
	if (rc == MDB_NOTFOUND)
		return 1;
	if (rc != 0)
		store_die(s, db_names[db], rc);
	return 0;
}

int
ops_store_each(struct ops_store *s, enum ops_db db, int reverse,
    int (*fn)(void *, const void *, size_t, const char *, size_t), void *arg)
{
	MDB_cursor *cur;
	MDB_val k, v;
	struct ops_buf copy;
	int rc, ret = 0;

	rc = mdb_cursor_open(need_txn(s), s->dbi[db], &cur);
	if (rc != 0)
		store_die(s, "mdb_cursor_open", rc);
	ops_buf_init(&copy, 0);
	rc = mdb_cursor_get(cur, &k, &v, reverse ? MDB_LAST : MDB_FIRST);
	while (rc == 0) {
		ops_buf_reset(&copy);
		if (ops_buf_add(&copy, v.mv_data, v.mv_size) != 0)
			ops_die(OPS_EX_SOFTWARE, "db: %s: value too large",
			    db_names[db]);
		ret = fn(arg, k.mv_data, k.mv_size, copy.data != NULL ?
		    copy.data : "", v.mv_size);
		if (ret != 0)
			break;
		rc = mdb_cursor_get(cur, &k, &v, reverse ? MDB_PREV : MDB_NEXT);
	}
	ops_buf_free(&copy);
	mdb_cursor_close(cur);
	if (ret == 0 && rc != 0 && rc != MDB_NOTFOUND)
		store_die(s, db_names[db], rc);
	return ret;
}

uint64_t
ops_store_next_id(struct ops_store *s, const char *seq)
{
	char *key = ops_xasprintf("seq:%s", seq), *val;
	unsigned char buf[8];
	uint64_t id = 0;
	size_t len;

	if (ops_store_get(s, OPS_DB_META, key, strlen(key), &val, &len) == 0) {
		id = ops_store_keyid(val, len);
		free(val);
	}
	id++;
	ops_store_idkey(id, buf);
	ops_store_put(s, OPS_DB_META, key, strlen(key), buf, sizeof(buf), 0);
	free(key);
	return id;
}

size_t
ops_store_count(struct ops_store *s, enum ops_db db)
{
	MDB_stat st;
	int rc;

	rc = mdb_stat(need_txn(s), s->dbi[db], &st);
	if (rc != 0)
		store_die(s, "mdb_stat", rc);
	return st.ms_entries;
}
