/* gmail-fetch: each message once, format=raw, several requests in flight,
 * records out in the order the ids came in. */
#include <getopt.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gmailops.h"

#define MAX_JOBS	64
#define MAX_ANSWER	((size_t)100 << 20)	/* a 50 MB message, base64 */
#define GIVE_UP_AFTER	10	/* messages in a row Gmail could not serve */
#define PROGRESS_EVERY	0.25	/* seconds between progress lines */
#define READ_AHEAD	100000	/* input records queued, at most */
#define READ_AHEAD_BYTES ((size_t)16 << 20)	/* and their bytes */

enum { OPT_STATS = 0x100 };

/* One input record, in input order: a fetch in flight, or a line ready
 * to go out (possibly nothing: a message gone). */
struct slot {
	int		 busy;		/* a fetch is in flight */
	char		*id;		/* the id fetched, or NULL */
	struct ops_buf	 line;		/* the record to write, or empty */
};

/* A record read ahead of the window: an id to fetch, or a line. */
struct pending {
	char		*id;
	struct ops_buf	 line;
	struct pending	*next;
};

struct fetch {
	struct ops_http	*http;
	struct ops_multi *multi;
	struct ops_log	*log;
	struct ops_jw	*w;
	struct pending	*qhead, *qtail;	/* read ahead, in input order */
	long		 queued;
	size_t		 queued_bytes;
	struct slot	*ring;		/* the reorder window: jobs slots */
	int		 jobs;
	int		 head, used;
	long		 read, done, gone, failed, in_a_row;
	int		 eof;
	int		 tty;		/* progress lines on stderr */
	int		 progress_shown;
	double		 started, last_progress;
};

static void
usage(int help)
{
	fprintf(help ? stdout : stderr, "usage: gmail-fetch [-c file] "
	    "[-o key=value] [-j N] [--stats file]\n");
	exit(help ? OPS_EX_OK : OPS_EX_USAGE);
}

/* Progress: "gmail-fetch: 120/500 fetched, 35.2 msg/s, ETA 0:11" on a
 * terminal, drawn over itself (the cursor is left at its start, so a
 * warning overwrites it). */
static void
progress(struct fetch *f, int final)
{
	double now = ops_monotonic(), rate, eta;
	char total[32] = "", tail[48] = "";

	if (!f->tty || (!final && now - f->last_progress < PROGRESS_EVERY))
		return;
	f->last_progress = now;
	rate = now > f->started ? (double)f->done / (now - f->started) : 0;
	if (f->eof) {
		snprintf(total, sizeof(total), "/%ld", f->read);
		if (rate > 0 && !final) {
			eta = (double)(f->read - f->done) / rate;
			snprintf(tail, sizeof(tail), ", ETA %ld:%02ld",
			    (long)eta / 60, (long)eta % 60);
		}
	}
	if (final && (f->gone > 0 || f->failed > 0))
		snprintf(tail, sizeof(tail), " (%ld gone, %ld failed)",
		    f->gone, f->failed);
	fprintf(stderr, "%s: %ld%s fetched, %.1f msg/s%s\033[K%s", ops_progname,
	    f->done, total, rate, tail, final ? "\n" : "\r");
	f->progress_shown = !final;
}

/* Clears the progress line before something else goes to stderr. */
static void
progress_clear(struct fetch *f)
{
	if (f->progress_shown) {
		fputs("\033[K", stderr);
		f->progress_shown = 0;
	}
}

/* The record in f->w, as a line into out. */
static void
slot_line(struct fetch *f, struct ops_buf *out)
{
	const char *text;
	size_t len;

	text = ops_jw_text(f->w, &len);
	if (ops_jw_failed(f->w))
		ops_die(OPS_EX_SOFTWARE, "internal error: could not encode "
		    "a JSON record");
	ops_buf_init(out, 0);
	if (ops_buf_add(out, text, len) != 0 || ops_buf_add(out, "\n", 1) != 0)
		ops_die(OPS_EX_SOFTWARE, "out of memory");
	ops_jw_reset(f->w);
}

/* A string field as Gmail gives it (a number is kept as its text). */
static void
jw_string_field(struct ops_jw *w, yajl_val msg, const char *key)
{
	yajl_val v = ops_json_get(msg, key);

	if (v != NULL && YAJL_IS_NUMBER(v))
		ops_jw_str(w, key, YAJL_GET_NUMBER(v));
	else
		ops_jw_str(w, key, ops_json_str(msg, key));
}

/* 0 with the offset and length of raw inside body, when it is there as
 * plain base64url (no escapes); else -1. */
