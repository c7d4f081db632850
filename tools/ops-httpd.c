/* ops-httpd: the private admin pages (the receipts and their "Collecte
 * Gmail" card, the drafts held for review) and the seed's JSON send API,
 * behind Basic or bearer authentication. Every action runs the suite's
 * own tools and driver. */
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "gmailops.h"

#define DEFAULT_LISTEN	"127.0.0.1:8080"
#define DEFAULT_ITER	600000UL	/* --hash-password: OWASP's PBKDF2-SHA256 */
#define MAX_BODY	((size_t)40 << 20)	/* a 35 MB message, as JSON */
#define MAX_MAX		1000000L	/* the max-items input */
#define ESTIMATE_TTL	60.0
#define TOOL_TIMEOUT	30.0		/* receipt-store, gmail-list */
#define SEND_TIMEOUT	600.0		/* mail-send with its retries */
#define LIST_CAP	((size_t)64 << 20)
#define DRIVER		"collect-from-gmail"

struct launch {				/* the last run started from the page */
	unsigned long	 n;		/* 0: none yet */
	pid_t		 pid;
	int		 done, status;
	int		 dry;
	long		 max;
	double		 started;	/* wall clock */
	char		*out, *err;	/* the driver's stdout (--json), stderr */
};

struct server {
	struct ops_httpauth *auth;
	char		*lockpath;	/* var/locks/collect_from_gmail.lock */
	char		*logdir;	/* var/logs/ops */
	char		*rundir;	/* var/run/ops-httpd */
	long		 max_default;
	int		 dry_default;
	pthread_mutex_t	 lock;		/* launch */
	struct launch	 launch;
	pthread_mutex_t	 est_lock;	/* the estimate: one asker at a time */
	double		 est_at;
	int		 est_ok;
	long long	 est;
};

/* Pages are never cached, never framed, run no script. */
static const char *const page_headers[] = {
	"Cache-Control", "no-store",
	"Content-Security-Policy", "default-src 'none'; style-src "
	    "'unsafe-inline'; img-src 'self'; form-action 'self'; "
	    "frame-ancestors 'none'; base-uri 'none'",
	"X-Frame-Options", "DENY",
	"Referrer-Policy", "same-origin",
	NULL
};

static const char css[] =
	"body{font:16px/1.45 system-ui,sans-serif;margin:0;color:#1d1d1f;"
	"background:#f5f5f7}"
	"header{display:flex;gap:1em;align-items:center;padding:.6em 1em;"
	"background:#1d3557;color:#fff}header a{color:#fff}"
	"header .who{margin-left:auto;opacity:.8}"
	"main{max-width:60em;margin:0 auto;padding:1em}"
	".card{background:#fff;border-radius:8px;padding:1em;margin:1em 0;"
	"box-shadow:0 1px 3px rgba(0,0,0,.15)}"
	".counters{display:flex;flex-wrap:wrap;gap:.6em}"
	".counter{background:#fff;border-radius:8px;padding:.6em 1em;"
	"box-shadow:0 1px 3px rgba(0,0,0,.15);min-width:7em}"
	".counter .n{display:block;font-size:1.6em;font-weight:600}"
	"dl{display:grid;grid-template-columns:max-content 1fr;gap:.2em 1em}"
	"dt{color:#555}dd{margin:0}"
	"form.launch{display:flex;flex-wrap:wrap;gap:1em;align-items:center}"
	"button{font:inherit;padding:.4em 1.2em;border-radius:6px;border:0;"
	"background:#1d3557;color:#fff}"
	"button[disabled]{background:#999}button.danger{background:#a4161a}"
	".note{padding:.6em 1em;border-radius:6px;background:#fff3cd}"
	".ok{background:#d1e7dd}.bad{background:#f8d7da}"
	"table{border-collapse:collapse;width:100%}"
	"td,th{text-align:left;padding:.3em;border-bottom:1px solid #ddd;"
	"vertical-align:top}"
	"pre{white-space:pre-wrap;word-break:break-word}"
	"@media (max-width:40em){table,tbody,tr,td{display:block}"
	"thead{display:none}}";

static void
usage(int help)
{
	fprintf(help ? stdout : stderr,
	    "usage: ops-httpd [-c file] [-o key=value] [-l addr:port]\n"
	    "       ops-httpd --hash-password [--iterations n]\n");
	exit(help ? OPS_EX_OK : OPS_EX_USAGE);
}

/* ---------------------------------------------------------------- tools */

/* Runs one of the suite's tools; NULL (and why) unless it exited 0. */
static char *
run_tool(char *const argv[], double timeout, size_t cap, char *why,
    size_t whylen)
{
	struct ops_spawn_result res;
	char *out = NULL;
	size_t n;

	if (ops_spawn_run(argv, NULL, 0, cap, timeout, &res) != 0) {
		snprintf(why, whylen, "%s", res.why);
	} else if (res.status != 0) {
		n = strcspn(res.err, "\n");
		snprintf(why, whylen, "%s exited %d%s%.*s", argv[0],
		    res.status, n > 0 ? ": " : "", (int)n, res.err);
	} else {
		out = res.out;
		res.out = NULL;
	}
	ops_spawn_result_free(&res);
	return out;
}

/* The first JSON object of a tool's output, or NULL. */
static yajl_val
run_tool_json(char *const argv[], char *why, size_t whylen)
{
	char *out = run_tool(argv, TOOL_TIMEOUT, 1 << 20, why, whylen);
	char err[256];
	yajl_val v;

	if (out == NULL)
		return NULL;
	out[strcspn(out, "\n")] = '\0';
	v = *out != '\0' ? ops_json_parse(out, err, sizeof(err)) : NULL;
	free(out);
	if (v != NULL && !YAJL_IS_OBJECT(v)) {
		yajl_tree_free(v);
		v = NULL;
	}
	return v;
}

