/* mail-track: the open-tracking pixel. GET /<pixel_id>.gif answers a
 * transparent 1x1 GIF and counts the hit in the tracking record that
 * mail-send made; --hits lists the hits of one pixel. */
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "gmailops.h"

#define DEFAULT_LISTEN	"127.0.0.1:8081"
#define DEFAULT_WINDOW	10.0	/* seconds after the send: machine hits */
#define MAX_WINDOW	86400.0
#define WARN_EVERY	10.0	/* seconds between two store warnings */
#define MAX_NAME	64	/* of /NAME.gif */

/* GIF89a, 1x1, one transparent colour: 43 bytes. */
static const unsigned char pixel_gif[43] = {
	'G', 'I', 'F', '8', '9', 'a', 0x01, 0x00, 0x01, 0x00, 0x80, 0x00,
	0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0x21, 0xf9, 0x04, 0x01,
	0x00, 0x00, 0x00, 0x00, 0x2c, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00,
	0x01, 0x00, 0x00, 0x02, 0x02, 0x44, 0x01, 0x00, 0x3b
};

static const char *const pixel_headers[] = {
	"Cache-Control", "no-store, private",
	NULL
};

struct server {
	struct ops_track	*track;
	atomic_ulong		 hits;		/* GET of a well-formed path */
	atomic_ulong		 recorded;
	atomic_ulong		 unknown;	/* no such record, bad id */
	atomic_ulong		 errors;
	pthread_mutex_t		 warn_lock;
	double			 warned_at;
	unsigned long		 suppressed;
};

static void
usage(int help)
{
	fprintf(help ? stdout : stderr,
	    "usage: mail-track [-c file] [-o key=value] [-l addr:port] "
	    "[-w seconds]\n"
	    "       mail-track [-c file] [-o key=value] --hits pixel_id\n");
	exit(help ? OPS_EX_OK : OPS_EX_USAGE);
}

/* A store that fails fails for every hit: one warning per WARN_EVERY. */
static void
store_warning(struct server *s, const char *err)
{
	unsigned long n = 0;
	double now = ops_monotonic();
	int say = 0;

	pthread_mutex_lock(&s->warn_lock);
	if (s->warned_at == 0 || now - s->warned_at >= WARN_EVERY) {
		say = 1;
		n = s->suppressed;
		s->suppressed = 0;
		s->warned_at = now;
	} else {
		s->suppressed++;
	}
	pthread_mutex_unlock(&s->warn_lock);
	if (say && n > 0)
		ops_httpd_warnx("%s (and %lu more store errors)", err, n);
	else if (say)
		ops_httpd_warnx("%s", err);
}

/* "/NAME.gif", NAME 1 to 64 letters, digits, '-' or '_': a pixel path,
 * whose NAME may or may not be the id of a record. */
