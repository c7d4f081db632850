/* receipt-store: the receipts database (LMDB in var/db) and its files:
 * the ledger filter before fetching, ingest with the receipt policy,
 * JobRuns, and the read side (list, show, stats, jobs, verify). */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gmailops.h"

#define JOB_NAME	"collect_from_gmail"
#define MAX_STATS	16

static void __attribute__((noreturn))
usage(int help)
{
	fprintf(help ? stdout : stderr,
	    "usage: receipt-store [-c file] [-o key=value] filter\n"
	    "       receipt-store [-c file] [-o key=value] ingest [--job id] "
	    "[--dry-run]\n"
	    "       receipt-store [-c file] [-o key=value] job-open "
	    "[--dry-run]\n"
	    "       receipt-store [-c file] [-o key=value] job-close id "
	    "--status status\n"
	    "                     [--stats file] [--config-hash hash] "
	    "[--json]\n"
	    "       receipt-store [-c file] [-o key=value] dry-run-ok hash\n"
	    "       receipt-store [-c file] [-o key=value] list "
	    "[--state state] [--since date]\n"
	    "       receipt-store [-c file] [-o key=value] show id\n"
	    "       receipt-store [-c file] [-o key=value] stats\n"
	    "       receipt-store [-c file] [-o key=value] jobs [--last]\n"
	    "       receipt-store [-c file] [-o key=value] verify\n");
	exit(help ? OPS_EX_OK : OPS_EX_USAGE);
}

/* The options of a command: its own, and -c, -o, -h, --version anywhere. */
enum { OPT_DRY_RUN = 0x2000, OPT_JOB, OPT_STATUS, OPT_STATS, OPT_HASH,
	OPT_JSON, OPT_STATE, OPT_SINCE, OPT_LAST };

struct args {
	struct ops_cli	 cli;
	int		 dry_run, json, last;
	const char	*job, *status, *hash, *state, *since;
	const char	*stats[MAX_STATS];
	int		 nstats;
};

/* Is word one of the space-separated words of list? */
static int
has_word(const char *list, const char *word)
{
	size_t n = strlen(word);

	while (*list != '\0') {
		if (strncmp(list, word, n) == 0 && (list[n] == ' ' ||
		    list[n] == '\0'))
			return 1;
		list += strcspn(list, " ");
		list += strspn(list, " ");
	}
	return 0;
}

/* Parses argv (argv[0] is the command) allowing only the options in
 * allowed; returns the operands left. */
static int
parse_args(int argc, char *argv[], const char *allowed, struct args *a,
    char ***operands)
{
	static const struct option longopts[] = {
		OPS_CLI_LONGOPTS,
		{ "dry-run", no_argument, NULL, OPT_DRY_RUN },
		{ "job", required_argument, NULL, OPT_JOB },
		{ "status", required_argument, NULL, OPT_STATUS },
		{ "stats", required_argument, NULL, OPT_STATS },
		{ "config-hash", required_argument, NULL, OPT_HASH },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "state", required_argument, NULL, OPT_STATE },
		{ "since", required_argument, NULL, OPT_SINCE },
		{ "last", no_argument, NULL, OPT_LAST },
		{ NULL, 0, NULL, 0 }
	};
	const char *name;
	int ch, i;

	optind = 0;		/* glibc: start afresh on the command's argv */
	for (;;) {
		ch = getopt_long(argc, argv, "c:ho:", longopts, NULL);
		if (ch == -1)
			break;
		if (ops_cli_option(&a->cli, ch, optarg))
			continue;
		if (ch == 'h')
			usage(1);
		name = NULL;
		for (i = 0; longopts[i].name != NULL; i++)
			if (longopts[i].val == ch)
				name = longopts[i].name;
		if (name == NULL || !has_word(allowed, name)) {
			if (name != NULL)
				ops_warnx("%s: --%s: not an option of this "
				    "command", argv[0], name);
			usage(0);
		}
		switch (ch) {
		case OPT_DRY_RUN:
			a->dry_run = 1;
			break;
		case OPT_JOB:
			a->job = optarg;
			break;
		case OPT_STATUS:
			a->status = optarg;
			break;
		case OPT_STATS:
			if (a->nstats == MAX_STATS)
				ops_die(OPS_EX_USAGE, "at most %d --stats files",
				    MAX_STATS);
			a->stats[a->nstats++] = optarg;
			break;
		case OPT_HASH:
			a->hash = optarg;
			break;
		case OPT_JSON:
			a->json = 1;
			break;
		case OPT_STATE:
			a->state = optarg;
			break;
		case OPT_SINCE:
			a->since = optarg;
			break;
		case OPT_LAST:
			a->last = 1;
			break;
		}
	}
	*operands = argv + optind;
	return argc - optind;
}

