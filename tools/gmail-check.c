/* gmail-check: the collection's set-up checks, one line each, ok or FAIL. */
#include <sys/stat.h>

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gmailops.h"

static int failures;

static void
usage(int help)
{
	fprintf(help ? stdout : stderr, "usage: gmail-check [-c file] [-o key=value] [--fix] "
	    "[--show-config]\n");
	exit(help ? OPS_EX_OK : OPS_EX_USAGE);
}

static void __attribute__((format(printf, 2, 3)))
report(const char *name, const char *fmt, ...)
{
	va_list ap;

	if (fmt == NULL) {
		printf("%s: ok\n", name);
		return;
	}
	printf("%s: FAIL: ", name);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	failures++;
}

/* Can we create a file here? Asks the file system, not the mode bits. */
static int
dir_writable(const char *dir)
{
	char *tmp = ops_xasprintf("%s/.gmail-check.XXXXXX", dir);
	int fd = mkstemp(tmp), ok = fd >= 0;

	if (fd >= 0) {
		close(fd);
		unlink(tmp);
	}
	free(tmp);
	return ok;
}

static void
check_dir(const char *what, const char *path, int mode, int fix)
{
	char name[4200];
	struct stat st;
	int private = mode == 0700;

	snprintf(name, sizeof(name), "%s %s", what, path);
	if (lstat(path, &st) != 0 && errno == ENOENT && fix) {
		if (ops_mkdirs(path, mode) != 0) {
			report(name, "cannot create: %s", strerror(errno));
			return;
		}
		fprintf(stderr, "%s: created %s\n", ops_progname, path);
	}
	if (lstat(path, &st) != 0) {
		report(name, "%s%s", strerror(errno), errno == ENOENT ?
		    " (gmail-check --fix creates it)" : "");
		return;
	}
	if (S_ISLNK(st.st_mode)) {
		report(name, "is a symbolic link (not followed)");
		return;
	}
	if (!S_ISDIR(st.st_mode)) {
		report(name, "not a directory");
		return;
	}
	if (private && (st.st_mode & 077) != 0) {
		if (fix && chmod(path, 0700) == 0) {
			fprintf(stderr, "%s: chmod 700 %s\n", ops_progname, path);
		} else {
			report(name, "mode %03o: group or others can enter "
			    "(chmod 700; --fix does it)", st.st_mode & 0777);
			return;
		}
	}
	if (!dir_writable(path)) {
		report(name, "not writable: %s", strerror(errno));
		return;
	}
	report(name, NULL);
}

static void
check_secret_file(const char *what, const char *path, int enabled,
    int is_token, struct ops_token *tok)
{
	struct ops_client cl;
	char name[4200], err[512];
	const char *why;

	snprintf(name, sizeof(name), "%s %s", what, path);
	if (access(path, F_OK) != 0 && errno == ENOENT) {
		if (enabled)
			report(name, "missing (%s)", is_token ?
			    "run gmail-auth login" : "download it from the "
			    "Google Cloud console, Credentials, OAuth client");
		else
			report(name, NULL);	/* not needed: ENABLED=false */
		return;
	}
	if (ops_check_private(path, &why) != 0) {
		report(name, "%s", why);
		return;
	}
	if (is_token ? ops_token_load(path, tok, err, sizeof(err)) :
	    ops_client_load(path, &cl, err, sizeof(err))) {
		report(name, "%s", err);
		return;
	}
	if (!is_token)
		ops_client_free(&cl);
	report(name, NULL);
}

static int
has_scope(const char *scopes, const char *want)
{
	const char *p = scopes;
	size_t n = strlen(want);

	while (p != NULL && (p = strstr(p, want)) != NULL) {
		if ((p == scopes || p[-1] == ' ') && (p[n] == ' ' ||
		    p[n] == '\0'))
			return 1;
		p += n;
	}
	return 0;
}

static int
covers_modify(const char *scopes)
{
	return has_scope(scopes, "https://www.googleapis.com/auth/gmail.modify")
	    || has_scope(scopes, "https://mail.google.com/");
}

