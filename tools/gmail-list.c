/* gmail-list: the ids of the mail to collect: QUERY with the sender
 * whitelist and the "already handled" labels folded in, every page; with
 * --history, only those added since the last successful run. */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "gmailops.h"

#define PAGE_SIZE	"500"		/* messages.list's maximum */
#define MAX_PAGES	100000		/* 50 million messages: a bound */
#define MAX_HISTORY_ID	32		/* digits of a historyId */

enum { OPT_SINCE = 0x100, OPT_PRINT_QUERY, OPT_ESTIMATE, OPT_STATS,
	OPT_HISTORY };

/* The ids history.list says were added: sorted, for bsearch. */
struct idset {
	char	**id;
	size_t	 n, cap;
};

static void
usage(int help)
{
	fprintf(help ? stdout : stderr, "usage: gmail-list [-c file] "
	    "[-o key=value] [--since YYYY-MM-DD] [-q query] [--print-query] "
	    "[--estimate] [--history file] [--stats file]\n");
	exit(help ? OPS_EX_OK : OPS_EX_USAGE);
}

/* The messages.list URL for q, one page. */
static char *
list_url(const char *query, const char *max, const char *page_token)
{
	char *q = ops_urlencode(query), *pt = NULL, *args, *url;

	if (page_token != NULL)
		pt = ops_urlencode(page_token);
	args = ops_xasprintf("q=%s&maxResults=%s%s%s", q, max,
	    pt != NULL ? "&pageToken=" : "", pt != NULL ? pt : "");
	url = ops_gmail_url("messages", NULL, args);
	free(args);
	free(pt);
	free(q);
	return url;
}

/* --estimate: one call, Gmail's resultSizeEstimate. */
static int
estimate(struct ops_http *h, struct ops_jw *w, const char *query)
{
	struct ops_http_resp fail;
	char *url = list_url(query, "1", NULL);
	long long n = 0;
	yajl_val v;

	if (ops_gmail_call(h, "GET", url, NULL, &v, &fail) != 0) {
		free(url);
		ops_warnx("%s", fail.errmsg);
		return fail.exit_code;
	}
	free(url);
	(void)ops_json_int(v, "resultSizeEstimate", &n);
	yajl_tree_free(v);
	ops_jw_open(w);
	ops_jw_str(w, "type", "estimate");
	ops_jw_str(w, "query", query);
	ops_jw_int(w, "resultSizeEstimate", n);
	ops_jw_close(w);
	if (ops_jw_emit(w, stdout) != 0)
		ops_die(OPS_EX_IOERR, "stdout: write error");
	return OPS_EX_OK;
}

static int
idcmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int
idset_has(const struct idset *s, const char *id)
{
	return s->n > 0 && bsearch(&id, s->id, s->n, sizeof(*s->id),
	    idcmp) != NULL;
}

/* Emits one page's refs (only those in only, unless NULL); the number of
 * entries that were not refs. */
static long
emit_page(struct ops_jw *w, yajl_val page, const struct idset *only,
    long *count)
{
	yajl_val msgs = ops_json_get(page, "messages"), m;
	const char *id;
	long bad = 0;
	size_t i;

	if (msgs == NULL || !YAJL_IS_ARRAY(msgs))
		return 0;
	for (i = 0; i < msgs->u.array.len; i++) {
		m = msgs->u.array.values[i];
		id = ops_json_str(m, "id");
		if (id == NULL) {
			ops_warnx("messages.list: an entry without an id, "
			    "skipped");
			bad++;
			continue;
		}
		if (only != NULL && !idset_has(only, id))
			continue;
		ops_jw_open(w);
		ops_jw_str(w, "type", "ref");
		ops_jw_str(w, "id", id);
		ops_jw_str(w, "threadId", ops_json_str(m, "threadId"));
		ops_jw_close(w);
		if (ops_jw_emit(w, stdout) != 0)
			ops_die(OPS_EX_IOERR, "stdout: write error");
		(*count)++;
	}
	return bad;
}