static uint64_t
parse_id(const char *what, const char *s)
{
	unsigned long long v;
	char *end;

	if (*s < '1' || *s > '9')
		goto bad;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno == 0 && *end == '\0')
		return v;
bad:
	ops_warnx("%s: not an id: %s", what, s);
	usage(0);
}

static void
check_hash(const char *h)
{
	size_t n = strlen(h);

	if (n == 0 || n > 128 || strspn(h, "0123456789abcdefABCDEF"
	    "ghijklmnopqrstuvwxyzGHIJKLMNOPQRSTUVWXYZ:_-") != n) {
		ops_warnx("not a configuration hash: %s", h);
		usage(0);
	}
}

/* The job's event log: the driver's ($GMAIL_OPS_LOG), else this one's. */
static struct ops_log *
job_log(const struct ops_config *c)
{
	struct ops_log *l = ops_log_env(c);

	return l != NULL ? l : ops_log_open(c, JOB_NAME);
}

static void
put_line(const char *text)
{
	if (fputs(text, stdout) == EOF || putchar('\n') == EOF ||
	    fflush(stdout) != 0)
		ops_die(OPS_EX_IOERR, "stdout: write error");
}

static uint64_t
jobrun_open(struct ops_store *s, struct ops_log *log, int dry_run)
{
	struct ops_jobrun j;
	struct ops_jw *w;

	memset(&j, 0, sizeof(j));
	snprintf(j.job, sizeof(j.job), "%s", JOB_NAME);
	snprintf(j.status, sizeof(j.status), "running");
	j.dry_run = dry_run;
	j.started = ops_now();
	j.log_path = ops_xstrdup(ops_log_path(log));
	ops_store_begin(s, 1);
	j.id = ops_store_next_id(s, "jobruns");
	ops_jobrun_put(s, &j);
	ops_store_commit(s);
	w = ops_log_begin(log, "run_start");
	ops_jw_int(w, "job_run_id", (long long)j.id);
	ops_jw_bool(w, "dry_run", dry_run);
	(void)ops_log_end(log);
	ops_jobrun_free(&j);
	return j.id;
}

/* {"calls":N,"units":N,"errors":N} written by a network tool. */
static void
read_stats(const char *path, long long *calls, long long *units,
    long long *errors)
{
	char err[256], *text;
	long long n;
	size_t len;
	yajl_val v;

	text = ops_read_file(path, (size_t)1 << 20, &len, 1);
	if (text == NULL) {
		ops_warnx("--stats %s: %s (counted as 0)", path,
		    strerror(errno));
		return;
	}
	v = ops_json_parse(text, err, sizeof(err));
	if (v == NULL || !YAJL_IS_OBJECT(v))
		ops_warnx("--stats %s: not a JSON object, counted as 0", path);
	if (ops_json_int(v, "calls", &n) == 0)
		*calls += n;
	if (ops_json_int(v, "units", &n) == 0)
		*units += n;
	if (ops_json_int(v, "errors", &n) == 0)
		*errors += n;
	yajl_tree_free(v);
	free(text);
}