static void
check_params(const struct ops_config *c, const struct ops_token *tok)
{
	int labels = ops_config_bool(c, "APPLY_LABELS"),
	    modify = labels || ops_config_bool(c, "MARK_AS_READ");
	char *scopes;

	report("ALLOWED_MIME_TYPES", ops_config_list(c, "ALLOWED_MIME_TYPES")[0]
	    == NULL ? "empty: no attachment could ever be kept" : NULL);
	report("MAX_SIZE_BYTES", ops_config_int(c, "MAX_SIZE_BYTES") <= 0 ?
	    "must be greater than 0" : NULL);
	report("MAX_ATTACH_PER_RUN", ops_config_int(c, "MAX_ATTACH_PER_RUN") <=
	    0 ? "must be greater than 0" : NULL);
	report("QUERY", *ops_config_str(c, "QUERY") == '\0' ? "empty" : NULL);
	report("ALLOWED_SENDERS", ops_config_bool(c, "ENABLED") &&
	    ops_config_list(c, "ALLOWED_SENDERS")[0] == NULL ? "empty: no "
	    "sender is trusted, nothing would be collected" : NULL);
	if (labels && (*ops_config_str(c, "LABEL_IMPORTED") == '\0' ||
	    *ops_config_str(c, "LABEL_QUARANTINE") == '\0'))
		report("labels", "APPLY_LABELS is on but LABEL_IMPORTED or "
		    "LABEL_QUARANTINE is empty");
	else
		report("labels", NULL);
	scopes = ops_config_scopes(c);
	report("SCOPES", modify && !covers_modify(scopes) ? "APPLY_LABELS or "
	    "MARK_AS_READ needs gmail.modify" : NULL);
	free(scopes);
	if (tok->scopes != NULL)
		report("granted scopes", modify && !covers_modify(tok->scopes) ?
		    "the token lacks gmail.modify, needed by APPLY_LABELS or "
		    "MARK_AS_READ (run gmail-auth login)" : NULL);
}

int
main(int argc, char *argv[])
{
	enum { O_FIX = 256, O_SHOW };
	static const struct option longopts[] = {
		{ "fix", no_argument, NULL, O_FIX },
		{ "show-config", no_argument, NULL, O_SHOW },
		OPS_CLI_LONGOPTS,
		{ NULL, 0, NULL, 0 }
	};
	struct ops_cli cli = { 0 };
	int fix = 0, show = 0, ch, i, enabled;
	struct ops_token tok;
	struct ops_config *c;
	char *dir;

	ops_setprogname(argv[0]);
	while ((ch = getopt_long(argc, argv, "c:ho:", longopts, NULL)) != -1) {
		if (ops_cli_option(&cli, ch, optarg))
			continue;
		switch (ch) {
		case O_FIX:
			fix = 1;
			break;
		case O_SHOW:
			show = 1;
			break;
		case 'h':
			usage(1);
			break;
		default:
			usage(0);
		}
	}
	argc -= optind;
	argv += optind;
	if (argc != 0)
		usage(0);

	c = ops_cli_config(&cli);
	if (show) {
		ops_config_dump(c, stdout);
		ops_config_free(c);
		return ops_close_stdout();
	}
	enabled = ops_config_bool(c, "ENABLED");
	check_dir("base directory", ops_config_path(c, "BASE_DIR"), 0755, 0);
	check_dir("incoming directory",
	    ops_config_path(c, "STORAGE_INCOMING_DIR"), 0755, fix);
	check_dir("quarantine directory",
	    ops_config_path(c, "STORAGE_QUARANTINE_DIR"), 0750, fix);
	dir = ops_config_var(c, "logs/ops");
	check_dir("logs directory", dir, 0750, fix);
	free(dir);
	dir = ops_config_var(c, "locks");
	check_dir("locks directory", dir, 0755, fix);
	free(dir);
	check_dir("credentials directory", ops_config_path(c,
	    "CREDENTIALS_DIR"), 0700, fix);
	memset(&tok, 0, sizeof(tok));
	check_secret_file("client secret", ops_client_secret_path(c), enabled,
	    0, NULL);
	check_secret_file("token", ops_token_path(c), enabled, 1, &tok);
	check_params(c, &tok);
	ops_token_free(&tok);
	ops_config_free(c);
	i = ops_close_stdout();
	return i != 0 ? i : failures > 0 ? OPS_EX_PARTIAL : OPS_EX_OK;
}