/* Every page of the query. 0, 1 (some entries were bad) or an exit code. */
static int
list_all(struct ops_http *h, struct ops_jw *w, const char *query,
    const struct idset *only, long *count, long *errors)
{
	struct ops_http_resp fail;
	char *url, *token = NULL;
	const char *next;
	yajl_val v;
	long pages;

	for (pages = 0; pages < MAX_PAGES; pages++) {
		url = list_url(query, PAGE_SIZE, token);
		if (ops_gmail_call(h, "GET", url, NULL, &v, &fail) != 0) {
			free(url);
			free(token);
			ops_warnx("%s", fail.errmsg);
			(*errors)++;
			return fail.exit_code;
		}
		free(url);
		*errors += emit_page(w, v, only, count);
		next = ops_json_str(v, "nextPageToken");
		if (next == NULL || *next == '\0' ||
		    (token != NULL && strcmp(next, token) == 0)) {
			if (next != NULL && *next != '\0') {
				ops_warnx("messages.list: the same page token "
				    "twice, stopped");
				(*errors)++;
			}
			yajl_tree_free(v);
			free(token);
			return *errors > 0 ? OPS_EX_PARTIAL : OPS_EX_OK;
		}
		free(token);
		token = ops_xstrdup(next);
		yajl_tree_free(v);
	}
	free(token);
	ops_warnx("messages.list: more than %d pages, stopped", MAX_PAGES);
	(*errors)++;
	return OPS_EX_PARTIAL;
}

/* The historyId stored in path by the last successful run, or "" (none,
 * or not a historyId: then a full listing). */
static void
read_history(const char *path, char id[MAX_HISTORY_ID + 1])
{
	size_t len, n;
	char *text;

	*id = '\0';
	if ((text = ops_read_file(path, 4096, &len, 1)) == NULL) {
		if (errno != ENOENT)
			ops_warn("%s", path);
		return;
	}
	n = strspn(text, "0123456789");
	if (n > 0 && n <= MAX_HISTORY_ID && strspn(text + n, " \t\r\n") ==
	    len - n)
		snprintf(id, MAX_HISTORY_ID + 1, "%.*s", (int)n, text);
	else
		ops_warnx("%s: not a historyId; listing everything", path);
	free(text);
}

/* The mailbox's historyId now (getProfile), before a full listing. */
static int
profile_history(struct ops_http *h, char id[MAX_HISTORY_ID + 1])
{
	struct ops_http_resp fail;
	char *url = ops_xasprintf("%s/gmail/v1/users/me/profile",
	    ops_gmail_base());
	const char *hid;
	yajl_val v;

	if (ops_gmail_call(h, "GET", url, NULL, &v, &fail) != 0) {
		free(url);
		ops_warnx("%s", fail.errmsg);
		return fail.exit_code;
	}
	free(url);
	hid = ops_json_str(v, "historyId");
	if (hid == NULL || strlen(hid) > MAX_HISTORY_ID ||
	    strspn(hid, "0123456789") != strlen(hid) || *hid == '\0') {
		yajl_tree_free(v);
		ops_warnx("getProfile: no historyId in the answer");
		return OPS_EX_UNAVAILABLE;
	}
	snprintf(id, MAX_HISTORY_ID + 1, "%s", hid);
	yajl_tree_free(v);
	return OPS_EX_OK;
}

/* history.list from start: the ids of the messages added into *added, the
 * mailbox's historyId into now. OPS_EX_OK, -1 when start has expired
 * (404: a full listing is needed), or an exit code. */