static void
jobrun_close(struct ops_store *s, struct ops_log *log, struct ops_jobrun *j,
    uint64_t id, const char *status, const char *hash, const struct args *a)
{
	long long calls = 0, units = 0, errors = 0;
	unsigned char k[8];
	struct ops_jw *w;
	char *key;
	int i;

	for (i = 0; a != NULL && i < a->nstats; i++)
		read_stats(a->stats[i], &calls, &units, &errors);
	ops_store_begin(s, 1);
	if (ops_jobrun_get(s, id, j) != 0)
		ops_die(OPS_EX_DATAERR, "JobRun %llu: no such JobRun",
		    (unsigned long long)id);
	if (strcmp(j->status, "running") != 0)
		ops_die(OPS_EX_DATAERR, "JobRun %llu: already closed (%s)",
		    (unsigned long long)id, j->status);
	j->gmail_api_calls += calls;
	j->quota_units += units;
	j->errors_count += errors;
	j->finished = ops_now();
	snprintf(j->status, sizeof(j->status), "%s", status);
	free(j->config_hash);
	j->config_hash = hash != NULL ? ops_xstrdup(hash) : NULL;
	free(j->log_path);
	j->log_path = ops_xstrdup(ops_log_path(log));
	ops_jobrun_put(s, j);
	/* The dry run that unlocks real runs of this configuration. */
	if (j->dry_run && hash != NULL && strcmp(status, "failed") != 0) {
		key = ops_xasprintf("dryrun:%s", hash);
		ops_store_idkey(id, k);
		ops_store_put(s, OPS_DB_META, key, strlen(key), k, sizeof(k), 0);
		free(key);
	}
	ops_store_commit(s);
	w = ops_log_begin(log, "run_end");
	ops_jw_int(w, "job_run_id", (long long)id);
	ops_jw_str(w, "status", status);
	ops_jw_bool(w, "dry_run", j->dry_run);
	ops_jw_int(w, "emails_scanned", j->emails_scanned);
	ops_jw_int(w, "created", j->created);
	ops_jw_int(w, "duplicates_skipped", j->duplicates_skipped);
	ops_jw_int(w, "quarantined", j->quarantined);
	ops_jw_int(w, "skipped", j->skipped);
	ops_jw_int(w, "errors_count", j->errors_count);
	ops_jw_int(w, "gmail_api_calls", j->gmail_api_calls);
	(void)ops_log_end(log);
}

static void
print_summary(const struct ops_jobrun *j)
{
	printf("JobRun %llu%s: %s in %.1f s\n", (unsigned long long)j->id,
	    j->dry_run ? " (dry run: nothing written)" : "", j->status,
	    j->finished - j->started);
	printf("  %lld messages, %lld attachments: %lld stored, %lld "
	    "duplicate, %lld quarantined, %lld skipped, %lld errors\n",
	    j->emails_scanned, j->attachments_seen, j->created,
	    j->duplicates_skipped, j->quarantined, j->skipped,
	    j->errors_count);
	printf("  Gmail API: %lld calls, %lld quota units\n",
	    j->gmail_api_calls, j->quota_units);
	printf("  log: %s\n", j->log_path != NULL ? j->log_path : "-");
}

/* ---- the commands ---- */

/* A message handled by an earlier run, named again by gmail-list: gmail-list
 * leaves out the labelled ones, so its label change was lost (gmail-label
 * failed or died after ingest). Its message_result, made again from the
 * ledger, goes on to gmail-label instead of a fetch. */
static int
relabel(struct ops_jw *w, yajl_val v, const char *id,
    const struct ops_ledger *l)
{
	const char *type = ops_json_str(v, "type");

	if (type == NULL || strcmp(type, "ref") != 0 ||
	    (strcmp(l->verdict, "imported") != 0 &&
	    strcmp(l->verdict, "quarantined") != 0 &&
	    strcmp(l->verdict, "mixed") != 0))
		return 0;
	ops_jw_open(w);
	ops_jw_str(w, "type", "message_result");
	ops_jw_str(w, "id", id);
	ops_jw_str(w, "msg_key", id);
	ops_jw_str(w, "verdict", l->verdict);
	ops_jw_int(w, "stored", l->stored);
	ops_jw_int(w, "duplicates", l->duplicates);
	ops_jw_int(w, "quarantined", l->quarantined);
	ops_jw_int(w, "skipped", l->skipped);
	ops_jw_bool(w, "dry_run", 0);
	ops_jw_close(w);
	return 1;
}