static int
pixel_path(const char *path, char *name, size_t namelen)
{
	size_t n;

	if (path[0] != '/')
		return 0;
	n = strspn(path + 1, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789-_");
	if (n == 0 || n > MAX_NAME || n >= namelen ||
	    strcmp(path + 1 + n, ".gif") != 0)
		return 0;
	memcpy(name, path + 1, n);
	name[n] = '\0';
	return 1;
}

static int
answer(struct ops_httpd_req *req, void *arg)
{
	struct server *s = arg;
	struct ops_track_hit hit;
	char id[MAX_NAME + 1], err[512];
	int get = strcmp(req->method, "GET") == 0;
	int rc;

	if (!get && strcmp(req->method, "HEAD") != 0)
		return ops_httpd_error(req, 405);
	if (!pixel_path(req->path, id, sizeof(id)))
		return ops_httpd_error(req, 404);
	/* HEAD shows the answer without opening anything: not a hit. */
	if (get) {
		atomic_fetch_add(&s->hits, 1);
		rc = ops_track_record(s->track, id,
		    ops_httpd_header(req, "User-Agent"), ops_now(), &hit, err,
		    sizeof(err));
		if (rc == 1) {
			atomic_fetch_add(&s->recorded, 1);
		} else if (rc == 0) {
			atomic_fetch_add(&s->unknown, 1);
		} else {
			atomic_fetch_add(&s->errors, 1);
			store_warning(s, err);
		}
	}
	/* Known or not, recorded or not: the same image. */
	return ops_httpd_reply(req, 200, "image/gif", pixel_gif,
	    sizeof(pixel_gif), 1, pixel_headers);
}

static int
print_hit(yajl_val rec, void *arg)
{
	struct ops_jw *w = arg;

	ops_jw_value(w, rec);
	if (ops_jw_emit(w, stdout) != 0)
		ops_die(OPS_EX_IOERR, "stdout: write error");
	return 0;
}

static int
list_hits(struct ops_track *t, const char *id)
{
	struct ops_jw *w;
	char err[512];
	int rc;

	if (!ops_uuid_valid(id)) {
		ops_warnx("%s: not a pixel id", id);
		return OPS_EX_DATAERR;
	}
	w = ops_jw_new();
	rc = ops_track_hits(t, id, print_hit, w, err, sizeof(err));
	ops_jw_free(w);
	if (rc < 0) {
		ops_warnx("%s", err);
		return OPS_EX_IOERR;
	}
	return OPS_EX_OK;
}

/* Serves until SIGTERM or SIGINT: 0, or the exit status of a failure. */
static int
serve(struct server *s, struct ops_log *log, const char *listen)
{
	struct ops_httpd_opts o;
	struct ops_httpd *h;
	struct ops_jw *w;
	int sig;

	memset(&o, 0, sizeof(o));
	o.listen = listen;
	o.timeout = 15;
	o.handler = answer;
	o.arg = s;
	h = ops_httpd_listen(&o);
	w = ops_jw_new();
	if (log != NULL) {
		ops_jw_str(ops_log_begin(log, "mail-track.start"), "address",
		    ops_httpd_address(h));
		(void)ops_log_end(log);
	}

	sig = ops_httpd_wait();
	ops_httpd_stop(h);

	ops_jw_open(w);
	ops_jw_str(w, "status", "stopped");
	ops_jw_str(w, "signal", sig == SIGINT ? "INT" : "TERM");
	ops_jw_int(w, "hits", (long long)atomic_load(&s->hits));
	ops_jw_int(w, "recorded", (long long)atomic_load(&s->recorded));
	ops_jw_int(w, "unknown", (long long)atomic_load(&s->unknown));
	ops_jw_int(w, "errors", (long long)atomic_load(&s->errors));
	ops_jw_close(w);
	(void)ops_jw_emit(w, stdout);
	if (log != NULL) {
		struct ops_jw *lw = ops_log_begin(log, "mail-track.stop");
		ops_jw_int(lw, "hits", (long long)atomic_load(&s->hits));
		ops_jw_int(lw, "recorded", (long long)atomic_load(&s->recorded));
		ops_jw_int(lw, "unknown", (long long)atomic_load(&s->unknown));
		ops_jw_int(lw, "errors", (long long)atomic_load(&s->errors));
		(void)ops_log_end(log);
	}
	ops_jw_free(w);
	return OPS_EX_OK;
}

int
main(int argc, char *argv[])
{
	enum { O_HITS = 0x100 };
	static const struct option longopts[] = {
		OPS_CLI_LONGOPTS,
		{ "hits", required_argument, NULL, O_HITS },
		{ NULL, 0, NULL, 0 }
	};
	const char *listen = DEFAULT_LISTEN, *hits_of = NULL;
	struct ops_cli cli = { 0 };
	struct ops_mailstore *store;
	struct ops_config *c;
	struct ops_log *log;
	struct server s;
	double window = DEFAULT_WINDOW;
	char err[512], *end;
	int ch, code, rc, i, server_opts = 0;

	ops_setprogname(argv[0]);
	while ((ch = getopt_long(argc, argv, "c:hl:o:w:", longopts, NULL)) !=
	    -1) {
		if (ops_cli_option(&cli, ch, optarg))
			continue;
		switch (ch) {
		case 'l':
			listen = optarg;
			server_opts = 1;
			break;
		case 'w':
			server_opts = 1;
			window = strtod(optarg, &end);
			if (*optarg == '\0' || *end != '\0' || !(window >= 0) ||
			    window > MAX_WINDOW) {
				ops_warnx("-w %s: seconds from 0 to %.0f", optarg,
				    MAX_WINDOW);
				usage(0);
			}
			break;
		case O_HITS:
			hits_of = optarg;
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
	if (argc != 0 || (hits_of != NULL && server_opts))
		usage(0);

	c = ops_cli_config(&cli);
	log = ops_log_env(c);
	store = ops_mailstore_open(c, &code, err, sizeof(err));
	if (store == NULL)
		ops_die(code, "%s", err);
	memset(&s, 0, sizeof(s));
	s.track = ops_track_open(store, c, window, &code, err, sizeof(err));
	if (s.track == NULL)
		ops_die(code, "%s", err);
	pthread_mutex_init(&s.warn_lock, NULL);
	atomic_init(&s.hits, 0);
	atomic_init(&s.recorded, 0);
	atomic_init(&s.unknown, 0);
	atomic_init(&s.errors, 0);

	if (hits_of != NULL)
		rc = list_hits(s.track, hits_of);
	else
		rc = serve(&s, log, listen);

	pthread_mutex_destroy(&s.warn_lock);
	ops_track_close(s.track);
	ops_mailstore_close(store);
	ops_log_close(log);
	ops_config_free(c);
	i = ops_close_stdout();
	return rc != 0 ? rc : i;
}
