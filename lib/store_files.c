/* store_files.c: receipt files: a safe name, a temp file in the target
 * directory, fsync, a rename that never replaces, all relative to a
 * directory opened without following symlinks (mblaze mdeliver.c). */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "gmailops.h"

#define NAME_MAX_BYTES	200	/* receipt file names, suffix included */
#define EXT_MAX_BYTES	16
#define FILE_MODE	0640
#define DIR_MODE	0750

/* ---- names ---- */

/* One UTF-8 character at s (n bytes left): its length and code point, or
 * 0 when the bytes are not valid UTF-8 (overlong, surrogate, > U+10FFFF). */
static size_t
utf8_char(const unsigned char *s, size_t n, unsigned long *cp)
{
	size_t len, i;
	unsigned long c;

	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	}
	if ((s[0] & 0xe0) == 0xc0) {
		len = 2;
		c = s[0] & 0x1f;
	} else if ((s[0] & 0xf0) == 0xe0) {
		len = 3;
		c = s[0] & 0x0f;
	} else if ((s[0] & 0xf8) == 0xf0) {
		len = 4;
		c = s[0] & 0x07;
	} else
		return 0;
	if (len > n)
		return 0;
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = c << 6 | (s[i] & 0x3f);
	}
	if ((len == 2 && c < 0x80) || (len == 3 && c < 0x800) ||
	    (len == 4 && c < 0x10000) || c > 0x10ffff ||
	    (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return len;
}

/* Characters a file name must not carry: C0 and C1 controls, DEL, and the
 * invisible ones that make a name read other than it is (bidi overrides
 * and isolates as in "invoice\u202Efdp.exe", marks, zero width space,
 * line separators, BOM). ZWJ and ZWNJ stay: scripts and emoji need them. */
static int
unwanted(unsigned long c)
{
	return c < 0x20 || (c >= 0x7f && c <= 0x9f) || c == 0x061c ||
	    c == 0x200b || c == 0x200e || c == 0x200f ||
	    (c >= 0x2028 && c <= 0x202e) || (c >= 0x2060 && c <= 0x2069) ||
	    c == 0xfeff;
}

/* Where the extension starts ('.' and 1 to 16 ASCII letters or digits,
 * not the whole name), or the end of the name. */
static size_t
ext_start(const char *name)
{
	const char *dot = strrchr(name, '.'), *p;

	if (dot == NULL || dot == name || dot[1] == '\0' ||
	    strlen(dot + 1) > EXT_MAX_BYTES)
		return strlen(name);
	for (p = dot + 1; *p != '\0'; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9')))
			return strlen(name);
	return (size_t)(dot - name);
}

/* At most max bytes of s, cut at a character boundary (s is valid UTF-8). */
static size_t
cut_utf8(const char *s, size_t len, size_t max)
{
	if (len <= max)
		return len;
	while (max > 0 && ((unsigned char)s[max] & 0xc0) == 0x80)
		max--;
	return max;
}

static int
trim_char(char ch)
{
	return ch == ' ' || ch == '.' || ch == '-';
}

char *
ops_store_sanitize(const char *name, const char *sniffed_type)
{
	const char *const *exts = ops_policy_exts(sniffed_type);
	const unsigned char *p;
	struct ops_buf b;
	const char *ext, *c;
	char *out, *s, *res;
	unsigned long cp;
	size_t n, len, e, i;
	int ok = 0;

	/* Only the last path component, whichever separator the sender's
	 * system used ("../../x", "C:\fakepath\x"). */
	if (name == NULL)
		name = "";
	for (c = name; *c != '\0'; c++)
		if (*c == '/' || *c == '\\')
			name = c + 1;
	ops_buf_init(&b, 0);
	p = (const unsigned char *)name;
	len = strlen(name);
	for (i = 0; i < len; i += n) {
		n = utf8_char(p + i, len - i, &cp);
		if (n == 0) {
			ops_buf_add(&b, "_", 1);	/* not UTF-8 */
			n = 1;
			continue;
		}
		if (unwanted(cp))
			continue;
		if (cp == '.' && b.len > 0 && b.data[b.len - 1] == '.')
			continue;			/* no ".." */
		ops_buf_add(&b, p + i, n);
	}
	s = b.data != NULL ? b.data : "";
	while (trim_char(*s))
		s++;
	len = strlen(s);
	while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '.'))
		len--;
	out = ops_xasprintf("%.*s", (int)len, *s != '\0' ? s : "");
	ops_buf_free(&b);
	if (*out == '\0') {
		free(out);
		out = ops_xstrdup("attachment");
	}
	/* The extension a reader will go by matches the bytes. */
	e = ext_start(out);
	ext = out + e;
	if (exts != NULL) {
		for (i = 0; exts[i] != NULL; i++)
			if (strcasecmp(ext, exts[i]) == 0)
				ok = 1;
		if (!ok) {
			e = strlen(out);
			ext = exts[0];
		}
	}
	n = cut_utf8(out, e, NAME_MAX_BYTES - strlen(ext));
	while (n > 0 && (out[n - 1] == ' ' || out[n - 1] == '.'))
		n--;
	res = n > 0 ? ops_xasprintf("%.*s%s", (int)n, out, ext) :
	    ops_xasprintf("attachment%s", ext);
	free(out);
	return res;
}

