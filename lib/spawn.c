/* spawn.c: runs the suite's own tools from a server: a child fed from
 * memory whose output is captured (bounded, with a deadline), or a
 * detached child in its own session writing to files. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include "gmailops.h"

#define ERR_CAP		(64 * 1024)
#define KILL_GRACE	2.0	/* seconds between SIGTERM and SIGKILL */

extern char **environ;

/* The server blocks SIGTERM/SIGINT and ignores SIGPIPE; a child starts
 * with an empty mask and the default dispositions. */
static int
attr_init(posix_spawnattr_t *a, int session)
{
	sigset_t none, dflt;
	short flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF;

	if (posix_spawnattr_init(a) != 0)
		return -1;
	sigemptyset(&none);
	sigemptyset(&dflt);
	sigaddset(&dflt, SIGPIPE);
	sigaddset(&dflt, SIGTERM);
	sigaddset(&dflt, SIGINT);
	sigaddset(&dflt, SIGHUP);
	sigaddset(&dflt, SIGCHLD);
	if (session)
		flags |= POSIX_SPAWN_SETSID;
	(void)posix_spawnattr_setsigmask(a, &none);
	(void)posix_spawnattr_setsigdefault(a, &dflt);
	(void)posix_spawnattr_setflags(a, flags);
	return 0;
}

/* Reads what is there into b (beyond cap: counted, dropped); 0 at EOF. */
static int
drain(int fd, struct ops_buf *b, int *over)
{
	char tmp[16384];
	ssize_t n = read(fd, tmp, sizeof(tmp));

	if (n < 0)
		return errno == EINTR || errno == EAGAIN ? 1 : 0;
	if (n == 0)
		return 0;
	if (ops_buf_add(b, tmp, (size_t)n) != 0)
		*over = 1;
	return 1;
}

static int
status_of(int ws)
{
	if (WIFEXITED(ws))
		return WEXITSTATUS(ws);
	if (WIFSIGNALED(ws))
		return 128 + WTERMSIG(ws);
	return -1;
}

