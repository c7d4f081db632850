/* gmail-list: the ids of the mail to collect: QUERY with the sender
 * whitelist and the "already handled" labels folded in, every page. */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "gmailops.h"

#define PAGE_SIZE	"500"		/* messages.list's maximum */
#define MAX_PAGES	100000		/* 50 million messages: a bound */

enum { OPT_SINCE = 0x100, OPT_PRINT_QUERY, OPT_ESTIMATE, OPT_STATS };

static void
usage(int help)
{
	fprintf(help ? stdout : stderr, "usage: gmail-list [-c file] "
	    "[-o key=value] [--since YYYY-MM-DD] [-q query] [--print-query] "
	    "[--estimate] [--stats file]\n");
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

/* Emits one page's refs; the number of entries that were not refs. */
static long
emit_page(struct ops_jw *w, yajl_val page, long *count)
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
    long *count, long *errors)
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
		*errors += emit_page(w, v, count);
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

int
main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		OPS_CLI_LONGOPTS,
		{ "since", required_argument, NULL, OPT_SINCE },
		{ "print-query", no_argument, NULL, OPT_PRINT_QUERY },
		{ "estimate", no_argument, NULL, OPT_ESTIMATE },
		{ "stats", required_argument, NULL, OPT_STATS },
		{ NULL, 0, NULL, 0 }
	};
	const char *since = NULL, *query = NULL, *stats = NULL;
	struct ops_cli cli = { 0 };
	int print_query = 0, want_estimate = 0, ch, rc, code;
	long count = 0, errors = 0;
	struct ops_config *c;
	struct ops_auth *a;
	struct ops_http *h;
	struct ops_log *log;
	struct ops_jw *w, *lw;
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
	if (print_query && want_estimate)
		ops_die(OPS_EX_USAGE, "--print-query and --estimate: choose "
		    "one");

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
		rc = list_all(h, w, q, &count, &errors);
		if (log != NULL) {
			lw = ops_log_begin(log, "listed");
			ops_jw_int(lw, "count", count);
			ops_jw_str(lw, "query", q);
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