static int
cmd_filter(struct ops_store *s, const struct ops_config *c)
{
	struct ops_ndjson *r = ops_ndjson_open(stdin, NULL, 0);
	struct ops_jw *w = ops_jw_new();
	int labels = ops_config_bool(c, "APPLY_LABELS");
	struct ops_ledger l;
	const char *id;
	yajl_val v;
	int rc, drop, out;

	for (;;) {
		rc = ops_ndjson_next(r, &v);
		if (rc != 1)
			break;
		id = ops_json_str(v, "id");
		drop = 0;
		if (id != NULL && *id != '\0' && strlen(id) <= 200) {
			ops_store_begin(s, 0);
			drop = ops_ledger_get(s, id, &l) == 0 &&
			    ops_ledger_final(&l);
			ops_store_abort(s);
		}
		out = !drop || (labels && relabel(w, v, id, &l));
		if (!drop)
			ops_jw_value(w, v);
		if (out && ops_jw_emit(w, stdout) != 0)
			ops_die(OPS_EX_IOERR, "stdout: write error");
		yajl_tree_free(v);
	}
	rc = rc < 0 || ops_ndjson_bad(r) > 0 ? OPS_EX_PARTIAL : OPS_EX_OK;
	ops_jw_free(w);
	ops_ndjson_close(r);
	return rc;
}

/* Reads standard input; when it has had nothing for 50 ms, first makes
 * what was read durable and reports it: a batch fills while records keep
 * coming, and a record is not held back waiting for the next. */
static ssize_t
ingest_read(void *arg, char *buf, size_t len)
{
	struct pollfd p = { STDIN_FILENO, POLLIN, 0 };
	ssize_t n;

	if (poll(&p, 1, 50) == 0)
		ops_ingest_flush(arg);
	do
		n = read(STDIN_FILENO, buf, len);
	while (n < 0 && errno == EINTR);
	return n;
}

static int
cmd_ingest(struct ops_store *s, const struct ops_config *c,
    const struct args *a)
{
	struct ops_ndjson *r;
	struct ops_ingest *g;
	struct ops_jobrun j;
	struct ops_log *log;
	uint64_t job;
	yajl_val v;
	long failed;
	int rc;

	if (!a->dry_run && ops_store_lock(s, "ingest") != 0)
		ops_die(OPS_EX_TEMPFAIL, "another ingest is running");
	log = job_log(c);
	if (a->job != NULL) {
		job = parse_id("--job", a->job);
		ops_store_begin(s, 0);
		if (ops_jobrun_get(s, job, &j) != 0)
			ops_die(OPS_EX_DATAERR, "JobRun %llu: no such JobRun",
			    (unsigned long long)job);
		ops_store_abort(s);
		if (strcmp(j.status, "running") != 0)
			ops_die(OPS_EX_DATAERR, "JobRun %llu: closed (%s)",
			    (unsigned long long)job, j.status);
		if (j.dry_run != a->dry_run)
			ops_die(OPS_EX_USAGE, "JobRun %llu is %sa dry run: %s "
			    "--dry-run", (unsigned long long)job, j.dry_run ?
			    "" : "not ", j.dry_run ? "add" : "drop");
		ops_jobrun_free(&j);
	} else
		job = jobrun_open(s, log, a->dry_run);
	if (!a->dry_run)
		(void)ops_ingest_recover(s, c);
	g = ops_ingest_new(s, c, job, a->dry_run, log, stdout);
	r = ops_ndjson_open_reader(ingest_read, g, NULL, 0);
	for (;;) {
		rc = ops_ndjson_next(r, &v);
		if (rc != 1)
			break;
		ops_ingest_record(g, v, ops_ndjson_lineno(r));
		yajl_tree_free(v);
	}
	failed = ops_ingest_end(g, ops_ndjson_bad(r) + (rc < 0));
	ops_ingest_free(g);
	ops_ndjson_close(r);
	if (a->job == NULL) {
		jobrun_close(s, log, &j, job, failed > 0 ? "partial" :
		    "success", NULL, NULL);
		ops_jobrun_free(&j);
	}
	ops_log_close(log);
	return failed > 0 ? OPS_EX_PARTIAL : OPS_EX_OK;
}

struct stale {
	uint64_t	 id[64];
	int		 n;
};

static int
stale_one(void *arg, const void *key, size_t klen, const char *val,
    size_t vlen)
{
	struct stale *st = arg;
	struct ops_jobrun j;

	(void)vlen;
	if (ops_jobrun_parse(val, &j) != 0)
		return 0;
	if (strcmp(j.status, "running") == 0 && st->n < 64)
		st->id[st->n++] = ops_store_keyid(key, klen);
	ops_jobrun_free(&j);
	return 0;
}