static int
name_taken(int dirfd, const char *name, const struct ops_strmap *taken,
    const char *prefix)
{
	struct stat st;
	char *key;
	int t = 0;

	if (taken != NULL) {
		key = ops_xasprintf("%s/%s", prefix, name);
		t = ops_strmap_get(taken, key) != NULL;
		free(key);
	}
	if (!t && dirfd >= 0)
		t = fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 ||
		    errno != ENOENT;
	return t;
}

char *
ops_store_unique(int dirfd, const char *name, const struct ops_strmap *taken,
    const char *prefix)
{
	size_t e = ext_start(name), n;
	char suffix[16], *cand;
	int i;

	if (!name_taken(dirfd, name, taken, prefix))
		return ops_xstrdup(name);
	for (i = 2; i < 10000; i++) {
		snprintf(suffix, sizeof(suffix), "-%d", i);
		n = cut_utf8(name, e, NAME_MAX_BYTES - strlen(name + e) -
		    strlen(suffix));
		cand = ops_xasprintf("%.*s%s%s", (int)n, name, suffix, name + e);
		if (!name_taken(dirfd, cand, taken, prefix))
			return cand;
		free(cand);
	}
	return NULL;
}

int
ops_is_tmp_name(const char *name)
{
	return strncmp(name, ".tmp-", 5) == 0;
}

/* ---- directories ---- */

int
ops_store_opendir(const char *root, const char *date, int create)
{
	char *path = date != NULL ? ops_path_join(root, date) :
	    ops_xstrdup(root);
	int fd = -1, saved;

	/* ops_mkdirs refuses a symlink anywhere on the way (ELOOP), and
	 * O_NOFOLLOW the last component should one be planted meanwhile. */
	if (create && ops_mkdirs(path, DIR_MODE) != 0)
		goto out;
	fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 && errno == ENOTDIR) {
		struct stat st;
		if (lstat(path, &st) == 0 && S_ISLNK(st.st_mode))
			errno = ELOOP;
		else
			errno = ENOTDIR;
	}
out:
	saved = errno;
	free(path);
	errno = saved;
	return fd;
}

/* ---- temp files ---- */

/* A fresh ".tmp-<random>" name: caller frees; NULL without randomness. */
static char *
tmp_name(void)
{
	unsigned char rnd[8];
	char hex[17];

	if (ops_random_bytes(rnd, sizeof(rnd)) != 0)
		return NULL;
	ops_hex(rnd, sizeof(rnd), hex);
	return ops_xasprintf(".tmp-%s", hex);
}