/* ---------------------------------------------------------------- HTML */

static void
page_begin(struct ops_buf *b, const char *title, const char *who, int refresh)
{
	ops_buf_addstr(b, "<!doctype html>\n<html lang=\"fr\"><head>"
	    "<meta charset=\"utf-8\"><meta name=\"viewport\" content=\""
	    "width=device-width, initial-scale=1\">");
	if (refresh)
		ops_buf_addstr(b, "<meta http-equiv=\"refresh\" content=\"5\">");
	ops_buf_addstr(b, "<title>");
	ops_html_esc(b, title);
	ops_buf_addf(b, " — gmail-ops</title><style>%s</style></head>\n"
	    "<body><header><strong>gmail-ops</strong>"
	    "<a href=\"/admin/receipts\">Reçus</a>"
	    "<a href=\"/drafts\">Brouillons</a><span class=\"who\">", css);
	ops_html_esc(b, who);
	ops_buf_addstr(b, "</span></header>\n<main>\n<h1>");
	ops_html_esc(b, title);
	ops_buf_addstr(b, "</h1>\n");
}

static int
page_end(struct ops_httpd_req *req, struct ops_buf *b, unsigned int status)
{
	int rc;

	ops_buf_addstr(b, "</main></body></html>\n");
	rc = ops_httpd_reply(req, status, "text/html; charset=utf-8", b->data,
	    b->len, 0, page_headers);
	ops_buf_free(b);
	return rc;
}

/* A page that only says something (a refusal, a result). */
static int
page_say(struct ops_httpd_req *req, const char *who, unsigned int status,
    const char *title, const char *cls, const char *text, const char *back)
{
	struct ops_buf b;

	ops_buf_init(&b, 0);
	page_begin(&b, title, who, 0);
	ops_buf_addf(&b, "<p id=\"message\" class=\"note %s\">", cls);
	ops_html_esc(&b, text);
	ops_buf_addf(&b, "</p><p><a href=\"%s\">Retour</a></p>\n", back);
	return page_end(req, &b, status);
}

static void
csrf_field(struct server *s, struct ops_buf *b, const char *who)
{
	char tok[OPS_HTTPAUTH_CSRF_LEN];

	ops_httpauth_csrf(s->auth, who, ops_now(), tok, sizeof(tok));
	ops_buf_addf(b, "<input type=\"hidden\" name=\"csrf\" value=\"%s\">",
	    tok);
}

/* "2026-11-21T05:30:41.549Z" as "2026-11-21 05:30:41 UTC". */
static void
add_date(struct ops_buf *b, const char *iso)
{
	if (iso == NULL || strlen(iso) < 19) {
		ops_buf_addstr(b, "—");
		return;
	}
	ops_buf_add(b, iso, 10);
	ops_buf_addstr(b, " ");
	ops_buf_add(b, iso + 11, 8);
	ops_buf_addstr(b, " UTC");
}

static void
add_int(struct ops_buf *b, yajl_val v, const char *key)
{
	long long n;

	if (v != NULL && ops_json_int(v, key, &n) == 0)
		ops_buf_addf(b, "%lld", n);
	else
		ops_buf_addstr(b, "—");
}

/* ---------------------------------------------------------------- logs */

/* A log file's name as the page links it: a plain name in var/logs/ops. */
static int
log_name_ok(const char *name)
{
	size_t n = strlen(name);

	return n > 0 && n <= 128 && name[0] != '.' &&
	    strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789._-") == n && strstr(name, "..") == NULL;
}

/* The link to a JobRun's log_path, when it is in var/logs/ops. */
static void
add_log_link(struct server *s, struct ops_buf *b, const char *path,
    const char *id)
{
	size_t n = strlen(s->logdir);
	const char *name;

	if (path == NULL || strncmp(path, s->logdir, n) != 0 ||
	    path[n] != '/' || !log_name_ok(name = path + n + 1)) {
		ops_buf_addstr(b, "—");
		return;
	}
	ops_buf_addf(b, "<a id=\"%s\" href=\"/admin/logs/", id);
	ops_html_esc(b, name);
	ops_buf_addstr(b, "\">");
	ops_html_esc(b, name);
	ops_buf_addstr(b, "</a>");
}

static int
serve_log(struct server *s, struct ops_httpd_req *req, const char *name)
{
	static const char *const hdrs[] = { "Cache-Control", "no-store",
		"Content-Security-Policy", "default-src 'none'", NULL };
	struct stat st;
	int dfd, fd;

	if (!log_name_ok(name))
		return ops_httpd_error(req, 404);
	dfd = open(s->logdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return ops_httpd_error(req, 404);
	fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	close(dfd);
	if (fd < 0)
		return ops_httpd_error(req, 404);
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return ops_httpd_error(req, 404);
	}
	return ops_httpd_reply_fd(req, 200, "text/plain; charset=utf-8", fd,
	    (uint64_t)st.st_size, hdrs);
}

/* ---------------------------------------------------------------- collect */

/* Called with s->lock held: notes the end of the launched run. */
static void
reap(struct server *s)
{
	struct launch *l = &s->launch;
	int ws;

	if (l->pid <= 0 || l->done)
		return;
	if (waitpid(l->pid, &ws, WNOHANG) == l->pid) {
		l->done = 1;
		l->status = WIFEXITED(ws) ? WEXITSTATUS(ws) :
		    128 + WTERMSIG(ws);
	}
}

/* 1 while a run holds the lock or the one started here goes on. */
static int
running(struct server *s)
{
	reap(s);
	if (s->launch.pid > 0 && !s->launch.done)
		return 1;
	return ops_flock_held(s->lockpath) == 1;
}

