/* mime-extract: raw messages in (gmail-fetch records, RFC 822 files, an
 * mbox, a Maildir), one "message" record and its "attachment" records
 * out. The MIME work is lib/mime*.c; this file is input and output. */
#include <sys/stat.h>

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gmailops.h"

enum { OPT_MAX = 0x2000, OPT_NO_DATA, OPT_SPOOL };

struct run {
	struct ops_jw	*w;
	enum ops_mime_out out;
	char		*spool;		/* absolute, or NULL */
	long long	 max;		/* attachments per run; 0: no cap */
	long long	 attachments;
	long		 messages;
	long		 failed;
	int		 stop;
};

/* Where a raw message came from. */
struct origin {
	yajl_val	 rec;		/* gmail-fetch record, or NULL */
	const char	*file;		/* file name, or NULL (stdin) */
	unsigned long	 n;		/* message number in an mbox, or 0 */
	unsigned long	 line;		/* NDJSON line */
};

static void
usage(int help)
{
	fprintf(help ? stdout : stderr, "usage: mime-extract [-c file] "
	    "[-o key=value] [--max n] [--no-data | --spool dir] [file ...]\n");
	exit(help ? OPS_EX_OK : OPS_EX_USAGE);
}

static void
emit(struct run *r)
{
	if (ops_jw_emit(r->w, stdout) != 0)
		ops_die(OPS_EX_IOERR, "stdout: write error");
}

/* A record of a message whose last record is still to come: written out
 * with that one, so the next stage wakes once per message. */
static void
emit_more(struct run *r)
{
	if (ops_jw_put(r->w, stdout) != 0)
		ops_die(OPS_EX_IOERR, "stdout: write error");
}

/* For diagnostics: the Gmail id, or where in which file. Static. */
static const char *
where(const struct origin *o)
{
	static char buf[PATH_MAX + 64];
	const char *id = o->rec != NULL ? ops_json_str(o->rec, "id") : NULL;
	const char *name = o->file != NULL ? o->file : "stdin";

	if (id != NULL)
		snprintf(buf, sizeof(buf), "%s", id);
	else if (o->rec != NULL && o->file != NULL)
		snprintf(buf, sizeof(buf), "%s: line %lu", name, o->line);
	else if (o->rec != NULL)
		snprintf(buf, sizeof(buf), "line %lu", o->line);
	else if (o->n > 0)
		snprintf(buf, sizeof(buf), "%s: message %lu", name, o->n);
	else
		snprintf(buf, sizeof(buf), "%s", name);
	return buf;
}