/* JobRuns left "running" by a run that died: with the ingest lock free
 * (the driver holds its own lock too), none of them can still be going;
 * they are closed as failed. */
static void
close_stale_jobs(struct ops_store *s, struct ops_log *log)
{
	struct stale st = { .n = 0 };
	struct ops_jobrun j;
	struct ops_jw *w;
	int i;

	if (ops_store_lock(s, "ingest") != 0)
		return;
	ops_store_begin(s, 0);
	ops_store_each(s, OPS_DB_JOBRUNS, 1, stale_one, &st);
	ops_store_abort(s);
	for (i = 0; i < st.n; i++) {
		memset(&j, 0, sizeof(j));
		ops_store_begin(s, 1);
		if (ops_jobrun_get(s, st.id[i], &j) == 0 &&
		    strcmp(j.status, "running") == 0) {
			snprintf(j.status, sizeof(j.status), "failed");
			j.finished = ops_now();
			ops_jobrun_put(s, &j);
			w = ops_log_begin(log, "run_end");
			ops_jw_int(w, "job_run_id", (long long)st.id[i]);
			ops_jw_str(w, "status", "failed");
			ops_jw_str(w, "reason", "interrupted");
			(void)ops_log_end(log);
		}
		ops_store_commit(s);
		ops_jobrun_free(&j);
	}
}

static int
cmd_job_open(struct ops_store *s, const struct ops_config *c,
    const struct args *a)
{
	struct ops_log *log = job_log(c);
	uint64_t id;

	close_stale_jobs(s, log);
	id = jobrun_open(s, log, a->dry_run);

	ops_log_close(log);
	printf("%llu\n", (unsigned long long)id);
	return OPS_EX_OK;
}

static int
cmd_job_close(struct ops_store *s, const struct ops_config *c,
    const struct args *a, char **ops)
{
	uint64_t id = parse_id("job-close", ops[0]);
	struct ops_log *log;
	struct ops_jobrun j;
	struct ops_jw *w;

	if (a->status == NULL || (strcmp(a->status, "success") != 0 &&
	    strcmp(a->status, "partial") != 0 &&
	    strcmp(a->status, "failed") != 0)) {
		ops_warnx("job-close: --status success, partial or failed");
		usage(0);
	}
	if (a->hash != NULL)
		check_hash(a->hash);
	log = job_log(c);
	jobrun_close(s, log, &j, id, a->status, a->hash, a);
	ops_log_close(log);
	if (a->json) {
		w = ops_jw_new();
		ops_jobrun_json(w, &j);
		if (ops_jw_emit(w, stdout) != 0)
			ops_die(OPS_EX_IOERR, "stdout: write error");
		ops_jw_free(w);
	} else
		print_summary(&j);
	ops_jobrun_free(&j);
	return OPS_EX_OK;
}

static int
cmd_dry_run_ok(struct ops_store *s, char **ops)
{
	char *key;
	int rc;

	check_hash(ops[0]);
	key = ops_xasprintf("dryrun:%s", ops[0]);
	ops_store_begin(s, 0);
	rc = ops_store_get(s, OPS_DB_META, key, strlen(key), NULL, NULL);
	ops_store_abort(s);
	free(key);
	return rc == 0 ? OPS_EX_OK : OPS_EX_PARTIAL;
}

static int
valid_date(const char *d)
{
	static const char pat[] = "dddd-dd-dd";
	size_t i;

	for (i = 0; pat[i] != '\0'; i++)
		if (pat[i] == 'd' ? d[i] < '0' || d[i] > '9' : d[i] != '-')
			return 0;
	return d[i] == '\0';
}

static int
list_one(void *arg, const void *key, size_t klen, const char *val,
    size_t vlen)
{
	const struct args *a = arg;
	const char *state, *date;
	yajl_val v;
	int show = 1;

	(void)key;
	(void)klen;
	(void)vlen;
	if (a->state != NULL || a->since != NULL) {
		v = ops_json_parse(val, NULL, 0);
		state = ops_json_str(v, "state");
		date = ops_json_str(v, "received_at");
		if (date == NULL)
			date = ops_json_str(v, "created_at");
		if (a->state != NULL && (state == NULL ||
		    strcmp(state, a->state) != 0))
			show = 0;
		if (a->since != NULL && (date == NULL ||
		    strncmp(date, a->since, 10) < 0))
			show = 0;
		yajl_tree_free(v);
	}
	if (show)
		put_line(val);
	return 0;
}