/* resultSizeEstimate of the collection query, asked once a minute. */
static void
estimate(struct server *s, long long *n, int *ok)
{
	char *const argv[] = { "gmail-list", "--estimate", NULL };
	char why[512];
	double now = ops_monotonic();
	yajl_val v;

	pthread_mutex_lock(&s->est_lock);
	if (s->est_at == 0 || now - s->est_at >= ESTIMATE_TTL) {
		v = run_tool_json(argv, why, sizeof(why));
		s->est_ok = v != NULL &&
		    ops_json_int(v, "resultSizeEstimate", &s->est) == 0;
		s->est_at = now;
		yajl_tree_free(v);
	}
	*n = s->est;
	*ok = s->est_ok;
	pthread_mutex_unlock(&s->est_lock);
}

/* The summary of the run started from this page, at the top. */
static void
launch_summary(struct server *s, struct ops_buf *b)
{
	struct launch *l = &s->launch;
	char *out = NULL, *err = NULL, errbuf[256];
	yajl_val v = NULL;
	size_t len;
	time_t t = (time_t)l->started;
	struct tm tm;
	char when[32];

	gmtime_r(&t, &tm);
	strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", &tm);
	if (!l->done) {
		ops_buf_addf(b, "<section id=\"launch\" class=\"note\" "
		    "data-state=\"running\"><strong>Collecte en cours</strong> "
		    "depuis %s (%s, max %ld). Cette page se recharge toute "
		    "seule.</section>\n", when, l->dry ? "simulation" : "réelle",
		    l->max);
		return;
	}
	if ((out = ops_read_file(l->out, 1 << 20, &len, 1)) != NULL) {
		out[strcspn(out, "\n")] = '\0';
		v = ops_json_parse(out, errbuf, sizeof(errbuf));
	}
	ops_buf_addf(b, "<section id=\"launch\" class=\"note %s\" "
	    "data-state=\"done\" data-status=\"%d\"><strong>Collecte lancée "
	    "à %s : ", l->status == 0 ? "ok" : "bad", l->status, when);
	if (v != NULL && YAJL_IS_OBJECT(v)) {
		ops_html_esc(b, ops_json_str(v, "status") != NULL ?
		    ops_json_str(v, "status") : "?");
		ops_buf_addstr(b, "</strong> — ");
		add_int(b, v, "emails_scanned");
		ops_buf_addstr(b, " mails, ");
		add_int(b, v, "created");
		ops_buf_addstr(b, " reçus créés, ");
		add_int(b, v, "duplicates_skipped");
		ops_buf_addstr(b, " doublons, ");
		add_int(b, v, "quarantined");
		ops_buf_addstr(b, " en quarantaine, ");
		add_int(b, v, "errors_count");
		ops_buf_addstr(b, " erreurs. Journal : ");
		add_log_link(s, b, ops_json_str(v, "log_path"), "launch-log");
	} else {
		ops_buf_addf(b, "sortie %d</strong>", l->status);
		if ((err = ops_read_file(l->err, 1 << 16, &len, 1)) != NULL &&
		    len > 0) {
			ops_buf_addstr(b, "<pre>");
			ops_html_esc(b, err);
			ops_buf_addstr(b, "</pre>");
		}
	}
	ops_buf_addstr(b, "</section>\n");
	yajl_tree_free(v);
	free(out);
	free(err);
}

static void
counters(struct ops_buf *b, yajl_val st)
{
	static const struct { const char *key, *label; } c[] = {
		{ "receipts", "reçus" },
		{ "ingested", "importés" },
		{ "quarantined", "en quarantaine" },
		{ "messages", "mails vus" },
		{ "pending", "en attente" },
	};
	size_t i;

	ops_buf_addstr(b, "<section id=\"counters\" class=\"counters\">");
	for (i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		ops_buf_addf(b, "<div class=\"counter\" id=\"count-%s\">"
		    "<span class=\"n\">", c[i].key);
		add_int(b, st, c[i].key);
		ops_buf_addf(b, "</span>%s</div>", c[i].label);
	}
	ops_buf_addstr(b, "</section>\n");
}

static void
last_run(struct server *s, struct ops_buf *b, yajl_val j)
{
	static const struct { const char *key, *label; } f[] = {
		{ "emails_scanned", "Mails examinés" },
		{ "downloaded", "Téléchargés" },
		{ "created", "Créés" },
		{ "duplicates_skipped", "Doublons" },
		{ "quarantined", "Quarantaine" },
		{ "errors_count", "Erreurs" },
	};
	const char *st = j != NULL ? ops_json_str(j, "status") : NULL;
	yajl_val d = j != NULL ? ops_json_get(j, "duration_sec") : NULL;
	int dry = 0;
	size_t i;

	ops_buf_addstr(b, "<h3>Dernière exécution</h3><dl id=\"last-run\">"
	    "<dt>Date</dt><dd id=\"run-date\">");
	add_date(b, j != NULL ? ops_json_str(j, "started_at") : NULL);
	ops_buf_addstr(b, "</dd><dt>Statut</dt><dd id=\"run-status\">");
	ops_html_esc(b, st != NULL ? st : "—");
	if (j != NULL && ops_json_bool(j, "dry_run", &dry) == 0 && dry)
		ops_buf_addstr(b, " (simulation)");
	ops_buf_addstr(b, "</dd><dt>Durée</dt><dd id=\"run-duration\">");
	if (d != NULL && YAJL_IS_NUMBER(d))
		ops_buf_addf(b, "%.1f s", YAJL_GET_DOUBLE(d));
	else
		ops_buf_addstr(b, "—");
	ops_buf_addstr(b, "</dd>");
	for (i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
		ops_buf_addf(b, "<dt>%s</dt><dd id=\"run-%s\">", f[i].label,
		    f[i].key);
		add_int(b, j, f[i].key);
		ops_buf_addstr(b, "</dd>");
	}
	ops_buf_addstr(b, "<dt>Journal</dt><dd>");
	add_log_link(s, b, j != NULL ? ops_json_str(j, "log_path") : NULL,
	    "run-log");
	ops_buf_addstr(b, "</dd></dl>\n");
}