static int
find_raw(const struct ops_buf *body, size_t *off, size_t *len)
{
	static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz0123456789-_=";
	size_t i;

	if (ops_json_find_str(body->data, body->len, "raw", off, len) != 0)
		return -1;
	for (i = 0; i < *len; i++)
		if (body->data[*off + i] == '\0' ||
		    strchr(b64url, body->data[*off + i]) == NULL)
			return -1;
	return 0;
}

/* The section-3 record of an answer, or -1 with why. A large message is
 * held once: the record is made in the answer's own buffer, around its
 * raw text, and only the rest of the answer is parsed into a tree. */
static int
raw_record(struct fetch *f, struct slot *s, struct ops_buf *body,
    char *why, size_t whylen)
{
	char err[256], *small = NULL, *buf;
	const char *id, *text;
	long long size;
	yajl_val v, labels;
	size_t i, len, off = 0, rawlen = 0;
	int inplace;

	inplace = body->data != NULL && find_raw(body, &off, &rawlen) == 0;
	if (inplace) {
		small = ops_xasprintf("%.*s%s", (int)off, body->data,
		    body->data + off + rawlen);
		v = ops_json_parse(small, err, sizeof(err));
		free(small);
	} else {
		v = body->data != NULL ? ops_json_parse(body->data, err,
		    sizeof(err)) : NULL;
	}
	if (v == NULL || !YAJL_IS_OBJECT(v)) {
		snprintf(why, whylen, "messages.get: answer is not a JSON "
		    "object%s%s", v == NULL ? ": " : "", v == NULL ? err : "");
		yajl_tree_free(v);
		return -1;
	}
	id = ops_json_str(v, "id");
	if (id == NULL || strcmp(id, s->id) != 0 ||
	    ops_json_str(v, "raw") == NULL) {
		snprintf(why, whylen, "messages.get: answer is not message %s "
		    "in raw format", s->id);
		yajl_tree_free(v);
		return -1;
	}
	ops_jw_open(f->w);
	ops_jw_str(f->w, "type", "raw");
	ops_jw_str(f->w, "id", id);
	ops_jw_str(f->w, "threadId", ops_json_str(v, "threadId"));
	/* Gmail leaves labelIds out when there are none. */
	ops_jw_array_open(f->w, "labelIds");
	labels = ops_json_get(v, "labelIds");
	for (i = 0; labels != NULL && YAJL_IS_ARRAY(labels) &&
	    i < labels->u.array.len; i++)
		if (YAJL_IS_STRING(labels->u.array.values[i]))
			ops_jw_value(f->w, labels->u.array.values[i]);
	ops_jw_array_close(f->w);
	jw_string_field(f->w, v, "internalDate");
	jw_string_field(f->w, v, "historyId");
	if (ops_json_int(v, "sizeEstimate", &size) == 0)
		ops_jw_int(f->w, "sizeEstimate", size);
	else
		ops_jw_null(f->w, "sizeEstimate");
	if (!inplace) {			/* not as Gmail sends it */
		ops_jw_str(f->w, "raw", ops_json_str(v, "raw"));
		ops_jw_close(f->w);
		yajl_tree_free(v);
		slot_line(f, &s->line);
		return 0;
	}
	yajl_tree_free(v);
	/* base64url needs no JSON escaping: the fields, then raw moved
	 * (not copied) to follow them (realloc: mremap when large). */
	text = ops_jw_text(f->w, &len);
	if (ops_jw_failed(f->w))
		ops_die(OPS_EX_SOFTWARE, "internal error: could not encode "
		    "a JSON record");
	buf = body->data;
	if (len + 8 + rawlen + 3 + 1 > body->size)
		buf = ops_xrealloc(buf, len + 8 + rawlen + 3 + 1);
	body->data = NULL;
	body->len = body->size = 0;
	memmove(buf + len + 8, buf + off, rawlen);
	memcpy(buf, text, len);
	memcpy(buf + len, ",\"raw\":\"", 8);
	memcpy(buf + len + 8 + rawlen, "\"}\n", 4);
	ops_jw_reset(f->w);
	ops_buf_init(&s->line, 0);
	s->line.data = buf;
	s->line.len = len + 8 + rawlen + 3;
	s->line.size = s->line.len + 1;
	return 0;
}

static void
error_record(struct fetch *f, struct slot *s, const char *why)
{
	struct ops_jw *lw;

	progress_clear(f);
	ops_warnx("%s: %s", s->id, why);
	f->failed++;
	ops_jw_open(f->w);
	ops_jw_str(f->w, "type", "error");
	ops_jw_str(f->w, "id", s->id);
	ops_jw_str(f->w, "stage", "gmail-fetch");
	ops_jw_str(f->w, "error", why);
	ops_jw_close(f->w);
	slot_line(f, &s->line);
	if (f->log != NULL) {
		lw = ops_log_begin(f->log, "fetch_error");
		ops_jw_str(lw, "id", s->id);
		ops_jw_str(lw, "error", why);
		(void)ops_log_end(f->log);
	}
}