static int
cmd_list(struct ops_store *s, const struct args *a)
{
	if (a->since != NULL && !valid_date(a->since)) {
		ops_warnx("list: --since: not a date (YYYY-MM-DD): %s",
		    a->since);
		usage(0);
	}
	ops_store_begin(s, 0);
	ops_store_each(s, OPS_DB_RECEIPTS, 0, list_one, (void *)a);
	ops_store_abort(s);
	return OPS_EX_OK;
}

static int
cmd_show(struct ops_store *s, char **ops)
{
	uint64_t id = parse_id("show", ops[0]);
	unsigned char k[8];
	char *text;
	int rc;

	ops_store_idkey(id, k);
	ops_store_begin(s, 0);
	rc = ops_store_get(s, OPS_DB_RECEIPTS, k, sizeof(k), &text, NULL);
	ops_store_abort(s);
	if (rc != 0) {
		ops_warnx("show: %llu: no such receipt",
		    (unsigned long long)id);
		return OPS_EX_PARTIAL;
	}
	put_line(text);
	free(text);
	return OPS_EX_OK;
}

struct tally {
	long long	 ingested, quarantined, other, bytes;
	const char	*names[8];
	long long	 n[8];
};

static int
tally_receipt(void *arg, const void *key, size_t klen, const char *val,
    size_t vlen)
{
	struct tally *t = arg;
	const char *state;
	long long size;
	yajl_val v;

	(void)key;
	(void)klen;
	(void)vlen;
	v = ops_json_parse(val, NULL, 0);
	state = ops_json_str(v, "state");
	if (state != NULL && strcmp(state, "ingested") == 0)
		t->ingested++;
	else if (state != NULL && strcmp(state, "quarantined") == 0)
		t->quarantined++;
	else
		t->other++;
	if (ops_json_int(v, "filesize", &size) == 0)
		t->bytes += size;
	yajl_tree_free(v);
	return 0;
}

static int
tally_verdict(void *arg, const void *key, size_t klen, const char *val,
    size_t vlen)
{
	static const char *verdicts[] = { "imported", "quarantined", "mixed",
		"skipped", "no_attachment", "error" };
	struct tally *t = arg;
	const char *verdict;
	yajl_val v;
	size_t i;

	(void)key;
	(void)klen;
	(void)vlen;
	v = ops_json_parse(val, NULL, 0);
	verdict = ops_json_str(v, "verdict");
	for (i = 0; i < 6; i++) {
		t->names[i] = verdicts[i];
		if (verdict != NULL && strcmp(verdict, verdicts[i]) == 0)
			t->n[i]++;
	}
	yajl_tree_free(v);
	return 0;
}

static int
cmd_stats(struct ops_store *s)
{
	struct ops_jw *w = ops_jw_new();
	struct tally t;
	size_t i, messages, jobruns, pending;

	memset(&t, 0, sizeof(t));
	ops_store_begin(s, 0);
	ops_store_each(s, OPS_DB_RECEIPTS, 0, tally_receipt, &t);
	ops_store_each(s, OPS_DB_LEDGER, 0, tally_verdict, &t);
	messages = ops_store_count(s, OPS_DB_LEDGER);
	jobruns = ops_store_count(s, OPS_DB_JOBRUNS);
	pending = ops_store_count(s, OPS_DB_PENDING);
	ops_store_abort(s);
	ops_jw_open(w);
	ops_jw_int(w, "receipts", t.ingested + t.quarantined + t.other);
	ops_jw_int(w, "ingested", t.ingested);
	ops_jw_int(w, "quarantined", t.quarantined);
	ops_jw_int(w, "bytes", t.bytes);
	ops_jw_int(w, "messages", (long long)messages);
	ops_jw_key(w, "verdicts");
	ops_jw_open(w);
	for (i = 0; i < 6 && t.names[i] != NULL; i++)
		ops_jw_int(w, t.names[i], t.n[i]);
	ops_jw_close(w);
	ops_jw_int(w, "jobruns", (long long)jobruns);
	ops_jw_int(w, "pending", (long long)pending);
	ops_jw_close(w);
	if (ops_jw_emit(w, stdout) != 0)
		ops_die(OPS_EX_IOERR, "stdout: write error");
	ops_jw_free(w);
	return OPS_EX_OK;
}

