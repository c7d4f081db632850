/* store_verify.c: receipt-store verify: the records and the files agree.
 * Each receipt's file exists with its size and sha256 and is indexed;
 * each file under the storage roots has a receipt; no temp file, no
 * unfinished journal entry. Reports only: the next ingest repairs what a
 * crash left. */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gmailops.h"

struct verify {
	struct ops_store	*s;
	struct ops_strmap	*paths;		/* storage paths recorded */
	const char		*rootrel;	/* root as recorded */
	long			 problems, receipts, files;
};

static void __attribute__((format(printf, 2, 3)))
problem(struct verify *vf, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	ops_warnx("verify: %s", msg);
	vf->problems++;
}

static char *
resolve(struct verify *vf, const char *storage_path)
{
	if (*storage_path == '/')
		return ops_xstrdup(storage_path);
	return ops_path_join(ops_store_var(vf->s), storage_path);
}

static void
check_file(struct verify *vf, const struct ops_receipt *r)
{
	char *path = resolve(vf, r->storage_path), *dir = ops_dirname(path);
	const char *base = strrchr(path, '/') + 1;
	char hex[65];
	long long size;
	int dirfd;

	dirfd = ops_store_opendir(dir, NULL, 0);
	if (dirfd < 0 || ops_store_hash_file(dirfd, base, hex, &size) != 0) {
		problem(vf, "receipt %llu: %s: %s", (unsigned long long)r->id,
		    r->storage_path, errno == ENOENT ? "missing" :
		    errno == ELOOP || errno == EINVAL ? "not a regular file" :
		    strerror(errno));
	} else if (size != r->filesize) {
		problem(vf, "receipt %llu: %s: %lld bytes, recorded %lld",
		    (unsigned long long)r->id, r->storage_path, size,
		    r->filesize);
	} else if (strcmp(hex, r->sha256) != 0) {
		problem(vf, "receipt %llu: %s: sha256 differs from the record",
		    (unsigned long long)r->id, r->storage_path);
	}
	if (dirfd >= 0)
		close(dirfd);
	free(dir);
	free(path);
}

static int
check_receipt(void *arg, const void *key, size_t klen, const char *val,
    size_t vlen)
{
	struct verify *vf = arg;
	uint64_t id = ops_store_keyid(key, klen), other;
	struct ops_receipt r;
	yajl_val v;

	(void)vlen;
	vf->receipts++;
	v = ops_json_parse(val, NULL, 0);
	if (ops_receipt_from_json(v, &r) != 0 || r.id != id) {
		problem(vf, "receipt %llu: unreadable record",
		    (unsigned long long)id);
		goto out;
	}
	if (strcmp(r.state, "ingested") != 0 &&
	    strcmp(r.state, "quarantined") != 0)
		problem(vf, "receipt %llu: unknown state %s",
		    (unsigned long long)id, r.state);
	if (ops_receipt_find(vf->s, r.source, r.msg_key, r.part_id, &other) ||
	    other != id)
		problem(vf, "receipt %llu: not under its key in receipt_keys",
		    (unsigned long long)id);
	if (ops_receipt_by_sha(vf->s, r.sha256, &other) != 0 || other != id)
		problem(vf, "receipt %llu: not under its sha256 in the index",
		    (unsigned long long)id);
	if (!ops_strmap_add(vf->paths, r.storage_path, ""))
		problem(vf, "receipt %llu: %s: recorded twice",
		    (unsigned long long)id, r.storage_path);
	check_file(vf, &r);
out:
	yajl_tree_free(v);
	return 0;
}

static void
check_entry(void *arg, const char *rel, unsigned mode)
{
	struct verify *vf = arg;
	const char *base = strrchr(rel, '/') != NULL ? strrchr(rel, '/') + 1 :
	    rel;
	int depth = strchr(rel, '/') != NULL;
	char *path = ops_xasprintf("%s/%s", vf->rootrel, rel);

	if (S_ISDIR(mode)) {
		if (depth > 0)
			problem(vf, "%s: a directory inside a date directory",
			    path);
	} else if (S_ISLNK(mode)) {
		problem(vf, "%s: a symbolic link", path);
	} else if (!S_ISREG(mode)) {
		problem(vf, "%s: not a regular file", path);
	} else if (ops_is_tmp_name(base)) {
		problem(vf, "%s: a temp file left behind", path);
	} else {
		vf->files++;
		if (ops_strmap_get(vf->paths, path) == NULL)
			problem(vf, "%s: no receipt records this file", path);
	}
	free(path);
}

static int
check_pending(void *arg, const void *key, size_t klen, const char *val,
    size_t vlen)
{
	(void)val;
	(void)vlen;
	problem(arg, "pending entry %llu: an unfinished ingest (the next "
	    "ingest settles it)", (unsigned long long)ops_store_keyid(key,
	    klen));
	return 0;
}

long
ops_store_verify(struct ops_store *s, const struct ops_config *c,
    long *receipts, long *files)
{
	static const char *roots[] = { "STORAGE_INCOMING_DIR",
		"STORAGE_QUARANTINE_DIR" };
	struct verify vf;
	const char *var = ops_store_var(s), *root;
	size_t i, n, nkeys, nsha;

	memset(&vf, 0, sizeof(vf));
	vf.s = s;
	vf.paths = ops_strmap_new();
	ops_store_begin(s, 0);
	ops_store_each(s, OPS_DB_RECEIPTS, 0, check_receipt, &vf);
	n = ops_store_count(s, OPS_DB_RECEIPTS);
	nkeys = ops_store_count(s, OPS_DB_KEYS);
	nsha = ops_store_count(s, OPS_DB_SHA256);
	if (nkeys != n || nsha != n)
		problem(&vf, "index sizes differ: %zu receipts, %zu keys, "
		    "%zu sha256 entries", n, nkeys, nsha);
	ops_store_each(s, OPS_DB_PENDING, 0, check_pending, &vf);
	ops_store_abort(s);
	for (i = 0; i < 2; i++) {
		root = ops_config_path(c, roots[i]);
		vf.rootrel = strncmp(root, var, strlen(var)) == 0 &&
		    root[strlen(var)] == '/' ? root + strlen(var) + 1 : root;
		if (ops_store_walk(root, check_entry, &vf) != 0)
			problem(&vf, "%s: %s", vf.rootrel, strerror(errno));
	}
	ops_strmap_free(vf.paths);
	*receipts = vf.receipts;
	*files = vf.files;
	return vf.problems;
}
