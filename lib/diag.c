/* diag.c: the suite's one diagnostic format ("prog: what: why") and exits. */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gmailops.h"

const char *ops_progname = "gmail-ops";
void (*ops_diag_hook)(const char *msg);
void (*ops_pipe_hook)(void);

void
ops_reader_gone(void)
{
	if (ops_pipe_hook != NULL)
		ops_pipe_hook();
	signal(SIGPIPE, SIG_DFL);
	raise(SIGPIPE);
	_exit(128 + SIGPIPE);
}

void
ops_setprogname(const char *argv0)
{
	const char *slash;

	if (argv0 == NULL || *argv0 == '\0')
		return;
	slash = strrchr(argv0, '/');
	ops_progname = slash != NULL ? slash + 1 : argv0;
}

void
ops_vwarnx(const char *fmt, va_list ap)
{
	char msg[2048];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	/* One fprintf so concurrent stages do not interleave mid-line. */
	fprintf(stderr, "%s: %s\n", ops_progname, msg);
	if (ops_diag_hook != NULL)
		ops_diag_hook(msg);
}

void
ops_warnx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	ops_vwarnx(fmt, ap);
	va_end(ap);
}

static void
vwarn_errno(int saved, const char *fmt, va_list ap)
{
	char msg[2048];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	fprintf(stderr, "%s: %s: %s\n", ops_progname, msg, strerror(saved));
	if (ops_diag_hook != NULL) {
		snprintf(msg + strlen(msg), sizeof(msg) - strlen(msg), ": %s",
		    strerror(saved));
		ops_diag_hook(msg);
	}
}

void
ops_warn(const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	va_start(ap, fmt);
	vwarn_errno(saved, fmt, ap);
	va_end(ap);
}

void
ops_die(int code, const char *fmt, ...)
{
	va_list ap;

	/* A write error that is EPIPE: the reader is gone, not a fault of
	 * ours; the tool dies of SIGPIPE as Unix tools do. */
	if (code == OPS_EX_IOERR && errno == EPIPE && ops_pipe_hook != NULL)
		ops_reader_gone();

	va_start(ap, fmt);
	ops_vwarnx(fmt, ap);
	va_end(ap);
	exit(code);
}

void
ops_dief(int code, const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	va_start(ap, fmt);
	vwarn_errno(saved, fmt, ap);
	va_end(ap);
	exit(code);
}

void *
ops_xmalloc(size_t n)
{
	void *p = malloc(n == 0 ? 1 : n);

	if (p == NULL)
		ops_die(OPS_EX_SOFTWARE, "out of memory");
	return p;
}

void *
ops_xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n == 0 ? 1 : n);

	if (q == NULL)
		ops_die(OPS_EX_SOFTWARE, "out of memory");
	return q;
}

char *
ops_xstrdup(const char *s)
{
	char *d = strdup(s);

	if (d == NULL)
		ops_die(OPS_EX_SOFTWARE, "out of memory");
	return d;
}

char *
ops_xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *s;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0)
		ops_die(OPS_EX_SOFTWARE, "out of memory");
	return s;
}

int
ops_errf(char *errmsg, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(errmsg, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

int
ops_close_stdout(void)
{
	if (fflush(stdout) != 0 || ferror(stdout)) {
		ops_warn("stdout");
		return OPS_EX_IOERR;
	}
	if (fclose(stdout) != 0) {
		ops_warn("stdout");
		return OPS_EX_IOERR;
	}
	return OPS_EX_OK;
}