static int
jobs_one(void *arg, const void *key, size_t klen, const char *val,
    size_t vlen)
{
	const struct args *a = arg;

	(void)key;
	(void)klen;
	(void)vlen;
	put_line(val);
	return a->last;		/* --last: the newest only */
}

static int
cmd_jobs(struct ops_store *s, const struct args *a)
{
	ops_store_begin(s, 0);
	ops_store_each(s, OPS_DB_JOBRUNS, 1, jobs_one, (void *)a);
	ops_store_abort(s);
	return OPS_EX_OK;
}

static int
cmd_verify(struct ops_store *s, const struct ops_config *c)
{
	long receipts, files, problems;

	problems = ops_store_verify(s, c, &receipts, &files);
	printf("verify: %ld receipt%s, %ld file%s, %ld problem%s\n", receipts,
	    receipts == 1 ? "" : "s", files, files == 1 ? "" : "s", problems,
	    problems == 1 ? "" : "s");
	return problems > 0 ? OPS_EX_PARTIAL : OPS_EX_OK;
}

int
main(int argc, char *argv[])
{
	static const struct {
		const char	*name;
		const char	*opts;	/* the long options it takes */
		int		 nargs;
	} cmds[] = {
		{ "filter", "", 0 },
		{ "ingest", "job dry-run", 0 },
		{ "job-open", "dry-run", 0 },
		{ "job-close", "status stats config-hash json", 1 },
		{ "dry-run-ok", "", 1 },
		{ "list", "state since", 0 },
		{ "show", "", 1 },
		{ "stats", "", 0 },
		{ "jobs", "last", 0 },
		{ "verify", "", 0 },
	};
	static const struct option longopts[] = {
		OPS_CLI_LONGOPTS,
		{ NULL, 0, NULL, 0 }
	};
	struct args a;
	struct ops_config *c;
	struct ops_store *s;
	const char *cmd;
	char **ops;
	size_t i;
	int ch, n, rc, rc2;

	ops_setprogname(argv[0]);
	memset(&a, 0, sizeof(a));
	for (;;) {
		ch = getopt_long(argc, argv, "+c:ho:", longopts, NULL);
		if (ch == -1)
			break;
		if (ops_cli_option(&a.cli, ch, optarg))
			continue;
		usage(ch == 'h');
	}
	argc -= optind;
	argv += optind;
	if (argc < 1)
		usage(0);
	cmd = argv[0];
	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (strcmp(cmds[i].name, cmd) == 0)
			break;
	if (i == sizeof(cmds) / sizeof(cmds[0])) {
		ops_warnx("%s: no such command", cmd);
		usage(0);
	}
	n = parse_args(argc, argv, cmds[i].opts, &a, &ops);
	if (n != cmds[i].nargs)
		usage(0);

	c = ops_cli_config(&a.cli);
	s = ops_store_open(c);
	if (strcmp(cmd, "filter") == 0)
		rc = cmd_filter(s, c);
	else if (strcmp(cmd, "ingest") == 0)
		rc = cmd_ingest(s, c, &a);
	else if (strcmp(cmd, "job-open") == 0)
		rc = cmd_job_open(s, c, &a);
	else if (strcmp(cmd, "job-close") == 0)
		rc = cmd_job_close(s, c, &a, ops);
	else if (strcmp(cmd, "dry-run-ok") == 0)
		rc = cmd_dry_run_ok(s, ops);
	else if (strcmp(cmd, "list") == 0)
		rc = cmd_list(s, &a);
	else if (strcmp(cmd, "show") == 0)
		rc = cmd_show(s, ops);
	else if (strcmp(cmd, "stats") == 0)
		rc = cmd_stats(s);
	else if (strcmp(cmd, "jobs") == 0)
		rc = cmd_jobs(s, &a);
	else
		rc = cmd_verify(s, c);
	ops_store_close(s);
	ops_config_free(c);
	rc2 = ops_close_stdout();
	return rc != 0 ? rc : rc2;
}