/* A finished fetch: its record, a gone message, or an error record. */
static void
finished(struct fetch *f, struct slot *s, struct ops_http_resp *resp,
    int ok)
{
	char why[512];

	s->busy = 0;
	f->done++;
	if (ok) {
		if (raw_record(f, s, &resp->body, why, sizeof(why)) != 0)
			error_record(f, s, why);
		f->in_a_row = 0;
		return;
	}
	if (resp->status == 404) {
		progress_clear(f);
		ops_warnx("%s: gone (404), skipped", s->id);
		f->gone++;
		f->in_a_row = 0;
		return;
	}
	if (resp->exit_code == OPS_EX_NOPERM ||
	    resp->exit_code == OPS_EX_CONFIG ||
	    resp->exit_code == OPS_EX_SOFTWARE) {
		progress_clear(f);
		ops_die(resp->exit_code, "%s", resp->errmsg);
	}
	error_record(f, s, resp->errmsg);
	if (resp->exit_code != OPS_EX_UNAVAILABLE) {
		f->in_a_row = 0;
	} else if (++f->in_a_row >= GIVE_UP_AFTER) {
		progress_clear(f);
		ops_die(OPS_EX_UNAVAILABLE, "%ld messages in a row could not "
		    "be fetched: giving up", f->in_a_row);
	}
}

/* Writes the ready records at the head of the window, in input order. */
static void
flush_ready(struct fetch *f)
{
	struct slot *s;

	while (f->used > 0) {
		s = &f->ring[f->head];
		if (s->busy)
			break;
		if (s->line.len > 0 && (fwrite(s->line.data, 1, s->line.len,
		    stdout) != s->line.len || fflush(stdout) != 0))
			ops_die(OPS_EX_IOERR, "stdout: write error");
		ops_buf_free(&s->line);
		free(s->id);
		s->id = NULL;
		f->head = (f->head + 1) % f->jobs;
		f->used--;
	}
	progress(f, 0);
}

/* Is this record a request to fetch? Any record with an "id", whatever
 * its type (gmail-ops(7)), but a message_result: a report on a message
 * already handled (receipt-store filter's, for gmail-label). Records
 * without an id, or with a null one, pass through. 1, 0, or -1 for a bad
 * id (warned). */
static int
wants_fetch(struct fetch *f, struct ops_ndjson *r, yajl_val rec)
{
	yajl_val id = ops_json_get(rec, "id");
	const char *type = ops_json_str(rec, "type");

	if (id == NULL || YAJL_IS_NULL(id) ||
	    (type != NULL && strcmp(type, "message_result") == 0))
		return 0;
	if (!YAJL_IS_STRING(id) || !ops_gmail_id_ok(YAJL_GET_STRING(id))) {
		progress_clear(f);
		ops_warnx("line %lu: \"id\" is not a Gmail message id, skipped",
		    ops_ndjson_lineno(r));
		return -1;
	}
	return 1;
}

/* Reads one record into the read-ahead queue: an id to fetch, or a line
 * to pass on. 0 at the end of the input. */
static int
read_one(struct fetch *f, struct ops_ndjson *r, long *bad)
{
	struct pending *p;
	yajl_val rec;
	int rc;

	for (;;) {
		progress_clear(f);
		rc = ops_ndjson_next(r, &rec);
		if (rc <= 0) {
			if (rc < 0)
				(*bad)++;
			f->eof = 1;
			return 0;
		}
		rc = wants_fetch(f, r, rec);
		if (rc >= 0)
			break;
		(*bad)++;
		yajl_tree_free(rec);
	}
	p = ops_xmalloc(sizeof(*p));
	memset(p, 0, sizeof(*p));
	if (rc == 1) {
		p->id = ops_xstrdup(ops_json_str(rec, "id"));
		f->read++;
		f->queued_bytes += strlen(p->id);
	} else {
		ops_jw_value(f->w, rec);
		slot_line(f, &p->line);
		f->queued_bytes += p->line.len;
	}
	yajl_tree_free(rec);
	if (f->qtail != NULL)
		f->qtail->next = p;
	else
		f->qhead = p;
	f->qtail = p;
	f->queued++;
	return 1;
}

/* Reads ahead what the input already holds, so that the total (and the
 * ETA) is known early: ids are small, and the queue is bounded. */
