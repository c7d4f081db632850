/* gmail-label: labels the messages whose outcome is final and durable,
 * one messages.batchModify per distinct change, every record passed on. */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "gmailops.h"

#define MAX_BATCH	1000	/* batchModify's limit on ids */

enum { OPT_DRY_RUN = 0x100, OPT_STATS };

/* A change set: the bits say what is done to each message in it. */
enum { ADD_IMPORTED = 1, ADD_QUARANTINE = 2, REMOVE_UNREAD = 4, NSETS = 8 };

struct change_set {
	char		*ids[MAX_BATCH];
	size_t		 n;
};

struct labeler {
	struct ops_http	*http;
	struct ops_labels *labels;
	struct ops_log	*log;
	struct ops_jw	*w;
	const char	*imported;	/* LABEL_IMPORTED, or "" */
	const char	*quarantine;	/* LABEL_QUARANTINE, or "" */
	int		 mark_read;
	int		 dry_run;
	struct change_set set[NSETS];
	long		 labelled, failed;
};

static void
usage(int help)
{
	fprintf(help ? stdout : stderr, "usage: gmail-label [-c file] "
	    "[-o key=value] [--dry-run] [--stats file]\n");
	exit(help ? OPS_EX_OK : OPS_EX_USAGE);
}

static void
emit(struct ops_jw *w)
{
	if (ops_jw_emit(w, stdout) != 0)
		ops_die(OPS_EX_IOERR, "stdout: write error");
}

/* The label names a change set adds. */
static int
added_names(const struct labeler *l, int mask, const char *names[2])
{
	int n = 0;

	if ((mask & ADD_IMPORTED) && *l->imported != '\0')
		names[n++] = l->imported;
	if ((mask & ADD_QUARANTINE) && *l->quarantine != '\0')
		names[n++] = l->quarantine;
	return n;
}

static void
label_result(struct labeler *l, const char *id, int mask)
{
	const char *names[2];
	int i, n = added_names(l, mask, names);

	ops_jw_open(l->w);
	ops_jw_str(l->w, "type", "label_result");
	ops_jw_str(l->w, "id", id);
	ops_jw_array_open(l->w, "added");
	for (i = 0; i < n; i++)
		ops_jw_str(l->w, NULL, names[i]);
	ops_jw_array_close(l->w);
	ops_jw_array_open(l->w, "removed");
	if (mask & REMOVE_UNREAD)
		ops_jw_str(l->w, NULL, "UNREAD");
	ops_jw_array_close(l->w);
	ops_jw_bool(l->w, "dry_run", l->dry_run);
	ops_jw_close(l->w);
	emit(l->w);
}

static void
log_applied(struct labeler *l, const char *label, const char *op, size_t n)
{
	struct ops_jw *lw;

	if (l->log == NULL)
		return;
	lw = ops_log_begin(l->log, "labels_applied");
	ops_jw_str(lw, "label", label);
	ops_jw_str(lw, "op", op);
	ops_jw_int(lw, "count", (long long)n);
	(void)ops_log_end(l->log);
}

/* A failure that stops the run (authorisation, configuration), or one
 * that costs this set only. */
static void
set_failed(struct labeler *l, struct change_set *s,
    const struct ops_http_resp *fail)
{
	if (fail->exit_code == OPS_EX_NOPERM ||
	    fail->exit_code == OPS_EX_CONFIG)
		ops_die(fail->exit_code, "%s", fail->errmsg);
	ops_warnx("%zu messages not labelled: %s", s->n, fail->errmsg);
	l->failed += (long)s->n;
}

/* The body of one batchModify: caller frees. */
static char *
batch_body(struct labeler *l, struct change_set *s, const char *ids[2],
    int nids, int remove_unread)
{
	const char *text;
	char *body;
	size_t i, len;
	int j;

	ops_jw_open(l->w);
	ops_jw_array_open(l->w, "ids");
	for (i = 0; i < s->n; i++)
		ops_jw_str(l->w, NULL, s->ids[i]);
	ops_jw_array_close(l->w);
	ops_jw_array_open(l->w, "addLabelIds");
	for (j = 0; j < nids; j++)
		ops_jw_str(l->w, NULL, ids[j]);
	ops_jw_array_close(l->w);
	ops_jw_array_open(l->w, "removeLabelIds");
	if (remove_unread)
		ops_jw_str(l->w, NULL, "UNREAD");
	ops_jw_array_close(l->w);
	ops_jw_close(l->w);
	text = ops_jw_text(l->w, &len);
	body = ops_xasprintf("%.*s", (int)len, text);
	ops_jw_reset(l->w);
	return body;
}

/* One batchModify for the set, then a label_result per message. */
static void
flush_set(struct labeler *l, int mask)
{
	struct change_set *s = &l->set[mask];
	struct ops_http_resp fail;
	const char *names[2], *ids[2];
	char *url, *body;
	size_t i;
	int j, n;

	if (s->n == 0)
		return;
	n = added_names(l, mask, names);
	for (j = 0; j < n; j++) {
		ids[j] = ops_labels_ensure(l->labels, names[j], &fail);
		if (ids[j] == NULL) {
			set_failed(l, s, &fail);
			goto out;
		}
	}
	body = batch_body(l, s, ids, n, mask & REMOVE_UNREAD);
	url = ops_gmail_url("messages/batchModify", NULL, NULL);
	if (ops_gmail_call(l->http, "POST", url, body, NULL, &fail) != 0) {
		set_failed(l, s, &fail);
	} else {
		for (i = 0; i < s->n; i++)
			label_result(l, s->ids[i], mask);
		l->labelled += (long)s->n;
		for (j = 0; j < n; j++)
			log_applied(l, names[j], "add", s->n);
		if (mask & REMOVE_UNREAD)
			log_applied(l, "UNREAD", "remove", s->n);
	}
	free(url);
	free(body);
out:
	for (i = 0; i < s->n; i++)
		free(s->ids[i]);
	s->n = 0;
}