/* Gmail's internalDate: milliseconds since the epoch, as a string. */
static int
internal_date(yajl_val rec, time_t *t)
{
	yajl_val v = rec != NULL ? ops_json_get(rec, "internalDate") : NULL;
	const char *s = NULL;
	long long ms;
	char *end;

	if (v != NULL && YAJL_IS_STRING(v))
		s = YAJL_GET_STRING(v);
	else if (v != NULL && YAJL_IS_NUMBER(v))
		s = YAJL_GET_NUMBER(v);
	if (s == NULL || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	ms = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0')
		return -1;
	*t = (time_t)(ms / 1000);
	return 0;
}

static void
write_message(struct run *r, const struct origin *o, const char *key,
    const struct ops_mime_msg *m)
{
	struct ops_jw *w = r->w;
	const struct ops_mime_auth *a = &m->auth;
	yajl_val labels = o->rec != NULL ? ops_json_get(o->rec, "labelIds") :
	    NULL;
	char when[32], *file;
	time_t t = 0;
	size_t i;
	int known;

	ops_jw_open(w);
	ops_jw_str(w, "type", "message");
	ops_jw_str(w, "id", o->rec != NULL ? ops_json_str(o->rec, "id") : NULL);
	ops_jw_str(w, "threadId", o->rec != NULL ?
	    ops_json_str(o->rec, "threadId") : NULL);
	ops_jw_key(w, "labelIds");
	if (labels != NULL && YAJL_IS_ARRAY(labels))
		ops_jw_value(w, labels);
	else
		ops_jw_null(w, NULL);
	ops_jw_str(w, "source", o->rec != NULL ? "gmail" : "file");
	file = o->rec != NULL ? NULL : ops_mime_utf8(o->file);
	ops_jw_str(w, "file", file);
	free(file);
	ops_jw_str(w, "msg_key", key);
	ops_jw_str(w, "message_id", m->message_id);
	ops_jw_str(w, "sender", m->sender);
	ops_jw_str(w, "sender_name", m->sender_name);
	ops_jw_str(w, "subject", m->subject);
	known = internal_date(o->rec, &t) == 0;
	if (!known && m->has_date) {
		t = m->date;
		known = 1;
	}
	if (known) {
		ops_iso8601(t, when, sizeof(when));
		ops_jw_str(w, "received_at", when);
	} else
		ops_jw_null(w, "received_at");
	if (m->has_auth) {
		ops_jw_key(w, "auth");
		ops_jw_open(w);
		ops_jw_str(w, "authserv", a->authserv);
		ops_jw_str(w, "dkim", a->dkim);
		ops_jw_str(w, "dkim_domain", a->dkim_domain);
		ops_jw_str(w, "spf", a->spf);
		ops_jw_str(w, "spf_domain", a->spf_domain);
		ops_jw_str(w, "dmarc", a->dmarc);
		ops_jw_str(w, "dmarc_domain", a->dmarc_domain);
		ops_jw_str(w, "from_domain", a->from_domain);
		ops_jw_close(w);
	} else
		ops_jw_null(w, "auth");
	ops_jw_array_open(w, "links");
	for (i = 0; i < m->nlinks; i++)
		ops_jw_str(w, NULL, m->links[i]);
	ops_jw_array_close(w);
	ops_jw_int(w, "attachments", (long long)m->nparts);
	ops_jw_str(w, "error", m->error);
	ops_jw_close(w);
	emit_more(r);
}

static void
write_attachment(struct run *r, const struct origin *o, const char *key,
    const struct ops_mime_part *p, const struct ops_mime_body *b)
{
	struct ops_jw *w = r->w;

	ops_jw_open(w);
	ops_jw_str(w, "type", "attachment");
	ops_jw_str(w, "id", o->rec != NULL ? ops_json_str(o->rec, "id") : NULL);
	ops_jw_str(w, "msg_key", key);
	ops_jw_str(w, "part", p->path);
	ops_jw_null(w, "gmail_attachment_id");	/* format=raw has none */
	ops_jw_str(w, "filename", p->filename);
	ops_jw_str(w, "content_type", p->content_type);
	ops_jw_str(w, "sniffed_type", b->sniffed);
	ops_jw_str(w, "disposition", p->disposition);
	ops_jw_int(w, "size", (long long)b->size);
	ops_jw_str(w, "sha256", b->sha256);
	ops_jw_str(w, "defect", b->defect);
	ops_jw_str(w, "spool", b->spool);
	if (b->data != NULL)
		ops_jw_str(w, "data", b->data);
	ops_jw_close(w);
	emit_more(r);
}

/* The SHA-256 of a whole message, the key of one that has no Gmail id,
 * computed on another core while its parts are parsed and decoded. */
struct hasher {
	pthread_t		 thread;
	const unsigned char	*p;
	size_t			 n;
	char			 hex[65];
	int			 running;
};

static void *
hasher_main(void *arg)
{
	struct hasher *h = arg;

	ops_sha256_hex(h->p, h->n, h->hex);
	return NULL;
}

static void
hasher_start(struct hasher *h, const unsigned char *p, size_t n)
{
	h->p = p;
	h->n = n;
	h->running = pthread_create(&h->thread, NULL, hasher_main, h) == 0;
	if (!h->running)		/* no thread: here, now */
		hasher_main(h);
}

static void
hasher_join(struct hasher *h)
{
	if (h->running && pthread_join(h->thread, NULL) != 0)
		ops_die(OPS_EX_SOFTWARE, "pthread_join: failed");
	h->running = 0;
}

/* Spools every part of m, or removes what it wrote and dies (once the
 * hasher is done: exit's clean-up must not run under it). */
static void
spool_all(struct run *r, const struct ops_mime_msg *m,
    struct ops_mime_body *bodies, struct hasher *h)
{
	size_t i, k;
	int saved;

	for (i = 0; i < m->nparts; i++) {
		if (ops_mime_decode(&m->parts[i], r->out, r->spool,
		    &bodies[i]) == 0)
			continue;
		saved = errno;
		for (k = 0; k < i; k++)
			(void)unlink(bodies[k].spool);
		if (h != NULL)
			hasher_join(h);
		errno = saved;
		ops_dief(OPS_EX_IOERR, "%s", r->spool);
	}
}

/* One raw message: its record, then its attachments'. When spooling,
 * every file is written before the records that name them. */
static void
message(struct run *r, const struct origin *o, struct ops_mime_raw *raw)
{
	const char *id = o->rec != NULL ? ops_json_str(o->rec, "id") : NULL;
	struct ops_mime_body *bodies;
	struct ops_mime_msg m;
	struct hasher h;
	char *key;
	size_t i;
	int hashing;

	/* A Gmail record is keyed by its id; a message too large to hold
	 * was hashed as it was read. */
	hashing = id == NULL && raw->data != NULL && raw->sha256[0] == '\0';
	if (hashing)
		hasher_start(&h, raw->data, raw->len);
	raw->no_hash = id != NULL || hashing;
	if (ops_mime_parse(raw, &m) != 0) {
		ops_warnx("%s: %s", where(o), m.error);
		r->failed++;
	}
	bodies = ops_xmalloc((m.nparts + 1) * sizeof(*bodies));
	if (r->out == OPS_MIME_OUT_SPOOL)
		spool_all(r, &m, bodies, hashing ? &h : NULL);
	if (hashing)
		hasher_join(&h);
	key = id != NULL ? ops_xstrdup(id) : ops_xasprintf("sha256:%s",
	    hashing ? h.hex : m.raw_sha256);
	write_message(r, o, key, &m);
	for (i = 0; i < m.nparts; i++) {
		/* Inline data: one attachment in memory at a time. */
		if (r->out != OPS_MIME_OUT_SPOOL && ops_mime_decode(
		    &m.parts[i], r->out, NULL, &bodies[i]) != 0)
			ops_dief(OPS_EX_IOERR, "%s: part %s", where(o),
			    m.parts[i].path);
		write_attachment(r, o, key, &m.parts[i], &bodies[i]);
		ops_mime_body_free(&bodies[i]);
	}
	if (fflush(stdout) != 0) {
		if (errno == EPIPE)
			ops_reader_gone();
		ops_die(OPS_EX_IOERR, "stdout: write error");
	}
	r->attachments += (long long)m.nparts;
	r->messages++;
	if (r->max > 0 && r->attachments >= r->max)
		r->stop = 1;
	free(bodies);
	free(key);
	ops_mime_free(&m);
	free(raw->data);		/* a refused message's */
	raw->data = NULL;
}

static void
bad_record(struct run *r, const char *name, unsigned long line,
    const char *why)
{
	if (name != NULL)
		ops_warnx("%s: line %lu: %s", name, line, why);
	else
		ops_warnx("line %lu: %s", line, why);
	r->failed++;
}

/* base64url as Gmail gives it, or standard base64, with or without line
 * breaks. Caller frees; NULL if neither. */
static unsigned char *
raw_decode(const char *s, size_t *len)
{
	unsigned char *out;
	char *flat;

	out = ops_b64_decode(s, strlen(s), len);
	if (out != NULL || strpbrk(s, " \t\r\n") == NULL)
		return out;
	flat = ops_xstrdup(s);
	out = (unsigned char *)flat;
	if (ops_b64_decode_to(flat, strlen(flat), out, len) != 0) {
		free(flat);
		return NULL;
	}
	return out;
}

/* A record whose "raw" is plain text in the line (as gmail-fetch writes
 * it): the message is decoded where it lies, to the start of the line's
 * buffer, which becomes raw->data, and only the rest of the record is
 * parsed. 1 with *v and raw filled; 0 when the record is not so (or the
 * rest is not an object: read as any line); -1 when raw is not base64. */
static int
raw_in_place(struct ops_ndjson *nd, char *line, size_t len, yajl_val *v,
    struct ops_mime_raw *raw)
{
	size_t off, rawlen, n;
	char *rest;

	if (ops_json_find_str(line, len, "raw", &off, &rawlen) != 0)
		return 0;
	rest = ops_xasprintf("%.*s%s", (int)off, line, line + off + rawlen);
	*v = ops_json_parse(rest, NULL, 0);
	free(rest);
	if (*v == NULL || !YAJL_IS_OBJECT(*v)) {
		yajl_tree_free(*v);
		return 0;
	}
	if (ops_b64_decode_to(line + off, rawlen, (unsigned char *)line,
	    &n) != 0)
		return -1;
	memset(raw, 0, sizeof(*raw));
	raw->data = (unsigned char *)ops_ndjson_take_line(nd);
	raw->data = ops_xrealloc(raw->data, n > 0 ? n : 1);
	raw->len = raw->size = n;
	return 1;
}

/* gmail-fetch records; others pass through. */
static void
ndjson(struct run *r, struct ops_mime_peek *pk, const char *name)
{
	struct ops_ndjson *nd = ops_ndjson_open_reader(ops_mime_peek_read, pk,
	    name, 0);
	struct ops_mime_raw raw;
	struct origin o;
	const char *type;
	char err[256], *line;
	yajl_val v, rv;
	size_t len;
	int rc = 0, in_place;

	while (!r->stop) {
		rc = ops_ndjson_next_line(nd, &line, &len);
		if (rc != 1)
			break;
		memset(&o, 0, sizeof(o));
		o.file = name;
		o.line = ops_ndjson_lineno(nd);
		in_place = raw_in_place(nd, line, len, &v, &raw);
		if (in_place < 0) {
			bad_record(r, name, o.line, "\"raw\" is not base64");
			yajl_tree_free(v);
			continue;
		}
		if (in_place) {
			o.rec = v;
			message(r, &o, &raw);
			yajl_tree_free(v);
			continue;
		}
		v = ops_json_parse(line, err, sizeof(err));
		if (v == NULL || !YAJL_IS_OBJECT(v)) {
			ops_ndjson_bad_line(nd, "%s", v == NULL ? err :
			    "not a JSON object");
			yajl_tree_free(v);
			continue;
		}
		o.rec = v;
		type = ops_json_str(v, "type");
		rv = ops_json_get(v, "raw");
		if (rv == NULL && type != NULL && strcmp(type, "raw") == 0) {
			bad_record(r, name, o.line, "no \"raw\"");
		} else if (rv == NULL) {
			ops_jw_value(r->w, v);
			emit(r);
		} else if (!YAJL_IS_STRING(rv)) {
			bad_record(r, name, o.line, "\"raw\" is not a string");
		} else {
			memset(&raw, 0, sizeof(raw));
			raw.data = raw_decode(YAJL_GET_STRING(rv), &raw.len);
			if (raw.data == NULL) {
				bad_record(r, name, o.line,
				    "\"raw\" is not base64");
			} else {
				raw.size = raw.len;
				message(r, &o, &raw);
			}
		}
		yajl_tree_free(v);
	}
	if (rc < 0)
		r->failed++;
	r->failed += (long)ops_ndjson_bad(nd);
	ops_ndjson_close(nd);
}

/* An mbox, or one RFC 822 message. */
static void
messages(struct run *r, FILE *fp, enum ops_mime_kind kind, const char *name)
{
	struct ops_mime_src *src = ops_mime_src_open(fp, kind,
	    OPS_MIME_MAX_SIZE);
	struct ops_mime_raw raw;
	struct origin o;
	int rc = 0;

	while (!r->stop) {
		rc = ops_mime_src_next(src, &raw);
		if (rc != 1)
			break;
		memset(&o, 0, sizeof(o));
		o.file = name;
		o.n = kind == OPS_MIME_MBOX ? raw.n : 0;
		message(r, &o, &raw);
	}
	if (rc < 0) {
		ops_warn("%s", name != NULL ? name : "stdin");
		r->failed++;
	}
	ops_mime_src_close(src);
}

static void
stream(struct run *r, FILE *fp, const char *name)
{
	struct ops_mime_peek *pk;
	enum ops_mime_kind kind;
	FILE *in;

	if ((pk = ops_mime_peek_open(fp, &kind)) == NULL ||
	    (kind != OPS_MIME_NDJSON &&
	    (in = ops_mime_peek_stream(pk)) == NULL)) {
		ops_warn("%s", name != NULL ? name : "stdin");
		r->failed++;
		if (pk != NULL)
			ops_mime_peek_close(pk);
		return;
	}
	if (kind == OPS_MIME_NDJSON) {
		ndjson(r, pk, name);
		ops_mime_peek_close(pk);
		return;
	}
	if (name == NULL && kind == OPS_MIME_RFC822) {
		/* An empty stdin is an empty stream (a pipeline stage with
		 * nothing to do), not one empty message. */
		int c = getc(in);

		if (c == EOF) {
			fclose(in);
			ops_mime_peek_close(pk);
			return;
		}
		ungetc(c, in);
	}
	messages(r, in, kind, name);
	fclose(in);
	ops_mime_peek_close(pk);
}

static void
maildir(struct run *r, const char *dir)
{
	char **files = ops_maildir_list(dir);
	FILE *fp;
	size_t i;

	if (files == NULL) {
		ops_warn("%s: not a Maildir", dir);
		r->failed++;
		return;
	}
	for (i = 0; files[i] != NULL; i++) {
		if (r->stop) {
			free(files[i]);
			continue;
		}
		fp = fopen(files[i], "r");
		if (fp == NULL) {
			ops_warn("%s", files[i]);	/* moved meanwhile */
			r->failed++;
		} else {
			messages(r, fp, OPS_MIME_RFC822, files[i]);
			fclose(fp);
		}
		free(files[i]);
	}
	free(files);
}

static void
input(struct run *r, const char *path)
{
	struct stat st;
	FILE *fp;

	if (strcmp(path, "-") == 0) {
		stream(r, stdin, NULL);
		return;
	}
	if (stat(path, &st) != 0) {
		ops_warn("%s", path);
		r->failed++;
		return;
	}
	if (S_ISDIR(st.st_mode)) {
		maildir(r, path);
		return;
	}
	fp = fopen(path, "r");
	if (fp == NULL) {
		ops_warn("%s", path);
		r->failed++;
		return;
	}
	stream(r, fp, path);
	fclose(fp);
}

static char *
spool_dir(const char *dir)
{
	char *abs;

	if (ops_mkdirs(dir, 0700) != 0)
		ops_dief(OPS_EX_IOERR, "%s", dir);
	abs = realpath(dir, NULL);
	if (abs == NULL)
		ops_dief(OPS_EX_IOERR, "%s", dir);
	return abs;
}

static long long
parse_max(const char *s)
{
	long long n;
	char *end;

	errno = 0;
	n = strtoll(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || n < 0)
		ops_die(OPS_EX_USAGE, "--max: not a count: %s", s);
	return n;
}

static void
log_summary(struct ops_log *log, const struct run *r)
{
	struct ops_jw *w;

	if (log == NULL)
		return;
	w = ops_log_begin(log, "mime-extract");
	ops_jw_int(w, "messages", r->messages);
	ops_jw_int(w, "attachments", r->attachments);
	ops_jw_int(w, "errors", r->failed);
	(void)ops_log_end(log);
}

int
main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "max", required_argument, NULL, OPT_MAX },
		{ "no-data", no_argument, NULL, OPT_NO_DATA },
		{ "spool", required_argument, NULL, OPT_SPOOL },
		OPS_CLI_LONGOPTS,
		{ NULL, 0, NULL, 0 }
	};
	struct ops_cli cli = { 0 };
	const char *spool = NULL;
	struct run r = { 0 };
	struct ops_config *c;
	struct ops_log *log;
	int ch, i, nodata = 0, rc;

	ops_setprogname(argv[0]);
	while ((ch = getopt_long(argc, argv, "c:ho:", longopts, NULL)) != -1) {
		if (ops_cli_option(&cli, ch, optarg))
			continue;
		switch (ch) {
		case OPT_MAX:
			r.max = parse_max(optarg);
			break;
		case OPT_NO_DATA:
			nodata = 1;
			break;
		case OPT_SPOOL:
			spool = optarg;
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
	if (nodata && spool != NULL) {
		ops_warnx("--no-data and --spool exclude each other");
		usage(0);
	}

	c = ops_cli_config(&cli);
	log = ops_log_env(c);
	r.out = nodata ? OPS_MIME_OUT_NONE : spool != NULL ?
	    OPS_MIME_OUT_SPOOL : OPS_MIME_OUT_DATA;
	if (spool != NULL)
		r.spool = spool_dir(spool);
	r.w = ops_jw_new();
	if (argc == 0)
		stream(&r, stdin, NULL);
	for (i = 0; i < argc && !r.stop; i++)
		input(&r, argv[i]);
	log_summary(log, &r);

	ops_jw_free(r.w);
	free(r.spool);
	ops_log_close(log);
	ops_config_free(c);
	rc = ops_close_stdout();
	return rc != 0 ? rc : r.failed > 0 ? OPS_EX_PARTIAL : OPS_EX_OK;
}