/* A new ".tmp-<random>" file in dirfd, mode 0640: fd and *name. */
static int
new_tmp(int dirfd, char **name)
{
	int fd, tries;

	for (tries = 0; tries < 8; tries++) {
		if ((*name = tmp_name()) == NULL)
			return -1;
		fd = openat(dirfd, *name, O_WRONLY | O_CREAT | O_EXCL |
		    O_NOFOLLOW | O_CLOEXEC, FILE_MODE);
		if (fd >= 0) {
			if (fchmod(fd, FILE_MODE) == 0)
				return fd;
			close(fd);
			unlinkat(dirfd, *name, 0);
			free(*name);
			*name = NULL;
			return -1;
		}
		free(*name);
		*name = NULL;
		if (errno != EEXIST)
			return -1;
	}
	return -1;
}

/* Renames path to a new ".tmp-<random>" name in dirfd, never replacing
 * a file: 0 and *name, or -1/errno (EINVAL: no RENAME_NOREPLACE here). */
static int
rename_to_tmp(const char *path, int dirfd, char **name)
{
	int tries;

	for (tries = 0; tries < 8; tries++) {
		if ((*name = tmp_name()) == NULL)
			return -1;
		if (renameat2(AT_FDCWD, path, dirfd, *name,
		    RENAME_NOREPLACE) == 0)
			return 0;
		free(*name);
		*name = NULL;
		if (errno == ENOSYS || errno == ENOTSUP)
			errno = EINVAL;
		if (errno != EEXIST)
			return -1;
	}
	return -1;
}

