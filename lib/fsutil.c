/* fsutil.c: directories, atomic file writes and private-file checks. */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gmailops.h"

int
ops_mkdirs(const char *path, int mode)
{
	char *p, *s;
	struct stat st;
	int rc = 0;

	p = ops_xstrdup(path);
	for (s = p + 1; rc == 0; s++) {
		if (*s != '/' && *s != '\0')
			continue;
		char c = *s;
		*s = '\0';
		if (mkdir(p, (mode_t)mode) != 0 && errno != EEXIST)
			rc = -1;
		else if (lstat(p, &st) != 0)
			rc = -1;
		else if (!S_ISDIR(st.st_mode)) {
			/* A symlink in the way is not followed. */
			errno = S_ISLNK(st.st_mode) ? ELOOP : ENOTDIR;
			rc = -1;
		}
		*s = c;
		if (c == '\0')
			break;
	}
	free(p);
	return rc;
}

char *
ops_dirname(const char *path)
{
	const char *slash = strrchr(path, '/');

	if (slash == NULL)
		return ops_xstrdup(".");
	if (slash == path)
		return ops_xstrdup("/");
	return ops_xasprintf("%.*s", (int)(slash - path), path);
}

char *
ops_path_join(const char *a, const char *b)
{
	if (*b == '/' || *a == '\0')
		return ops_xstrdup(b);
	return ops_xasprintf("%s%s%s", a, a[strlen(a) - 1] == '/' ? "" : "/",
	    b);
}

static int
fsync_dir(const char *dir)
{
	int fd, rc;

	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	rc = fsync(fd);
	close(fd);
	return rc;
}

int
ops_write_atomic(const char *path, const void *data, size_t len, int mode)
{
	char *dir, *tmp = NULL;
	const char *base, *p = data;
	int fd = -1, saved, rc = -1;
	size_t off = 0;
	unsigned char rnd[6];

	dir = ops_dirname(path);
	base = strrchr(path, '/') != NULL ? strrchr(path, '/') + 1 : path;
	if (ops_random_bytes(rnd, sizeof(rnd)) != 0)
		goto out;
	tmp = ops_xasprintf("%s/.%s.tmp.%02x%02x%02x%02x%02x%02x", dir, base,
	    rnd[0], rnd[1], rnd[2], rnd[3], rnd[4], rnd[5]);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
	    (mode_t)mode);
	if (fd < 0)
		goto out;
	if (fchmod(fd, (mode_t)mode) != 0)	/* umask must not widen it */
		goto unlink;
	while (off < len) {
		ssize_t n = write(fd, p + off, len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			goto unlink;
		off += (size_t)n;
	}
	if (fsync(fd) != 0)
		goto unlink;
	if (close(fd) != 0) {
		fd = -1;
		goto unlink;
	}
	fd = -1;
	/* rename(2) replaces a symlink at path, never what it points to. */
	if (rename(tmp, path) != 0)
		goto unlink;
	if (fsync_dir(dir) != 0)
		goto out;
	rc = 0;
	goto out;
unlink:
	saved = errno;
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	errno = saved;
out:
	saved = errno;
	free(tmp);
	free(dir);
	errno = saved;
	return rc;
}

char *
ops_read_file(const char *path, size_t cap, size_t *len, int nofollow)
{
	struct ops_buf b;
	char chunk[8192];
	struct stat st;
	int fd, saved;
	ssize_t n;

	fd = open(path, O_RDONLY | O_CLOEXEC | (nofollow ? O_NOFOLLOW : 0));
	if (fd < 0)
		return NULL;
	if (fstat(fd, &st) != 0) {
		saved = errno;
		close(fd);
		errno = saved;
		return NULL;
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		errno = EINVAL;
		return NULL;
	}
	ops_buf_init(&b, cap);
	for (;;) {
		n = read(fd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (ops_buf_add(&b, chunk, (size_t)n) != 0) {
			errno = EFBIG;
			n = -1;
			break;
		}
	}
	saved = errno;
	close(fd);
	if (n < 0) {
		ops_buf_free(&b);
		errno = saved;
		return NULL;
	}
	*len = b.len;
	return ops_buf_steal(&b);
}

int
ops_check_private(const char *path, const char **why)
{
	struct stat st;

	if (lstat(path, &st) != 0) {
		*why = strerror(errno);
		return -1;
	}
	if (S_ISLNK(st.st_mode)) {
		*why = "is a symbolic link";
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		*why = "not a regular file";
		return -1;
	}
	if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
		*why = "group or world can read it (chmod 600)";
		return -1;
	}
	return 0;
}