static int
history_added(struct ops_http *h, const char *start, struct idset *added,
    char now[MAX_HISTORY_ID + 1])
{
	struct ops_http_resp fail;
	char *url, *args, *token = NULL, *pt;
	const char *next, *id, *hid;
	yajl_val v, hist, adds, m;
	size_t i, j;
	long pages;

	for (pages = 0; pages < MAX_PAGES; pages++) {
		pt = token != NULL ? ops_urlencode(token) : NULL;
		args = ops_xasprintf("startHistoryId=%s&historyTypes=messageAdded"
		    "&maxResults=%s%s%s", start, PAGE_SIZE, pt != NULL ?
		    "&pageToken=" : "", pt != NULL ? pt : "");
		url = ops_gmail_url("history", NULL, args);
		free(args);
		free(pt);
		if (ops_gmail_call(h, "GET", url, NULL, &v, &fail) != 0) {
			free(url);
			free(token);
			if (fail.status == 404)
				return -1;
			ops_warnx("%s", fail.errmsg);
			return fail.exit_code;
		}
		free(url);
		hist = ops_json_get(v, "history");
		for (i = 0; hist != NULL && YAJL_IS_ARRAY(hist) &&
		    i < hist->u.array.len; i++) {
			adds = ops_json_get(hist->u.array.values[i],
			    "messagesAdded");
			for (j = 0; adds != NULL && YAJL_IS_ARRAY(adds) &&
			    j < adds->u.array.len; j++) {
				m = ops_json_get(adds->u.array.values[j],
				    "message");
				if ((id = ops_json_str(m, "id")) == NULL)
					continue;
				if (added->n == added->cap) {
					added->cap = added->cap ? added->cap * 2 :
					    64;
					added->id = ops_xrealloc(added->id,
					    added->cap * sizeof(*added->id));
				}
				added->id[added->n++] = ops_xstrdup(id);
			}
		}
		hid = ops_json_str(v, "historyId");
		if (hid != NULL && *hid != '\0' && strlen(hid) <=
		    MAX_HISTORY_ID && strspn(hid, "0123456789") == strlen(hid))
			snprintf(now, MAX_HISTORY_ID + 1, "%s", hid);
		next = ops_json_str(v, "nextPageToken");
		if (next == NULL || *next == '\0' ||
		    (token != NULL && strcmp(next, token) == 0)) {
			yajl_tree_free(v);
			free(token);
			if (added->n > 0)
				qsort(added->id, added->n, sizeof(*added->id),
				    idcmp);
			if (*now == '\0') {
				ops_warnx("history.list: no historyId in the "
				    "answer");
				return OPS_EX_UNAVAILABLE;
			}
			return OPS_EX_OK;
		}
		free(token);
		token = ops_xstrdup(next);
		yajl_tree_free(v);
	}
	free(token);
	ops_warnx("history.list: more than %d pages", MAX_PAGES);
	return OPS_EX_UNAVAILABLE;
}

struct history {			/* what --history did, for the log */
	const char	*mode;		/* "incremental" or "full" */
	char		 from[MAX_HISTORY_ID + 1], now[MAX_HISTORY_ID + 1];
	size_t		 added;
};

/* --history FILE: the refs added since FILE's historyId that match the
 * query; the mailbox's historyId goes to FILE.next, for the driver to
 * rename over FILE once the run has succeeded. */
static int
list_history(struct ops_http *h, struct ops_jw *w, const char *query,
    const char *path, long *count, long *errors, struct history *hs)
{
	struct idset added = { 0 };
	char *start = hs->from, *now = hs->now, *next;
	size_t i;
	int rc;

	hs->mode = "incremental";
	*now = '\0';
	read_history(path, start);
	rc = *start != '\0' ? history_added(h, start, &added, now) : -1;
	if (rc == -1) {
		if (*start != '\0')
			ops_warnx("history %s has expired (404): listing "
			    "everything", start);
		hs->mode = "full";
		rc = profile_history(h, now);
		if (rc == OPS_EX_OK)
			rc = list_all(h, w, query, NULL, count, errors);
	} else if (rc == OPS_EX_OK && added.n > 0) {
		rc = list_all(h, w, query, &added, count, errors);
	}
	if (rc != OPS_EX_OK)
		(*errors)++;
	hs->added = added.n;
	/* Only a complete listing moves the mark. */
	if (rc == OPS_EX_OK && *now != '\0') {
		next = ops_xasprintf("%s.next", path);
		if (ops_write_atomic(next, now, strlen(now), 0600) != 0) {
			ops_warn("%s", next);
			rc = OPS_EX_IOERR;
		}
		free(next);
	}
	for (i = 0; i < added.n; i++)
		free(added.id[i]);
	free(added.id);
	return rc;
}