int
ops_spawn_run(char *const argv[], const void *in, size_t in_len,
    size_t out_cap, double timeout, struct ops_spawn_result *res)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	struct ops_buf out, err;
	struct pollfd pfd[3];
	int pin[2] = { -1, -1 }, pout[2] = { -1, -1 }, perr[2] = { -1, -1 };
	int over = 0, ws, rc, i, nfd, open_out = 1, open_err = 1;
	size_t off = 0;
	double deadline = ops_monotonic() + timeout, killed_at = 0, left;
	pid_t pid;

	memset(res, 0, sizeof(*res));
	res->status = -1;
	ops_buf_init(&out, out_cap);
	ops_buf_init(&err, ERR_CAP);
	if (pipe2(pin, O_CLOEXEC) != 0 || pipe2(pout, O_CLOEXEC) != 0 ||
	    pipe2(perr, O_CLOEXEC) != 0) {
		snprintf(res->why, sizeof(res->why), "pipe: %s",
		    strerror(errno));
		goto fail;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, pin[0], 0);
	posix_spawn_file_actions_adddup2(&fa, pout[1], 1);
	posix_spawn_file_actions_adddup2(&fa, perr[1], 2);
	attr_init(&attr, 0);
	rc = posix_spawnp(&pid, argv[0], &fa, &attr, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	if (rc != 0) {
		snprintf(res->why, sizeof(res->why), "%s: %s", argv[0],
		    strerror(rc));
		goto fail;
	}
	close(pin[0]);
	close(pout[1]);
	close(perr[1]);
	pin[0] = pout[1] = perr[1] = -1;
	(void)fcntl(pin[1], F_SETFL, O_NONBLOCK);
	if (in_len == 0) {
		close(pin[1]);
		pin[1] = -1;
	}

	while (open_out || open_err) {
		nfd = 0;
		if (pin[1] >= 0)
			pfd[nfd++] = (struct pollfd){ pin[1], POLLOUT, 0 };
		if (open_out)
			pfd[nfd++] = (struct pollfd){ pout[0], POLLIN, 0 };
		if (open_err)
			pfd[nfd++] = (struct pollfd){ perr[0], POLLIN, 0 };
		left = (killed_at > 0 ? killed_at + KILL_GRACE : deadline) -
		    ops_monotonic();
		if (left <= 0) {
			if (killed_at > 0) {
				kill(pid, SIGKILL);
				break;
			}
			res->timed_out = 1;
			kill(pid, SIGTERM);
			killed_at = ops_monotonic();
			continue;
		}
		rc = poll(pfd, (nfds_t)nfd, (int)(left * 1000) + 1);
		if (rc < 0 && errno != EINTR)
			break;
		for (i = 0; rc > 0 && i < nfd; i++) {
			if (pfd[i].revents == 0)
				continue;
			if (pfd[i].fd == pin[1]) {
				ssize_t n = write(pin[1], (const char *)in + off,
				    in_len - off);
				if (n > 0)
					off += (size_t)n;
				if ((n < 0 && errno != EAGAIN && errno != EINTR)
				    || off == in_len) {
					close(pin[1]);	/* EPIPE: it stopped reading */
					pin[1] = -1;
				}
			} else if (pfd[i].fd == pout[0]) {
				open_out = drain(pout[0], &out, &over);
			} else {
				open_err = drain(perr[0], &err, &over);
			}
		}
	}
	while (waitpid(pid, &ws, 0) < 0 && errno == EINTR)
		;
	res->status = status_of(ws);
	res->truncated = over;
	res->out_len = out.len;
	res->out = out.data != NULL ? ops_buf_steal(&out) : ops_xstrdup("");
	res->err_len = err.len;
	res->err = err.data != NULL ? ops_buf_steal(&err) : ops_xstrdup("");
	if (res->timed_out)
		snprintf(res->why, sizeof(res->why), "%s: no answer in %.0f s",
		    argv[0], timeout);
	else if (over)
		snprintf(res->why, sizeof(res->why), "%s: output over %zu "
		    "bytes", argv[0], out_cap);
	for (i = 0; i < 2; i++) {
		int fd = i == 0 ? pout[0] : perr[0];
		if (fd >= 0)
			close(fd);
	}
	if (pin[1] >= 0)
		close(pin[1]);
	return res->timed_out || over ? -1 : 0;
fail:
	for (i = 0; i < 2; i++) {
		if (pin[i] >= 0)
			close(pin[i]);
		if (pout[i] >= 0)
			close(pout[i]);
		if (perr[i] >= 0)
			close(perr[i]);
	}
	return -1;
}

void
ops_spawn_result_free(struct ops_spawn_result *res)
{
	free(res->out);
	free(res->err);
	res->out = res->err = NULL;
}

pid_t
ops_spawn_detached(char *const argv[], const char *out_path,
    const char *err_path, char *why, size_t whylen)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	const int fl = O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW;
	pid_t pid;
	int rc;

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, out_path, fl, 0600);
	posix_spawn_file_actions_addopen(&fa, 2, err_path, fl, 0600);
	attr_init(&attr, 1);
	rc = posix_spawnp(&pid, argv[0], &fa, &attr, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	if (rc != 0) {
		snprintf(why, whylen, "%s: %s", argv[0], strerror(rc));
		return -1;
	}
	return pid;
}

/* /proc/locks names a flock(2) holder by "MAJ:MIN:INODE" (hex numbers). */
int
ops_flock_held(const char *path)
{
	struct stat st;
	char line[256], want[64];
	FILE *fp;
	int fd, held = 0;

	if (stat(path, &st) != 0)
		return errno == ENOENT ? 0 : -1;
	snprintf(want, sizeof(want), " %02x:%02x:%llu ", major(st.st_dev),
	    minor(st.st_dev), (unsigned long long)st.st_ino);
	if ((fp = fopen("/proc/locks", "re")) != NULL) {
		while (!held && fgets(line, sizeof(line), fp) != NULL)
			held = strstr(line, " FLOCK ") != NULL &&
			    strstr(line, want) != NULL;
		fclose(fp);
		return held;
	}
	/* No /proc: a shared probe, during which a starting run would find
	 * the lock taken. */
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0)
		return -1;
	if (flock(fd, LOCK_SH | LOCK_NB) != 0)
		held = errno == EWOULDBLOCK ? 1 : -1;
	close(fd);
	return held;
}