static int
admin_page(struct server *s, struct ops_httpd_req *req, const char *who)
{
	char *const stats_argv[] = { "receipt-store", "stats", NULL };
	char *const last_argv[] = { "receipt-store", "jobs", "--last", NULL };
	char why[512], why2[512];
	yajl_val st, last;
	struct ops_buf b;
	long long est;
	int busy, est_ok, have_launch;

	st = run_tool_json(stats_argv, why, sizeof(why));
	*why2 = '\0';
	last = run_tool_json(last_argv, why2, sizeof(why2));
	estimate(s, &est, &est_ok);

	ops_buf_init(&b, 0);
	pthread_mutex_lock(&s->lock);
	busy = running(s);
	have_launch = s->launch.n > 0;
	page_begin(&b, "Reçus", who, busy);
	if (have_launch)
		launch_summary(s, &b);
	pthread_mutex_unlock(&s->lock);

	if (st == NULL) {
		ops_buf_addstr(&b, "<p class=\"note bad\">Compteurs indisponibles"
		    " : ");
		ops_html_esc(&b, why);
		ops_buf_addstr(&b, "</p>");
	}
	counters(&b, st);

	ops_buf_addf(&b, "<section class=\"card\" id=\"collect-card\" "
	    "data-locked=\"%s\"><h2>Collecte Gmail</h2>\n", busy ? "true" :
	    "false");
	if (busy)
		ops_buf_addstr(&b, "<p id=\"lock-state\" class=\"note\">Une "
		    "collecte est en cours (verrou pris) : lancement "
		    "impossible.</p>\n");
	if (last == NULL && *why2 != '\0') {
		ops_buf_addstr(&b, "<p class=\"note bad\">");
		ops_html_esc(&b, why2);
		ops_buf_addstr(&b, "</p>");
	}
	last_run(s, &b, last);
	ops_buf_addstr(&b, "<p>Mails non lus correspondants (estimation) : "
	    "<span id=\"estimate\">");
	if (est_ok)
		ops_buf_addf(&b, "%lld", est);
	else
		ops_buf_addstr(&b, "—");
	ops_buf_addstr(&b, "</span></p>\n<form class=\"launch\" method=\"post\""
	    " action=\"/admin/receipts/collect\">");
	csrf_field(s, &b, who);
	ops_buf_addf(&b, "<label><input type=\"checkbox\" id=\"dry-run\" "
	    "name=\"dry_run\" value=\"1\"%s> Simulation (dry-run)</label>"
	    "<label>Pièces max <input type=\"number\" id=\"max\" name=\"max\" "
	    "min=\"1\" max=\"%ld\" value=\"%ld\" required></label>"
	    "<button type=\"submit\" id=\"launch-button\"%s>Lancer</button>"
	    "</form>\n</section>\n", s->dry_default ? " checked" : "", MAX_MAX,
	    s->max_default, busy ? " disabled" : "");
	yajl_tree_free(st);
	yajl_tree_free(last);
	return page_end(req, &b, 200);
}

static int
collect(struct server *s, struct ops_httpd_req *req, const char *who)
{
	struct launch *l = &s->launch;
	char *dry, *max, *end, maxs[24], why[256];
	char *argv[7];
	long n = s->max_default;
	int i = 0, isdry;
	pid_t pid;

	dry = ops_httpd_form(req->body, req->body_len, "dry_run");
	max = ops_httpd_form(req->body, req->body_len, "max");
	isdry = dry != NULL && (strcmp(dry, "1") == 0 || strcmp(dry, "on") == 0);
	if (max != NULL && *max != '\0') {
		errno = 0;
		n = strtol(max, &end, 10);
		if (*end != '\0' || errno != 0 || n < 1 || n > MAX_MAX) {
			free(dry);
			free(max);
			return page_say(req, who, 400, "Collecte Gmail", "bad",
			    "Pièces max : un entier de 1 à 1000000.",
			    "/admin/receipts");
		}
	}
	free(dry);
	free(max);
	snprintf(maxs, sizeof(maxs), "%ld", n);

	pthread_mutex_lock(&s->lock);
	if (running(s)) {
		pthread_mutex_unlock(&s->lock);
		return page_say(req, who, 409, "Collecte Gmail", "bad",
		    "Une collecte est en cours (verrou pris) : rien n'a été "
		    "lancé.", "/admin/receipts");
	}
	argv[i++] = DRIVER;
	argv[i++] = "--json";
	if (isdry)
		argv[i++] = "--dry-run";
	argv[i++] = "--max";
	argv[i++] = maxs;
	argv[i] = NULL;
	free(l->out);
	free(l->err);
	l->n++;
	l->out = ops_xasprintf("%s/launch.json", s->rundir);
	l->err = ops_xasprintf("%s/launch.err", s->rundir);
	pid = ops_spawn_detached(argv, l->out, l->err, why, sizeof(why));
	if (pid < 0) {
		l->pid = 0;
		l->n--;
		pthread_mutex_unlock(&s->lock);
		ops_httpd_warnx("%s", why);
		return page_say(req, who, 500, "Collecte Gmail", "bad", why,
		    "/admin/receipts");
	}
	l->pid = pid;
	l->done = 0;
	l->status = 0;
	l->dry = isdry;
	l->max = n;
	l->started = ops_now();
	pthread_mutex_unlock(&s->lock);
	{
		const char *const loc[] = { "Location", "/admin/receipts",
			"Cache-Control", "no-store", NULL };
		return ops_httpd_reply(req, 303, "text/plain; charset=utf-8",
		    "303 See Other\n", 14, 1, loc);
	}
}