static int
write_all(int fd, const void *data, size_t len)
{
	const char *p = data;
	ssize_t n;

	while (len > 0) {
		n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n == 0)
			errno = ENOSPC;		/* no progress: no room */
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* sha256 and size of fd from its start; with copyfd, copies the bytes
 * there too. 0 or -1/errno. */
static int
hash_fd(int fd, int copyfd, char hex[65], long long *size)
{
	unsigned char buf[65536], md[EVP_MAX_MD_SIZE];
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned mdlen = 0;
	off_t off = 0;
	ssize_t n;
	int rc = -1;

	if (ctx == NULL || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
		errno = ENOMEM;
		goto out;
	}
	for (;;) {
		n = pread(fd, buf, sizeof(buf), off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			goto out;
		if (n == 0)
			break;
		if (EVP_DigestUpdate(ctx, buf, (size_t)n) != 1) {
			errno = EIO;
			goto out;
		}
		if (copyfd >= 0 && write_all(copyfd, buf, (size_t)n) != 0)
			goto out;
		off += n;
	}
	if (EVP_DigestFinal_ex(ctx, md, &mdlen) != 1) {
		errno = EIO;
		goto out;
	}
	ops_hex(md, mdlen, hex);
	*size = (long long)off;
	rc = 0;
out:
	EVP_MD_CTX_free(ctx);
	return rc;
}

int
ops_store_hash_file(int dirfd, const char *name, char hex[65],
    long long *size)
{
	struct stat st;
	int fd, rc, saved;

	fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -1;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		errno = EINVAL;
		return -1;
	}
	rc = hash_fd(fd, -1, hex, size);
	saved = errno;
	close(fd);
	errno = saved;
	return rc;
}

int
ops_store_take_spool(int dirfd, const char *spool, const char *sha256,
    long long size, char **tmp, char *err, size_t errlen)
{
	const char *base = strrchr(spool, '/') != NULL ? strrchr(spool, '/') +
	    1 : spool;
	struct stat st, st2;
	char hex[65];
	long long got;
	int fd = -1, out = -1, rc = -1, why = EINVAL, moved;

	*tmp = NULL;
	/* Only the spool files mime-extract makes: a record must not move
	 * or delete anything else. */
	if (strncmp(base, ".spool-", 7) != 0) {
		snprintf(err, errlen, "spool: %s: not a spool file", spool);
		errno = EINVAL;
		return -1;
	}
	fd = open(spool, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "spool: %s: %s", spool, strerror(errno));
		errno = EINVAL;		/* the record's file, not the storage */
		return -1;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
	    st.st_uid != geteuid() || st.st_nlink != 1) {
		snprintf(err, errlen, "spool: %s: not a spool file of ours",
		    spool);
		close(fd);
		errno = EINVAL;
		return -1;
	}
	if (hash_fd(fd, -1, hex, &got) != 0) {
		why = errno;
		snprintf(err, errlen, "spool: %s: %s", spool, strerror(errno));
		goto unlink_spool;
	}
	if (got != size || strcmp(hex, sha256) != 0) {
		snprintf(err, errlen, "spool: %s: bytes do not match the "
		    "record's size and sha256", spool);
		goto unlink_spool;
	}
	if (fsync(fd) != 0 || fchmod(fd, FILE_MODE) != 0) {
		why = errno;
		snprintf(err, errlen, "spool: %s: %s", spool, strerror(errno));
		goto unlink_spool;
	}
	/* The spool file becomes the temp file: no new inode, no copy. A
	 * file system without RENAME_NOREPLACE gets an empty temp file
	 * first, which the rename replaces. */
	moved = rename_to_tmp(spool, dirfd, tmp);
	if (moved != 0 && errno == EINVAL) {
		out = new_tmp(dirfd, tmp);
		if (out < 0) {
			why = errno;
			snprintf(err, errlen, "temp file: %s", strerror(errno));
			goto unlink_spool;
		}
		moved = renameat(AT_FDCWD, spool, dirfd, *tmp);
	}
	if (moved == 0) {
		/* The file moved must be the file hashed. */
		if (fstatat(dirfd, *tmp, &st2, AT_SYMLINK_NOFOLLOW) != 0 ||
		    st2.st_dev != st.st_dev || st2.st_ino != st.st_ino) {
			snprintf(err, errlen, "spool: %s: replaced while read",
			    spool);
			goto unlink_tmp;
		}
		rc = 0;
		goto out;
	}
	if (errno != EXDEV) {
		why = errno;
		snprintf(err, errlen, "spool: %s: rename: %s", spool,
		    strerror(errno));
		if (*tmp == NULL)
			goto unlink_spool;
		goto unlink_tmp;
	}
	if (out < 0 && (out = new_tmp(dirfd, tmp)) < 0) {
		why = errno;
		snprintf(err, errlen, "temp file: %s", strerror(errno));
		goto unlink_spool;
	}
	/* Another file system: copy, checking the bytes once more. */
	if (hash_fd(fd, out, hex, &got) != 0 || fsync(out) != 0) {
		why = errno;
		snprintf(err, errlen, "%s: %s", *tmp, strerror(errno));
		goto unlink_tmp;
	}
	if (got != size || strcmp(hex, sha256) != 0) {
		snprintf(err, errlen, "spool: %s: changed while copied", spool);
		goto unlink_tmp;
	}
	rc = 0;
	goto unlink_spool;
unlink_tmp:
	unlinkat(dirfd, *tmp, 0);
	free(*tmp);
	*tmp = NULL;
unlink_spool:
	unlink(spool);
out:
	if (out >= 0 && close(out) != 0 && rc == 0) {
		why = errno;
		snprintf(err, errlen, "%s: %s", *tmp, strerror(errno));
		unlinkat(dirfd, *tmp, 0);
		free(*tmp);
		*tmp = NULL;
		rc = -1;
	}
	close(fd);
	if (rc != 0)
		errno = why;
	return rc;
}