static void
read_ahead(struct fetch *f, struct ops_ndjson *r, long *bad)
{
	struct pollfd pfd;

	while (!f->eof && f->queued < READ_AHEAD &&
	    f->queued_bytes < READ_AHEAD_BYTES) {
		pfd.fd = fileno(stdin);
		pfd.events = POLLIN;
		if (poll(&pfd, 1, 0) != 1)
			return;
		(void)read_one(f, r, bad);
	}
}

/* Moves records from the queue (reading when it is empty) into the
 * window while it has room, starting their fetches. */
static void
fill(struct fetch *f, struct ops_ndjson *r, long *bad)
{
	struct ops_http_req req;
	struct pending *p;
	struct slot *s;
	char *url;

	while (f->used < f->jobs) {
		if (f->qhead == NULL && (f->eof || read_one(f, r, bad) == 0))
			return;
		p = f->qhead;
		f->qhead = p->next;
		if (f->qhead == NULL)
			f->qtail = NULL;
		f->queued--;
		f->queued_bytes -= p->id != NULL ? strlen(p->id) : p->line.len;
		s = &f->ring[(f->head + f->used) % f->jobs];
		f->used++;
		s->id = p->id;
		s->line = p->line;
		free(p);
		if (s->id == NULL)
			continue;	/* passes through */
		s->busy = 1;
		url = ops_gmail_url("messages", s->id, "format=raw");
		memset(&req, 0, sizeof(req));
		req.method = "GET";
		req.url = url;
		req.bearer = 1;
		req.max_response = MAX_ANSWER;
		ops_multi_add(f->multi, &req, s);
		free(url);
	}
}

static int
run(struct fetch *f, long *bad)
{
	struct ops_ndjson *r = ops_ndjson_open(stdin, NULL, 0);
	struct ops_http_resp resp;
	void *tag;
	int ok;

	f->started = ops_monotonic();
	for (;;) {
		/* Out first, so the window has room for the next read. */
		flush_ready(f);
		fill(f, r, bad);
		flush_ready(f);
		if (f->used == 0 && f->qhead == NULL && f->eof)
			break;
		read_ahead(f, r, bad);
		if (ops_multi_next(f->multi, &tag, &resp, &ok) == 0)
			continue;	/* nothing in flight: read on */
		finished(f, tag, &resp, ok);
		ops_http_resp_free(&resp);
	}
	*bad += (long)ops_ndjson_bad(r);
	ops_ndjson_close(r);
	if (f->read > 0 || f->progress_shown)
		progress(f, 1);
	return *bad > 0 || f->failed > 0 ? OPS_EX_PARTIAL : OPS_EX_OK;
}

int
main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		OPS_CLI_LONGOPTS,
		{ "stats", required_argument, NULL, OPT_STATS },
		{ NULL, 0, NULL, 0 }
	};
	const char *stats = NULL;
	struct ops_cli cli = { 0 };
	struct fetch f;
	struct ops_config *c;
	struct ops_auth *a;
	long bad = 0;
	char *end;
	int ch, rc, code;

	ops_setprogname(argv[0]);
	memset(&f, 0, sizeof(f));
	f.jobs = 8;
	while ((ch = getopt_long(argc, argv, "c:hj:o:", longopts, NULL)) !=
	    -1) {
		if (ops_cli_option(&cli, ch, optarg))
			continue;
		switch (ch) {
		case 'j':
			f.jobs = (int)strtol(optarg, &end, 10);
			if (*optarg == '\0' || *end != '\0' || f.jobs < 1 ||
			    f.jobs > MAX_JOBS)
				ops_die(OPS_EX_USAGE, "-j %s: not a number from "
				    "1 to %d", optarg, MAX_JOBS);
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
	f.log = ops_log_env(c);
	a = ops_auth_new(c);
	f.http = ops_http_new(c, a);
	ops_gmail_stats_on_pipe(stats, f.http);
	f.multi = ops_multi_new(f.http, f.jobs);
	f.w = ops_jw_new();
	f.ring = ops_xmalloc(sizeof(*f.ring) * (size_t)f.jobs);
	memset(f.ring, 0, sizeof(*f.ring) * (size_t)f.jobs);
	f.tty = isatty(STDERR_FILENO);
	rc = run(&f, &bad);
	if (stats != NULL && ops_gmail_stats_write(stats, f.http,
	    f.failed + bad) != 0 && rc == OPS_EX_OK)
		rc = OPS_EX_IOERR;
	free(f.ring);
	ops_jw_free(f.w);
	ops_multi_free(f.multi);
	ops_http_free(f.http);
	ops_auth_free(a);
	ops_log_close(f.log);
	ops_config_free(c);
	code = ops_close_stdout();
	return rc != OPS_EX_OK ? rc : code;
}