/* ---------------------------------------------------------------- drafts */

static void
draft_row(struct server *s, struct ops_buf *b, yajl_val d, const char *who)
{
	const char *id = ops_json_str(d, "draft_id");
	const char *st = ops_json_str(d, "status");
	const char *body = ops_json_str(d, "body");
	const char *html = ops_json_str(d, "html");
	const char *sha = ops_json_str(d, "sha256");
	const char *err = ops_json_str(d, "last_error");

	if (id == NULL)
		return;
	ops_buf_addstr(b, "<tr class=\"draft\" id=\"draft-");
	ops_html_esc(b, id);
	ops_buf_addstr(b, "\"><td>");
	add_date(b, ops_json_str(d, "created_at"));
	ops_buf_addstr(b, "</td><td>");
	ops_html_esc(b, ops_json_str(d, "to") ? ops_json_str(d, "to") : "");
	ops_buf_addstr(b, "</td><td><details><summary>");
	ops_html_esc(b, ops_json_str(d, "subject") ?
	    ops_json_str(d, "subject") : "(sans objet)");
	ops_buf_addstr(b, "</summary><pre>");
	ops_html_esc(b, body != NULL ? body : "");
	if (html != NULL && *html != '\0') {
		ops_buf_addstr(b, "</pre><p>HTML (source) :</p><pre>");
		ops_html_esc(b, html);
	}
	ops_buf_addstr(b, "</pre></details>");
	if (err != NULL) {
		ops_buf_addstr(b, "<p class=\"note bad\">");
		ops_html_esc(b, err);
		ops_buf_addstr(b, "</p>");
	}
	ops_buf_addstr(b, "</td><td class=\"status\">");
	ops_html_esc(b, st != NULL ? st : "?");
	ops_buf_addstr(b, "</td><td>");
	if (st != NULL && strcmp(st, "pending") == 0 && sha != NULL) {
		/* The hash of what the reviewer read: a draft changed since
		 * is not sent. */
		ops_buf_addstr(b, "<form method=\"post\" action=\"/drafts/send\">");
		csrf_field(s, b, who);
		ops_buf_addstr(b, "<input type=\"hidden\" name=\"draft_id\" "
		    "value=\"");
		ops_html_esc(b, id);
		ops_buf_addstr(b, "\"><input type=\"hidden\" name=\"sha256\" "
		    "value=\"");
		ops_html_esc(b, sha);
		ops_buf_addstr(b, "\"><button type=\"submit\">Envoyer</button>"
		    "</form><form method=\"post\" action=\"/drafts/reject\">");
		csrf_field(s, b, who);
		ops_buf_addstr(b, "<input type=\"hidden\" name=\"draft_id\" "
		    "value=\"");
		ops_html_esc(b, id);
		ops_buf_addstr(b, "\"><button type=\"submit\" class=\"danger\">"
		    "Rejeter</button></form>");
	}
	ops_buf_addstr(b, "</td></tr>\n");
}

static int
wants_json(struct ops_httpd_req *req)
{
	const char *f = ops_httpd_query(req, "format");
	const char *acc = ops_httpd_header(req, "Accept");

	if (f != NULL)
		return strcmp(f, "json") == 0;
	return acc != NULL && strstr(acc, "application/json") != NULL &&
	    strstr(acc, "text/html") == NULL;
}

static int
drafts_page(struct server *s, struct ops_httpd_req *req, const char *who)
{
	static const char *const jh[] = { "Cache-Control", "no-store", NULL };
	const char *status = ops_httpd_query(req, "status");
	char *argv[] = { "mail-send", "--list", NULL, NULL, NULL };
	char why[512], err[256], *out, *line, *next;
	struct ops_buf b;
	yajl_val d;
	int rc, rows = 0;

	if (status != NULL && *status != '\0') {
		if (strspn(status, "abcdefghijklmnopqrstuvwxyz_") !=
		    strlen(status))
			return ops_httpd_error(req, 400);
		argv[2] = "--status";
		argv[3] = (char *)status;
	}
	out = run_tool(argv, TOOL_TIMEOUT, LIST_CAP, why, sizeof(why));
	if (wants_json(req)) {
		if (out == NULL)
			return ops_httpd_error(req, 500);
		rc = ops_httpd_reply(req, 200, "application/x-ndjson", out,
		    strlen(out), 0, jh);
		free(out);
		return rc;
	}
	ops_buf_init(&b, 0);
	page_begin(&b, "Brouillons", who, 0);
	if (out == NULL) {
		ops_buf_addstr(&b, "<p class=\"note bad\">");
		ops_html_esc(&b, why);
		ops_buf_addstr(&b, "</p>");
		return page_end(req, &b, 500);
	}
	ops_buf_addstr(&b, "<p>Filtre : <a href=\"/drafts?status=pending\">"
	    "en attente</a> · <a href=\"/drafts?status=sent\">envoyés</a> · "
	    "<a href=\"/drafts?status=rejected\">rejetés</a> · "
	    "<a href=\"/drafts\">tous</a></p>\n<table id=\"drafts\"><thead><tr>"
	    "<th>Créé</th><th>À</th><th>Objet</th><th>Statut</th><th></th>"
	    "</tr></thead><tbody>\n");
	for (line = out; *line != '\0'; line = next) {
		next = line + strcspn(line, "\n");
		if (*next == '\n')
			*next++ = '\0';
		if ((d = ops_json_parse(line, err, sizeof(err))) == NULL)
			continue;
		if (YAJL_IS_OBJECT(d)) {
			draft_row(s, &b, d, who);
			rows++;
		}
		yajl_tree_free(d);
	}
	ops_buf_addstr(&b, "</tbody></table>\n");
	if (rows == 0)
		ops_buf_addstr(&b, "<p id=\"no-drafts\">Aucun brouillon.</p>\n");
	free(out);
	return page_end(req, &b, 200);
}