int
ops_store_write_tmp(int dirfd, const void *data, size_t len, char **tmp,
    char *err, size_t errlen)
{
	int fd, why;

	fd = new_tmp(dirfd, tmp);
	if (fd < 0) {
		snprintf(err, errlen, "temp file: %s", strerror(errno));
		return -1;
	}
	if (write_all(fd, data, len) != 0 || fsync(fd) != 0) {
		why = errno;
		snprintf(err, errlen, "%s: %s", *tmp, strerror(errno));
		close(fd);
		goto unlink;
	}
	if (close(fd) != 0) {
		why = errno;
		snprintf(err, errlen, "%s: %s", *tmp, strerror(errno));
		goto unlink;
	}
	return 0;
unlink:
	unlinkat(dirfd, *tmp, 0);
	free(*tmp);
	*tmp = NULL;
	errno = why;
	return -1;
}

int
ops_store_publish(int dirfd, const char *tmp, const char *final)
{
	if (renameat2(dirfd, tmp, dirfd, final, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno == EEXIST)
		return 1;
	if (errno != EINVAL && errno != ENOSYS && errno != ENOTSUP)
		return -1;
	/* A file system without RENAME_NOREPLACE: link(2) never replaces
	 * either; a crash between the two leaves both names, and recovery
	 * removes the temp one. */
	if (linkat(dirfd, tmp, dirfd, final, 0) != 0)
		return errno == EEXIST ? 1 : -1;
	(void)unlinkat(dirfd, tmp, 0);
	return 0;
}

/* ---- walking the storage roots ---- */

/* Calls fn for each entry of dirfd (rel: prefix/name); descends into
 * real directories while depth < 1. */
static int
walk_dir(int dirfd, const char *prefix, int depth,
    void (*fn)(void *, const char *, unsigned), void *arg)
{
	struct dirent *d;
	struct stat st;
	DIR *dir;
	char *rel;
	int sub, fd = dup(dirfd);

	if (fd < 0)
		return -1;
	dir = fdopendir(fd);
	if (dir == NULL) {
		close(fd);
		return -1;
	}
	for (;;) {
		d = readdir(dir);
		if (d == NULL)
			break;
		if (strcmp(d->d_name, ".") == 0 || strcmp(d->d_name, "..") == 0)
			continue;
		if (fstatat(dirfd, d->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0)
			continue;
		rel = *prefix != '\0' ? ops_xasprintf("%s/%s", prefix,
		    d->d_name) : ops_xstrdup(d->d_name);
		fn(arg, rel, (unsigned)st.st_mode);
		if (S_ISDIR(st.st_mode) && depth < 1) {
			sub = openat(dirfd, d->d_name, O_RDONLY | O_DIRECTORY |
			    O_NOFOLLOW | O_CLOEXEC);
			if (sub >= 0) {
				walk_dir(sub, rel, depth + 1, fn, arg);
				close(sub);
			}
		}
		free(rel);
	}
	closedir(dir);
	return 0;
}

int
ops_store_walk(const char *root, void (*fn)(void *, const char *, unsigned),
    void *arg)
{
	int fd, rc;

	fd = ops_store_opendir(root, NULL, 0);
	if (fd < 0)
		return errno == ENOENT ? 0 : -1;
	rc = walk_dir(fd, "", 0, fn, arg);
	close(fd);
	return rc;
}

struct sweep {
	const char	*root;
	int		 removed;
};

static void
sweep_one(void *arg, const char *rel, unsigned mode)
{
	struct sweep *sw = arg;
	const char *base = strrchr(rel, '/') != NULL ? strrchr(rel, '/') + 1 :
	    rel;
	char *path;

	if (!ops_is_tmp_name(base) || !S_ISREG(mode))
		return;
	path = ops_path_join(sw->root, rel);
	if (unlink(path) == 0)
		sw->removed++;
	free(path);
}

int
ops_store_sweep(const char *root)
{
	struct sweep sw = { root, 0 };

	(void)ops_store_walk(root, sweep_one, &sw);
	return sw.removed;
}
