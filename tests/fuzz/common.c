/* common.c: the fuzz targets' shared helpers: inputs as strings, memory
 * files and files, exit() turned into a return, invariant checks. */
#include <sys/mman.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gmailops.h"
#include "common.h"

/* The sanitizers' interface when the program has one (a plain build has
 * not: weak, NULL). */
int	 __sanitizer_install_malloc_and_free_hooks(
	    void (*)(const volatile void *, size_t),
	    void (*)(const volatile void *)) __attribute__((weak));
void	 __sanitizer_report_error_summary(const char *) __attribute__((weak));
/* -Wl,--wrap=exit sends the program's exit() calls here. */
void	 __real_exit(int) __attribute__((noreturn));
void	 __wrap_exit(int) __attribute__((noreturn));

char *
fuzz_str(const uint8_t *data, size_t size)
{
	const uint8_t *nul = memchr(data, '\0', size);
	size_t n = nul != NULL ? (size_t)(nul - data) : size;
	char *s = ops_xmalloc(n + 1);

	memcpy(s, data, n);
	s[n] = '\0';
	return s;
}

int
fuzz_memfd(const void *data, size_t size)
{
	const char *p = data;
	ssize_t w;
	int fd;

	fd = memfd_create("fuzz-input", MFD_CLOEXEC);
	if (fd < 0)
		ops_dief(OPS_EX_SOFTWARE, "memfd_create");
	while (size > 0) {
		w = write(fd, p, size);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			ops_dief(OPS_EX_SOFTWARE, "memfd write");
		p += w;
		size -= (size_t)w;
	}
	if (lseek(fd, 0, SEEK_SET) != 0)
		ops_dief(OPS_EX_SOFTWARE, "memfd lseek");
	return fd;
}

struct mem {
	const char	*p;
	size_t		 n, pos;
};

static ssize_t
mem_read(void *cookie, char *buf, size_t size)
{
	struct mem *m = cookie;
	size_t k = m->n - m->pos < size ? m->n - m->pos : size;

	memcpy(buf, m->p + m->pos, k);
	m->pos += k;
	return (ssize_t)k;
}

static int
mem_close(void *cookie)
{
	free(cookie);
	return 0;
}

FILE *
fuzz_memstream(const void *data, size_t size)
{
	static const cookie_io_functions_t io = {
		.read = mem_read, .close = mem_close
	};
	struct mem *m = ops_xmalloc(sizeof(*m));
	FILE *fp;

	m->p = data;
	m->n = size;
	m->pos = 0;
	fp = fopencookie(m, "r", io);
	if (fp == NULL)
		ops_dief(OPS_EX_SOFTWARE, "fopencookie");
	return fp;
}

/* ------------------------------------------------------------ files */

static char tmpdir[64];

static void
tmpdir_remove(void)
{
	struct dirent *de;
	char path[sizeof(tmpdir) + 256];
	DIR *d = opendir(tmpdir);

	if (d == NULL)
		return;
	for (;;) {
		de = readdir(d);
		if (de == NULL)
			break;
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", tmpdir, de->d_name);
		(void)unlink(path);
	}
	closedir(d);
	(void)rmdir(tmpdir);
}

const char *
fuzz_tmpdir(void)
{
	if (tmpdir[0] == '\0') {
		snprintf(tmpdir, sizeof(tmpdir), "/tmp/gmail-ops-fuzz.XXXXXX");
		if (mkdtemp(tmpdir) == NULL)
			ops_dief(OPS_EX_SOFTWARE, "mkdtemp");
		atexit(tmpdir_remove);
	}
	return tmpdir;
}

const char *
fuzz_file(const char *name, const void *data, size_t size)
{
	static char path[sizeof(tmpdir) + 256];
	const char *p = data;
	ssize_t w;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", fuzz_tmpdir(), name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
	    0600);
	if (fd < 0)
		ops_dief(OPS_EX_SOFTWARE, "%s", path);
	while (size > 0) {
		w = write(fd, p, size);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			ops_dief(OPS_EX_SOFTWARE, "%s", path);
		p += w;
		size -= (size_t)w;
	}
	close(fd);
	return path;
}