/* POST /drafts/send and /drafts/reject, from the drafts page. */
static int
draft_action(struct server *s, struct ops_httpd_req *req, const char *who,
    int send)
{
	char *id = ops_httpd_form(req->body, req->body_len, "draft_id");
	char *sha = ops_httpd_form(req->body, req->body_len, "sha256");
	char *argv[6], why[512], err[256], text[1024];
	const char *ok, *e;
	struct ops_spawn_result res;
	yajl_val v = NULL;
	int rc, good = 0;

	(void)s;
	if (id == NULL || (send && sha == NULL)) {
		free(id);
		free(sha);
		return page_say(req, who, 400, "Brouillons", "bad",
		    "Requête incomplète.", "/drafts");
	}
	argv[0] = "mail-send";
	argv[1] = send ? "--send-draft" : "--reject";
	argv[2] = id;
	argv[3] = send ? "--expect-sha256" : NULL;
	argv[4] = send ? sha : NULL;
	argv[5] = NULL;
	if (ops_spawn_run(argv, NULL, 0, 1 << 20, SEND_TIMEOUT, &res) != 0) {
		snprintf(text, sizeof(text), "%s", res.why);
	} else {
		res.out[strcspn(res.out, "\n")] = '\0';
		v = ops_json_parse(res.out, err, sizeof(err));
		ok = v != NULL ? ops_json_str(v, "status") : NULL;
		e = v != NULL ? ops_json_str(v, "error") : NULL;
		good = res.status == 0 && ok != NULL && strcmp(ok, "ok") == 0;
		if (good && send)
			snprintf(text, sizeof(text), "Brouillon %s envoyé "
			    "(message Gmail %s).", id,
			    ops_json_str(v, "message_id") ?
			    ops_json_str(v, "message_id") : "?");
		else if (good)
			snprintf(text, sizeof(text), "Brouillon %s rejeté.", id);
		else
			snprintf(text, sizeof(text), "Échec : %s", e != NULL ? e :
			    (snprintf(why, sizeof(why), "mail-send exited %d",
			    res.status), why));
	}
	yajl_tree_free(v);
	ops_spawn_result_free(&res);
	free(id);
	free(sha);
	rc = page_say(req, who, good ? 200 : 409, "Brouillons", good ? "ok" :
	    "bad", text, "/drafts");
	return rc;
}

/* ---------------------------------------------------------------- API */

static int
api_answer(struct ops_httpd_req *req, unsigned int status, const char *json)
{
	static const char *const h[] = { "Cache-Control", "no-store", NULL };

	return ops_httpd_reply(req, status, "application/json", json,
	    strlen(json), 0, h);
}

static int
api_error(struct ops_httpd_req *req, unsigned int status, const char *why)
{
	struct ops_jw *w = ops_jw_new();
	size_t len;
	int rc;

	ops_jw_open(w);
	ops_jw_str(w, "status", "error");
	ops_jw_str(w, "error", why);
	ops_jw_close(w);
	rc = api_answer(req, status, ops_jw_text(w, &len));
	ops_jw_free(w);
	return rc;
}

/* mail-send's exit status as an HTTP status (its answer says why). */
static unsigned int
http_status(int code)
{
	switch (code) {
	case OPS_EX_OK:		return 200;
	case OPS_EX_PARTIAL:	return 422;
	case OPS_EX_TEMPFAIL:	return 409;
	case OPS_EX_NOPERM:	return 502;
	case OPS_EX_UNAVAILABLE: return 503;
	default:		return 500;
	}
}

/* POST / and POST /send-draft: one request line for mail-send. */
static int
api(struct ops_httpd_req *req, int send_draft)
{
	const char *ct = ops_httpd_header(req, "Content-Type");
	char *const argv[] = { "mail-send", NULL };
	struct ops_spawn_result res;
	char err[512], *line;
	struct ops_jw *w;
	yajl_val v;
	size_t n, len;
	int rc, has_id;

	/* A cross-site form cannot send application/json: with it, the API
	 * needs no CSRF token. */
	if (ct == NULL || strncasecmp(ct, "application/json", 16) != 0 ||
	    (ct[16] != '\0' && ct[16] != ';' && ct[16] != ' '))
		return api_error(req, 415, "Content-Type must be "
		    "application/json");
	if (req->body == NULL || req->body_len == 0 ||
	    strlen(req->body) != req->body_len)
		return api_error(req, 400, "the body must be a JSON object");
	v = ops_json_parse(req->body, err, sizeof(err));
	if (v == NULL || !YAJL_IS_OBJECT(v)) {
		yajl_tree_free(v);
		return api_error(req, 400, "the body must be a JSON object");
	}
	has_id = ops_json_get(v, "draft_id") != NULL;
	if (send_draft && !has_id) {
		yajl_tree_free(v);
		return api_error(req, 400, "draft_id is required");
	}
	if (!send_draft && has_id) {
		yajl_tree_free(v);
		return api_error(req, 400, "draft_id: send a draft with POST "
		    "/send-draft");
	}
	/* One line for mail-send's stream mode, whatever the layout. */
	w = ops_jw_new();
	ops_jw_value(w, v);
	yajl_tree_free(v);
	line = ops_xasprintf("%s\n", ops_jw_text(w, &len));
	ops_jw_free(w);
	rc = ops_spawn_run(argv, line, strlen(line), 1 << 20, SEND_TIMEOUT,
	    &res);
	free(line);
	if (rc != 0) {
		ops_httpd_warnx("%s", res.why);
		rc = api_error(req, 500, res.why);
		ops_spawn_result_free(&res);
		return rc;
	}
	n = strcspn(res.out, "\n");
	res.out[n] = '\0';
	if (n == 0)
		rc = api_error(req, 500, "mail-send gave no answer");
	else
		rc = api_answer(req, http_status(res.status), res.out);
	ops_spawn_result_free(&res);
	return rc;
}