int
main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		OPS_CLI_LONGOPTS,
		{ "since", required_argument, NULL, OPT_SINCE },
		{ "print-query", no_argument, NULL, OPT_PRINT_QUERY },
		{ "estimate", no_argument, NULL, OPT_ESTIMATE },
		{ "stats", required_argument, NULL, OPT_STATS },
		{ "history", required_argument, NULL, OPT_HISTORY },
		{ NULL, 0, NULL, 0 }
	};
	const char *since = NULL, *query = NULL, *stats = NULL;
	const char *history = NULL;
	struct ops_cli cli = { 0 };
	int print_query = 0, want_estimate = 0, ch, rc, code;
	long count = 0, errors = 0;
	struct ops_config *c;
	struct ops_auth *a;
	struct ops_http *h;
	struct ops_log *log;
	struct ops_jw *w, *lw;
	struct history hs;
	char err[512], *q;

	ops_setprogname(argv[0]);
	while ((ch = getopt_long(argc, argv, "c:ho:q:", longopts, NULL)) !=
	    -1) {
		if (ops_cli_option(&cli, ch, optarg))
			continue;
		switch (ch) {
		case 'q':
			query = optarg;
			break;
		case OPT_SINCE:
			since = optarg;
			break;
		case OPT_PRINT_QUERY:
			print_query = 1;
			break;
		case OPT_ESTIMATE:
			want_estimate = 1;
			break;
		case OPT_STATS:
			stats = optarg;
			break;
		case OPT_HISTORY:
			history = optarg;
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
	if (print_query + want_estimate + (history != NULL) > 1)
		ops_die(OPS_EX_USAGE, "--print-query, --estimate and --history: "
		    "choose one");

	c = ops_cli_config(&cli);
	q = ops_gmail_query(c, query, since, &code, err, sizeof(err));
	if (q == NULL)
		ops_die(code, "%s", err);
	if (print_query) {
		printf("%s\n", q);
		free(q);
		ops_config_free(c);
		return ops_close_stdout();
	}
	log = ops_log_env(c);
	a = ops_auth_new(c);
	h = ops_http_new(c, a);
	ops_gmail_stats_on_pipe(stats, h);
	w = ops_jw_new();
	if (want_estimate) {
		rc = estimate(h, w, q);
		if (rc != OPS_EX_OK)
			errors++;
	} else {
		if (history != NULL)
			rc = list_history(h, w, q, history, &count, &errors,
			    &hs);
		else
			rc = list_all(h, w, q, NULL, &count, &errors);
		if (log != NULL) {
			lw = ops_log_begin(log, "listed");
			ops_jw_int(lw, "count", count);
			ops_jw_str(lw, "query", q);
			if (history != NULL) {
				ops_jw_str(lw, "history", hs.mode);
				ops_jw_str(lw, "history_from", *hs.from != '\0' ?
				    hs.from : NULL);
				ops_jw_str(lw, "history_id", *hs.now != '\0' ?
				    hs.now : NULL);
				ops_jw_int(lw, "history_added",
				    (long long)hs.added);
			}
			(void)ops_log_end(log);
		}
	}
	if (stats != NULL && ops_gmail_stats_write(stats, h, errors) != 0 &&
	    rc == OPS_EX_OK)
		rc = OPS_EX_IOERR;
	ops_jw_free(w);
	ops_http_free(h);
	ops_auth_free(a);
	ops_log_close(log);
	ops_config_free(c);
	free(q);
	code = ops_close_stdout();
	return rc != OPS_EX_OK ? rc : code;
}
