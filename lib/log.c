/* log.c: the append-only JSONL event log, one write(2) per event. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gmailops.h"

struct ops_log {
	char		*dir;
	char		*job;
	char		*path;
	char		 day[16];
	int		 fd;
	struct ops_jw	*w;
};

static int log_reopen(struct ops_log *, time_t);

struct ops_log *
ops_log_open(const struct ops_config *c, const char *job)
{
	struct ops_log *l = ops_xmalloc(sizeof(*l));

	l->dir = ops_config_var(c, "logs/ops");
	l->job = ops_xstrdup(job);
	l->path = NULL;
	l->day[0] = '\0';
	l->fd = -1;
	l->w = ops_jw_new();
	if (ops_mkdirs(l->dir, 0750) != 0)
		ops_dief(OPS_EX_IOERR, "%s", l->dir);
	if (log_reopen(l, time(NULL)) != 0)
		exit(OPS_EX_IOERR);
	return l;
}

/* (Re)opens the file of today's date: one file per job and UTC day. */
static int
log_reopen(struct ops_log *l, time_t now)
{
	char day[16];
	struct tm tm;

	gmtime_r(&now, &tm);
	strftime(day, sizeof(day), "%Y-%m-%d", &tm);
	if (l->fd >= 0 && strcmp(day, l->day) == 0)
		return 0;
	if (l->fd >= 0)
		close(l->fd);
	free(l->path);
	l->path = ops_xasprintf("%s/%s-%s.jsonl", l->dir, l->job, day);
	memcpy(l->day, day, sizeof(day));
	l->fd = open(l->path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW |
	    O_CLOEXEC, 0640);
	if (l->fd < 0) {
		ops_warn("%s", l->path);
		return -1;
	}
	return 0;
}

struct ops_jw *
ops_log_begin(struct ops_log *l, const char *event)
{
	char ts[40];

	ops_iso8601_ms(ops_now(), ts, sizeof(ts));
	ops_jw_reset(l->w);
	ops_jw_open(l->w);
	ops_jw_str(l->w, "ts", ts);
	ops_jw_str(l->w, "event", event);
	return l->w;
}

int
ops_log_end(struct ops_log *l)
{
	struct ops_buf line;
	const char *text;
	size_t len;
	ssize_t n;
	int rc = -1;

	ops_jw_close(l->w);
	text = ops_jw_text(l->w, &len);
	if (ops_jw_failed(l->w) || log_reopen(l, time(NULL)) != 0)
		goto out;
	ops_buf_init(&line, 0);
	ops_buf_add(&line, text, len);
	ops_buf_add(&line, "\n", 1);
	/* O_APPEND and one write: lines from concurrent writers never mix. */
	do
		n = write(l->fd, line.data, line.len);
	while (n < 0 && errno == EINTR);
	if (n == (ssize_t)line.len)
		rc = 0;
	else
		ops_warn("%s", l->path);
	ops_buf_free(&line);
out:
	ops_jw_reset(l->w);
	return rc;
}

const char *
ops_log_path(const struct ops_log *l)
{
	return l->path;
}

static struct ops_log *warn_log;

/* diag.c's hook: a warning as an event, never recursing into itself. */
static void
log_warning(const char *msg)
{
	static int busy;
	struct ops_jw *w;

	if (warn_log == NULL || busy)
		return;
	busy = 1;
	w = ops_log_begin(warn_log, "warning");
	ops_jw_str(w, "prog", ops_progname);
	ops_jw_str(w, "message", msg);
	(void)ops_log_end(warn_log);
	busy = 0;
}

struct ops_log *
ops_log_env(const struct ops_config *c)
{
	const char *job = getenv("GMAIL_OPS_LOG");

	if (job == NULL || *job == '\0')
		return NULL;
	if (strchr(job, '/') != NULL || job[0] == '.')
		ops_die(OPS_EX_CONFIG, "GMAIL_OPS_LOG: not a job name: %s", job);
	warn_log = ops_log_open(c, job);
	ops_diag_hook = log_warning;
	return warn_log;
}

void
ops_log_close(struct ops_log *l)
{
	if (l == NULL)
		return;
	if (l == warn_log) {
		warn_log = NULL;
		ops_diag_hook = NULL;
	}
	if (l->fd >= 0)
		close(l->fd);
	ops_jw_free(l->w);
	free(l->path);
	free(l->job);
	free(l->dir);
	free(l);
}