/* ---------------------------------------------------------------- routes */

static int
unauthorized(struct server *s, struct ops_httpd_req *req)
{
	const char *h[8];
	int i = 0, sch = ops_httpauth_schemes(s->auth);

	if (sch & OPS_HTTPAUTH_BASIC) {
		h[i++] = "WWW-Authenticate";
		h[i++] = "Basic realm=\"gmail-ops\", charset=\"UTF-8\"";
	}
	if (sch & OPS_HTTPAUTH_BEARER) {
		h[i++] = "WWW-Authenticate";
		h[i++] = "Bearer realm=\"gmail-ops\"";
	}
	h[i++] = "Cache-Control";
	h[i++] = "no-store";
	h[i] = NULL;
	return ops_httpd_reply(req, 401, "text/plain; charset=utf-8",
	    "401 Unauthorized\n", 17, 1, h);
}

static int
not_allowed(struct ops_httpd_req *req, const char *allow)
{
	const char *const h[] = { "Allow", allow, "Cache-Control", "no-store",
		NULL };

	return ops_httpd_reply(req, 405, "text/plain; charset=utf-8",
	    "405 Method Not Allowed\n", 23, 1, h);
}

/* A form's origin: no Origin header (older clients), or this host. */
static int
same_origin(struct ops_httpd_req *req)
{
	const char *o = ops_httpd_header(req, "Origin");
	const char *host = ops_httpd_header(req, "Host");
	const char *p;

	if (o == NULL)
		return 1;
	if (host == NULL || (p = strstr(o, "://")) == NULL)
		return 0;
	return strcmp(p + 3, host) == 0;
}

static int
form_ok(struct server *s, struct ops_httpd_req *req, const char *who)
{
	char *tok;
	int ok;

	if (!same_origin(req))
		return 0;
	tok = req->body != NULL ? ops_httpd_form(req->body, req->body_len,
	    "csrf") : NULL;
	ok = ops_httpauth_csrf_ok(s->auth, who, tok, ops_now());
	free(tok);
	return ok;
}

static int
answer(struct ops_httpd_req *req, void *arg)
{
	struct server *s = arg;
	const char *path = req->path, *m = req->method;
	char who[OPS_HTTPAUTH_WHO];
	int get = strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0;
	int post = strcmp(m, "POST") == 0;

	if (!ops_httpauth_check(s->auth, ops_httpd_header(req,
	    "Authorization"), who, sizeof(who)))
		return unauthorized(s, req);

	if (strcmp(path, "/") == 0) {
		if (post)
			return api(req, 0);
		if (get) {
			const char *const loc[] = { "Location",
				"/admin/receipts", NULL };
			return ops_httpd_reply(req, 303,
			    "text/plain; charset=utf-8", "303 See Other\n", 14,
			    1, loc);
		}
		return not_allowed(req, "GET, HEAD, POST");
	}
	if (strcmp(path, "/send-draft") == 0)
		return post ? api(req, 1) : not_allowed(req, "POST");
	if (strcmp(path, "/admin/receipts") == 0)
		return get ? admin_page(s, req, who) :
		    not_allowed(req, "GET, HEAD");
	if (strcmp(path, "/admin/receipts/collect") == 0) {
		if (!post)
			return not_allowed(req, "POST");
		if (!form_ok(s, req, who))
			return page_say(req, who, 403, "Collecte Gmail", "bad",
			    "Jeton CSRF absent ou périmé : rechargez la page.",
			    "/admin/receipts");
		return collect(s, req, who);
	}
	if (strncmp(path, "/admin/logs/", 12) == 0)
		return get ? serve_log(s, req, path + 12) :
		    not_allowed(req, "GET, HEAD");
	if (strcmp(path, "/drafts") == 0)
		return get ? drafts_page(s, req, who) :
		    not_allowed(req, "GET, HEAD");
	if (strcmp(path, "/drafts/send") == 0 ||
	    strcmp(path, "/drafts/reject") == 0) {
		if (!post)
			return not_allowed(req, "POST");
		if (!form_ok(s, req, who))
			return page_say(req, who, 403, "Brouillons", "bad",
			    "Jeton CSRF absent ou périmé : rechargez la page.",
			    "/drafts");
		return draft_action(s, req, who, path[8] == 's');
	}
	return ops_httpd_error(req, 404);
}

/* ---------------------------------------------------------------- setup */

/* The tools beside this binary come first in PATH; the driver from the
 * source tree's scripts/ last. */
static void
set_path(void)
{
	char exe[PATH_MAX], *dir, *p, *scripts;
	const char *old = getenv("PATH");
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	if (n <= 0)
		return;
	exe[n] = '\0';
	dir = ops_dirname(exe);
	scripts = ops_xasprintf("%s/../scripts", dir);
	p = ops_xasprintf("%s:%s:%s", dir, old != NULL ? old :
	    "/usr/bin:/bin", scripts);
	setenv("PATH", p, 1);
	free(p);
	free(scripts);
	free(dir);
}

/* -c and -o reach the tools started here through the environment. */
static void
pass_config(const struct ops_cli *cli)
{
	char name[128];
	const char *eq;
	int i;

	if (cli->cfgfile != NULL)
		setenv("GMAIL_OPS_CONFIG", cli->cfgfile, 1);
	for (i = 0; i < cli->n; i++) {
		if (cli->key[i] != NULL || (eq = strchr(cli->val[i], '=')) ==
		    NULL || (size_t)(eq - cli->val[i]) > 64)
			continue;
		snprintf(name, sizeof(name), "OPS_GMAIL_COLLECT_%.*s",
		    (int)(eq - cli->val[i]), cli->val[i]);
		setenv(name, eq + 1, 1);
	}
}