/* ------------------------------------------------------------ dying */

/* What fuzz_try's function allocates and has not freed yet: a set of
 * pointers (open addressing) filled by the allocator's hooks. */
#define LIVE_SLOTS	((size_t)1 << 18)
#define TOMB		((const volatile void *)1)

static const volatile void *live[LIVE_SLOTS];
static size_t touched[LIVE_SLOTS / 2];
static size_t ntouched;
static int tracking, hooks_ready;

static size_t
slot_of(const volatile void *p)
{
	return (size_t)(((uintptr_t)p >> 4) * 2654435761u) & (LIVE_SLOTS - 1);
}

static void
on_malloc(const volatile void *p, size_t size)
{
	size_t i;

	(void)size;
	if (!tracking || p == NULL)
		return;
	for (i = slot_of(p); live[i] != NULL && live[i] != TOMB;
	    i = (i + 1) & (LIVE_SLOTS - 1))
		;
	if (live[i] == NULL) {
		if (ntouched == sizeof(touched) / sizeof(touched[0])) {
			tracking = 0;		/* full: leaks may be reported */
			return;
		}
		touched[ntouched++] = i;
	}
	live[i] = p;
}

static void
on_free(const volatile void *p)
{
	size_t i;

	if (!tracking || p == NULL)
		return;
	for (i = slot_of(p); live[i] != NULL; i = (i + 1) & (LIVE_SLOTS - 1))
		if (live[i] == p) {
			live[i] = TOMB;
			return;
		}
}

/* Stops tracking; with release, frees what is still live. */
static void
track_end(int release)
{
	size_t k;

	tracking = 0;
	for (k = 0; k < ntouched; k++) {
		if (release && live[touched[k]] != TOMB)
			free((void *)live[touched[k]]);
		live[touched[k]] = NULL;
	}
	ntouched = 0;
}

static jmp_buf die_env;
static int die_armed, die_status;

void
__wrap_exit(int status)
{
	if (die_armed) {
		die_armed = 0;
		die_status = status & 255;
		longjmp(die_env, 1);
	}
	__real_exit(status);
}

int
fuzz_try(void (*fn)(void *), void *arg)
{
	if (!hooks_ready && __sanitizer_install_malloc_and_free_hooks != NULL)
		hooks_ready = __sanitizer_install_malloc_and_free_hooks(
		    on_malloc, on_free) != 0;
	tracking = hooks_ready;
	die_armed = 1;
	if (setjmp(die_env) != 0) {
		track_end(1);
		return 256 + die_status;
	}
	fn(arg);
	die_armed = 0;
	track_end(0);
	return 0;
}

/* ------------------------------------------------------------ checks */

int
fuzz_utf8_ok(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	unsigned long c;
	size_t i = 0, len, k;

	while (i < n) {
		if (p[i] < 0x80) {
			i++;
			continue;
		}
		if ((p[i] & 0xe0) == 0xc0) {
			len = 2;
			c = p[i] & 0x1f;
		} else if ((p[i] & 0xf0) == 0xe0) {
			len = 3;
			c = p[i] & 0x0f;
		} else if ((p[i] & 0xf8) == 0xf0) {
			len = 4;
			c = p[i] & 0x07;
		} else
			return 0;
		if (len > n - i)
			return 0;
		for (k = 1; k < len; k++) {
			if ((p[i + k] & 0xc0) != 0x80)
				return 0;
			c = c << 6 | (p[i + k] & 0x3f);
		}
		if ((len == 2 && c < 0x80) || (len == 3 && c < 0x800) ||
		    (len == 4 && c < 0x10000) || c > 0x10ffff ||
		    (c >= 0xd800 && c <= 0xdfff))
			return 0;
		i += len;
	}
	return 1;
}

void
fuzz_fail(const char *what, const char *file, int line)
{
	char msg[512];

	snprintf(msg, sizeof(msg), "fuzz check failed: %s (%s:%d)", what,
	    file, line);
	fprintf(stderr, "%s\n", msg);
	if (__sanitizer_report_error_summary != NULL)
		__sanitizer_report_error_summary(msg);
	abort();
}