/* What a message_result asks for: a change mask (0: nothing), or -1
 * for a bad record (warned). */
static int
change_of(const struct labeler *l, yajl_val rec, unsigned long lineno)
{
	const char *verdict = ops_json_str(rec, "verdict"),
	    *id = ops_json_str(rec, "id");
	long long stored = 0, dups = 0, quar = 0;
	int dry = 0, mask = 0;

	if (verdict == NULL) {
		ops_warnx("line %lu: message_result without a \"verdict\", "
		    "skipped", lineno);
		return -1;
	}
	(void)ops_json_bool(rec, "dry_run", &dry);
	/* A dry run's results were never made durable: only a dry run
	 * reports on them. */
	if (dry && !l->dry_run)
		return 0;
	if (strcmp(verdict, "imported") != 0 &&
	    strcmp(verdict, "quarantined") != 0 &&
	    strcmp(verdict, "mixed") != 0)
		return 0;
	(void)ops_json_int(rec, "stored", &stored);
	(void)ops_json_int(rec, "duplicates", &dups);
	(void)ops_json_int(rec, "quarantined", &quar);
	if (stored + dups > 0 && *l->imported != '\0')
		mask |= ADD_IMPORTED;
	if (quar > 0 && *l->quarantine != '\0')
		mask |= ADD_QUARANTINE;
	if (mask != 0 && l->mark_read)
		mask |= REMOVE_UNREAD;
	if (mask == 0 || ops_json_get(rec, "id") == NULL ||
	    YAJL_IS_NULL(ops_json_get(rec, "id")))
		return 0;	/* a local file's message: nothing to label */
	if (!ops_gmail_id_ok(id)) {
		ops_warnx("line %lu: \"id\" is not a Gmail message id, skipped",
		    lineno);
		return -1;
	}
	return mask;
}

static void
take(struct labeler *l, const char *id, int mask)
{
	struct change_set *s = &l->set[mask];
	size_t i;

	if (l->dry_run) {
		label_result(l, id, mask);
		l->labelled++;
		return;
	}
	for (i = 0; i < s->n; i++)
		if (strcmp(s->ids[i], id) == 0)
			return;
	s->ids[s->n++] = ops_xstrdup(id);
	if (s->n == MAX_BATCH)
		flush_set(l, mask);
}

/* Every record goes out unchanged; message_results are also labelled. */
static int
run(struct labeler *l, int apply)
{
	struct ops_ndjson *r = ops_ndjson_open(stdin, NULL, 0);
	const char *type;
	long bad = 0;
	yajl_val rec;
	int rc, mask;

	for (;;) {
		rc = ops_ndjson_next(r, &rec);
		if (rc <= 0)
			break;
		type = ops_json_str(rec, "type");
		mask = 0;
		if (apply && type != NULL && strcmp(type, "message_result") == 0)
			mask = change_of(l, rec, ops_ndjson_lineno(r));
		if (mask < 0) {
			bad++;
			yajl_tree_free(rec);
			continue;
		}
		ops_jw_value(l->w, rec);
		emit(l->w);
		if (mask > 0)
			take(l, ops_json_str(rec, "id"), mask);
		yajl_tree_free(rec);
	}
	if (rc < 0)
		bad++;
	for (mask = 1; mask < NSETS; mask++)
		flush_set(l, mask);
	bad += (long)ops_ndjson_bad(r);
	ops_ndjson_close(r);
	l->failed += bad;
	return l->failed > 0 ? OPS_EX_PARTIAL : OPS_EX_OK;
}

int
main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		OPS_CLI_LONGOPTS,
		{ "dry-run", no_argument, NULL, OPT_DRY_RUN },
		{ "stats", required_argument, NULL, OPT_STATS },
		{ NULL, 0, NULL, 0 }
	};
	const char *stats = NULL;
	struct ops_cli cli = { 0 };
	struct labeler l;
	struct ops_config *c;
	struct ops_auth *a;
	int ch, rc, code;

	ops_setprogname(argv[0]);
	memset(&l, 0, sizeof(l));
	while ((ch = getopt_long(argc, argv, "c:ho:", longopts, NULL)) != -1) {
		if (ops_cli_option(&cli, ch, optarg))
			continue;
		switch (ch) {
		case OPT_DRY_RUN:
			ops_cli_flag(&cli, "DRY_RUN", "true");
			break;
		case OPT_STATS:
			stats = optarg;
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
	l.log = ops_log_env(c);
	l.imported = ops_config_str(c, "LABEL_IMPORTED");
	l.quarantine = ops_config_str(c, "LABEL_QUARANTINE");
	l.mark_read = ops_config_bool(c, "MARK_AS_READ");
	l.dry_run = ops_config_bool(c, "DRY_RUN");
	a = ops_auth_new(c);
	l.http = ops_http_new(c, a);
	ops_gmail_stats_on_pipe(stats, l.http);
	l.labels = ops_labels_new(l.http);
	l.w = ops_jw_new();
	rc = run(&l, ops_config_bool(c, "APPLY_LABELS"));
	if (stats != NULL && ops_gmail_stats_write(stats, l.http,
	    l.failed) != 0 && rc == OPS_EX_OK)
		rc = OPS_EX_IOERR;
	ops_jw_free(l.w);
	ops_labels_free(l.labels);
	ops_http_free(l.http);
	ops_auth_free(a);
	ops_log_close(l.log);
	ops_config_free(c);
	code = ops_close_stdout();
	return rc != OPS_EX_OK ? rc : code;
}