/* --hash-password: the password from standard input (no echo on a
 * terminal), never from the command line. */
static int
hash_password(unsigned long iter)
{
	struct termios t, quiet;
	char pw[1024], *h;
	int tty = isatty(0) && tcgetattr(0, &t) == 0;
	size_t n;

	if (tty) {
		fprintf(stderr, "Password: ");
		quiet = t;
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		(void)tcsetattr(0, TCSAFLUSH, &quiet);
	}
	if (fgets(pw, sizeof(pw), stdin) == NULL)
		*pw = '\0';
	if (tty) {
		(void)tcsetattr(0, TCSAFLUSH, &t);
		fputc('\n', stderr);
	}
	n = strcspn(pw, "\r\n");
	pw[n] = '\0';
	if (n == 0)
		ops_die(OPS_EX_DATAERR, "no password on standard input");
	h = ops_pbkdf2_hash(pw, iter);
	memset(pw, 0, sizeof(pw));
	if (h == NULL)
		ops_die(OPS_EX_SOFTWARE, "cannot hash the password");
	printf("%s\n", h);
	free(h);
	return ops_close_stdout();
}

static int
serve(struct server *s, const char *listen)
{
	struct ops_httpd_opts o;
	struct ops_httpd *h;
	struct ops_jw *w;
	int sig;

	memset(&o, 0, sizeof(o));
	o.listen = listen;
	o.max_body = MAX_BODY;
	o.timeout = 60;
	o.max_conns = 64;
	o.handler = answer;
	o.arg = s;
	h = ops_httpd_listen(&o);
	w = ops_jw_new();
	sig = ops_httpd_wait();
	ops_httpd_stop(h);
	ops_jw_open(w);
	ops_jw_str(w, "status", "stopped");
	ops_jw_str(w, "signal", sig == SIGINT ? "INT" : "TERM");
	ops_jw_close(w);
	(void)ops_jw_emit(w, stdout);
	ops_jw_free(w);
	return OPS_EX_OK;
}

int
main(int argc, char *argv[])
{
	enum { O_HASH = 0x100, O_ITER };
	static const struct option longopts[] = {
		OPS_CLI_LONGOPTS,
		{ "hash-password", no_argument, NULL, O_HASH },
		{ "iterations", required_argument, NULL, O_ITER },
		{ NULL, 0, NULL, 0 }
	};
	const char *listen = DEFAULT_LISTEN;
	unsigned long iter = DEFAULT_ITER;
	struct ops_cli cli = { 0 };
	struct ops_config *c;
	struct server s;
	char err[512], *var, *end;
	int ch, rc, hash = 0, server_opts = 0, iter_set = 0;

	ops_setprogname(argv[0]);
	while ((ch = getopt_long(argc, argv, "c:hl:o:", longopts, NULL)) !=
	    -1) {
		if (ops_cli_option(&cli, ch, optarg)) {
			server_opts = 1;
			continue;
		}
		switch (ch) {
		case 'l':
			listen = optarg;
			server_opts = 1;
			break;
		case O_HASH:
			hash = 1;
			break;
		case O_ITER:
			errno = 0;
			iter = strtoul(optarg, &end, 10);
			if (*optarg == '\0' || *end != '\0' || errno != 0 ||
			    iter < 1000 || iter > 10000000) {
				ops_warnx("--iterations %s: from 1000 to "
				    "10000000", optarg);
				usage(0);
			}
			iter_set = 1;
			break;
		case 'h':
			usage(1);
			break;
		default:
			usage(0);
		}
	}
	if (argc != optind || (hash && server_opts) || (iter_set && !hash))
		usage(0);
	if (hash)
		return hash_password(iter);

	c = ops_cli_config(&cli);
	memset(&s, 0, sizeof(s));
	s.auth = ops_httpauth_open(ops_config_path(c, "HTTPD_USERS_FILE"),
	    ops_config_path(c, "HTTPD_TOKEN_FILE"), err, sizeof(err));
	if (s.auth == NULL)
		ops_die(OPS_EX_CONFIG, "%s", err);
	var = ops_path_join(ops_config_path(c, "BASE_DIR"), "var");
	s.lockpath = ops_xasprintf("%s/locks/collect_from_gmail.lock", var);
	s.logdir = ops_xasprintf("%s/logs/ops", var);
	s.rundir = ops_xasprintf("%s/run/ops-httpd", var);
	if (ops_mkdirs(s.rundir, 0700) != 0)
		ops_dief(OPS_EX_IOERR, "%s", s.rundir);
	(void)chmod(s.rundir, 0700);
	s.max_default = (long)ops_config_int(c, "MAX_ATTACH_PER_RUN");
	if (s.max_default < 1 || s.max_default > MAX_MAX)
		s.max_default = 200;
	/* A real run needs a dry run of the same configuration first: the
	 * switch starts on. */
	s.dry_default = 1;
	pthread_mutex_init(&s.lock, NULL);
	pthread_mutex_init(&s.est_lock, NULL);
	set_path();
	pass_config(&cli);

	rc = serve(&s, listen);

	pthread_mutex_destroy(&s.lock);
	pthread_mutex_destroy(&s.est_lock);
	ops_httpauth_free(s.auth);
	free(s.launch.out);
	free(s.launch.err);
	free(s.lockpath);
	free(s.logdir);
	free(s.rundir);
	free(var);
	ops_config_free(c);
	ops_close_stdout();
	return rc;
}
