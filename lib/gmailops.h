/* gmailops.h: the one public header of libgmailops, shared by every tool. */
#ifndef GMAILOPS_H
#define GMAILOPS_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <stdio.h>
#include <time.h>

#include <yajl/yajl_tree.h>

#define OPS_VERSION "0.1.0"

/* Exit codes: one table for the whole suite (gmail-ops(7) EXIT STATUS). */
#define OPS_EX_OK          0	/* success */
#define OPS_EX_PARTIAL     1	/* finished, but some records failed */
#define OPS_EX_USAGE       2	/* bad command line */
#define OPS_EX_DATAERR    65	/* bad input data */
#define OPS_EX_UNAVAILABLE 69	/* service unavailable after retries */
#define OPS_EX_SOFTWARE   70	/* internal error (out of memory, bug) */
#define OPS_EX_IOERR      74	/* local I/O error (disk full, write error) */
#define OPS_EX_TEMPFAIL   75	/* temporary: lock held, retry later */
#define OPS_EX_NOPERM     77	/* permission or authorisation */
#define OPS_EX_CONFIG     78	/* configuration */

/* diag.c: one message format, "prog: what: why". */
extern const char *ops_progname;
extern void (*ops_diag_hook)(const char *msg);	/* sees every warning */
extern void (*ops_pipe_hook)(void);	/* last words when stdout's reader
					 * is gone (SIGPIPE ignored) */
void	 ops_reader_gone(void) __attribute__((noreturn));	/* dies of SIGPIPE */
void	 ops_setprogname(const char *argv0);
void	 ops_warnx(const char *fmt, ...)
	    __attribute__((format(printf, 1, 2)));
void	 ops_warn(const char *fmt, ...)		/* appends ": strerror(errno)" */
	    __attribute__((format(printf, 1, 2)));
void	 ops_die(int code, const char *fmt, ...)
	    __attribute__((noreturn, format(printf, 2, 3)));
void	 ops_dief(int code, const char *fmt, ...)	/* with strerror(errno) */
	    __attribute__((noreturn, format(printf, 2, 3)));
void	 ops_vwarnx(const char *fmt, va_list ap);
void	*ops_xmalloc(size_t n);			/* caller frees; dies on ENOMEM */
void	*ops_xrealloc(void *p, size_t n);
char	*ops_xstrdup(const char *s);		/* caller frees */
char	*ops_xasprintf(const char *fmt, ...)	/* caller frees */
	    __attribute__((format(printf, 1, 2)));
int	 ops_close_stdout(void);		/* 0, or warns and returns OPS_EX_IOERR */
/* Formats a reason into errmsg for the caller to report; returns -1. */
int	 ops_errf(char *errmsg, size_t errlen, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));

/* buf.c: growable byte buffer with a hard cap (curl's dynbuf). */
struct ops_buf {
	char	*data;		/* always NUL-terminated when non-NULL */
	size_t	 len;
	size_t	 size;
	size_t	 cap;		/* maximum len; 0 = OPS_BUF_DEFAULT_CAP */
};
#define OPS_BUF_DEFAULT_CAP ((size_t)256 << 20)
void	 ops_buf_init(struct ops_buf *b, size_t cap);
int	 ops_buf_add(struct ops_buf *b, const void *p, size_t n); /* -1: cap */
int	 ops_buf_addstr(struct ops_buf *b, const char *s);
int	 ops_buf_addf(struct ops_buf *b, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
void	 ops_buf_reset(struct ops_buf *b);	/* len = 0, keeps memory */
void	 ops_buf_free(struct ops_buf *b);
char	*ops_buf_steal(struct ops_buf *b);	/* caller frees; b emptied */

/* digest.c: hex and SHA-256. out holds 2 n + 1 bytes; 65 for a digest. */
void	 ops_hex(const void *p, size_t n, char *out);
void	 ops_sha256_hex(const void *p, size_t n, char out[65]);

/* b64.c: base64 and base64url, with or without padding. */
char	*ops_b64url_encode(const void *p, size_t n);	/* caller frees, no '=' */
char	*ops_b64_encode(const void *p, size_t n);	/* caller frees, '=' */
/* Decodes either alphabet, padding optional; NULL on bad input. */
unsigned char *ops_b64_decode(const char *s, size_t slen, size_t *outlen);
/* The same without a copy: spaces and line breaks in s are dropped (s is
 * changed), and the bytes written to out, which may be s or lie before
 * it in the same buffer. 0, or -1 on bad input. */
int	 ops_b64_decode_to(char *s, size_t slen, unsigned char *out,
	    size_t *outlen);
/* Streaming MIME base64: characters outside the alphabet are skipped, '='
 * ends the data, a group cut short at the end keeps its whole bytes.
 * A step writes at most len / 4 * 3 + 6 bytes, the end at most 2. */
struct ops_b64_dec {
	unsigned long	 bits;
	int		 n;
};
void	 ops_b64_dec_init(struct ops_b64_dec *d);
size_t	 ops_b64_dec_step(struct ops_b64_dec *d, const void *in, size_t len,
	    unsigned char *out);
size_t	 ops_b64_dec_end(struct ops_b64_dec *d, unsigned char *out);
char	*ops_urlencode(const char *s);			/* caller frees */
int	 ops_hexval(int c);		/* a hex digit's value, or -1 */
int	 ops_random_bytes(void *p, size_t n);		/* 0 or -1 */
char	*ops_random_token(size_t nbytes);		/* b64url, caller frees */

/* json.c: yajl helpers. Returned pointers borrow from the tree. */
yajl_val ops_json_parse(const char *text, char *err, size_t errlen);
yajl_val ops_json_get(yajl_val obj, const char *key);	/* any type */
const char *ops_json_str(yajl_val obj, const char *key);	/* NULL if !string */
int	 ops_json_int(yajl_val obj, const char *key, long long *out); /* 0 ok */
int	 ops_json_bool(yajl_val obj, const char *key, int *out);	/* 0 ok */
/* Where the string value of a top-level key of the object in text lies,
 * when it is there as is (no escapes): 0 and its offset and length; -1
 * when not, or text is not one valid JSON value. The first such key. */
int	 ops_json_find_str(const char *text, size_t len, const char *key,
	    size_t *off, size_t *vlen);

/* jw.c: JSON writer: one compact object per line. */
struct ops_jw;
struct ops_jw *ops_jw_new(void);		/* caller ops_jw_free()s */
void	 ops_jw_free(struct ops_jw *w);
void	 ops_jw_open(struct ops_jw *w);		/* { */
void	 ops_jw_close(struct ops_jw *w);	/* } */
void	 ops_jw_key(struct ops_jw *w, const char *key);
void	 ops_jw_str(struct ops_jw *w, const char *key, const char *val); /* NULL: null */
void	 ops_jw_strn(struct ops_jw *w, const char *key, const char *val, size_t n);
void	 ops_jw_int(struct ops_jw *w, const char *key, long long val);
void	 ops_jw_double(struct ops_jw *w, const char *key, double val);
void	 ops_jw_bool(struct ops_jw *w, const char *key, int val);
void	 ops_jw_null(struct ops_jw *w, const char *key);
void	 ops_jw_array_open(struct ops_jw *w, const char *key);
void	 ops_jw_array_close(struct ops_jw *w);
void	 ops_jw_value(struct ops_jw *w, yajl_val v);	/* copies a parsed value */
/* An array of the space-separated words of s (scopes). */
void	 ops_jw_words(struct ops_jw *w, const char *key, const char *s);
int	 ops_jw_failed(const struct ops_jw *w);	/* a generator error happened */
/* The text so far (borrowed, valid until the next call), then reset. */
const char *ops_jw_text(struct ops_jw *w, size_t *len);
void	 ops_jw_reset(struct ops_jw *w);
/* Writes the object and "\n" to fp, flushes, resets; -1 on error. */
int	 ops_jw_emit(struct ops_jw *w, FILE *fp);
/* The same without the flush, for a record more of the same unit follow. */
int	 ops_jw_put(struct ops_jw *w, FILE *fp);

/* ndjson.c: reads NDJSON records of any length, memory bounded per line. */
struct ops_ndjson;
#define OPS_NDJSON_MAX_LINE ((size_t)128 << 20)
/* fp's descriptor is read directly (records stream through pipes), so
 * nothing may have been read from fp through stdio before. */
struct ops_ndjson *ops_ndjson_open(FILE *fp, const char *name, size_t maxline);
/* The same over a reader that returns what there is (a count, 0 at the
 * end, -1/errno), as read(2) does. */
struct ops_ndjson *ops_ndjson_open_reader(ssize_t (*rd)(void *arg, char *buf,
	    size_t size), void *arg, const char *name, size_t maxline);
/* 1: *out is an object (caller yajl_tree_free()s); 0: end; -1: read error.
 * Bad lines are reported as "prog: NAME: line N: why" and counted. */
int	 ops_ndjson_next(struct ops_ndjson *r, yajl_val *out);
/* The same, a line at a time: 1 with the next line that may hold a record
 * (not blank, within the cap, no NUL byte) in *line, NUL-terminated and
 * borrowed until the next call; 0: end; -1: read error. */
int	 ops_ndjson_next_line(struct ops_ndjson *r, char **line, size_t *len);
/* The line last returned, the caller's to free(); the reader reads the
 * next one into a new buffer. */
char	*ops_ndjson_take_line(struct ops_ndjson *r);
/* "prog: NAME: line N: why" for the line last read, counted as bad. */
void	 ops_ndjson_bad_line(struct ops_ndjson *r, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
unsigned long ops_ndjson_lineno(const struct ops_ndjson *r);
unsigned long ops_ndjson_bad(const struct ops_ndjson *r);
void	 ops_ndjson_close(struct ops_ndjson *r);

/* fsutil.c: directories, atomic writes, private files. */
int	 ops_mkdirs(const char *path, int mode);		/* 0 or -1/errno */
/* Writes data to dir/name through a temp file in dir, fsync, rename,
 * fsync(dir). O_EXCL|O_NOFOLLOW, given mode. 0 or -1/errno. */
int	 ops_write_atomic(const char *path, const void *data, size_t len,
	    int mode);
/* Reads a whole regular file, at most cap bytes; with nofollow never
 * through a symlink. Caller frees. NULL/errno on error (EFBIG: over cap). */
char	*ops_read_file(const char *path, size_t cap, size_t *len, int nofollow);
/* 0 if path is a regular file and not group/world accessible; else -1
 * and *why (static) says why. */
int	 ops_check_private(const char *path, const char **why);
char	*ops_path_join(const char *a, const char *b);	/* caller frees */
char	*ops_dirname(const char *path);			/* caller frees */

/* timeutil.c */
void	 ops_iso8601(time_t t, char *out, size_t outlen);	/* ...Z */
void	 ops_iso8601_ms(double t, char *out, size_t outlen);
int	 ops_parse_rfc3339(const char *s, double *out);	/* 0 ok */
double	 ops_now(void);				/* wall clock, seconds */
double	 ops_monotonic(void);
void	 ops_sleep(double seconds);

/* config.c: KEY=value file < OPS_GMAIL_COLLECT_<KEY> env < flags. */
enum ops_origin { OPS_ORIGIN_DEFAULT, OPS_ORIGIN_FILE, OPS_ORIGIN_ENV,
	OPS_ORIGIN_FLAG };
struct ops_config;
#define OPS_ENV_PREFIX "OPS_GMAIL_COLLECT_"
/* Loads the file (path NULL: $GMAIL_OPS_CONFIG, else etc/gmail-ops.conf
 * if present), then the environment. Dies 78 on a bad file or value. */
struct ops_config *ops_config_load(const char *path);
void	 ops_config_free(struct ops_config *c);
/* A flag: "KEY=value" (as -o takes) or key and value. Dies 78 if bad. */
void	 ops_config_set_flag(struct ops_config *c, const char *key,
	    const char *value);
void	 ops_config_set_opt(struct ops_config *c, const char *kv);
/* Borrowed strings, valid until the config is freed or the key set again. */
const char *ops_config_str(const struct ops_config *c, const char *key);
long long ops_config_int(const struct ops_config *c, const char *key);
int	 ops_config_bool(const struct ops_config *c, const char *key);
/* List: NULL-terminated, borrowed. */
char *const *ops_config_list(const struct ops_config *c, const char *key);
enum ops_origin ops_config_origin(const struct ops_config *c, const char *key);
const char *ops_config_file(const struct ops_config *c);	/* or NULL */
/* Absolute paths derived from BASE_DIR; borrowed. */
const char *ops_config_path(const struct ops_config *c, const char *key);
/* Writes every key as KEY=value # origin (secrets are never values). */
void	 ops_config_dump(const struct ops_config *c, FILE *fp);
/* var/<sub> under BASE_DIR: caller frees. */
char	*ops_config_var(const struct ops_config *c, const char *sub);
/* The scopes to request: SCOPES if set, else derived from the options. */
char	*ops_config_scopes(const struct ops_config *c);	/* caller frees */

/* cli.c: the options every tool shares: -c file, -o key=value (and a
 * tool's flags that set a key), --version. */
#define OPS_CLI_MAXOPTS	 32
#define OPS_OPT_VERSION	 0x1000		/* getopt_long value of --version */
#define OPS_CLI_LONGOPTS \
	{ "help", no_argument, NULL, 'h' }, \
	{ "version", no_argument, NULL, OPS_OPT_VERSION }
struct ops_cli {
	const char	*cfgfile;
	const char	*key[OPS_CLI_MAXOPTS];	/* NULL: val is "KEY=value" */
	const char	*val[OPS_CLI_MAXOPTS];
	int		 n;
};
/* Handles -c, -o and --version (which prints and exits 0): 1 when ch was
 * one of them, else 0. */
int	 ops_cli_option(struct ops_cli *cli, int ch, const char *arg);
void	 ops_cli_flag(struct ops_cli *cli, const char *key, const char *val);
/* The configuration with the flags applied in command-line order. */
struct ops_config *ops_cli_config(const struct ops_cli *cli);

/* log.c: append-only JSONL event log var/logs/ops/<job>-YYYY-MM-DD.jsonl */
struct ops_log;
struct ops_log *ops_log_open(const struct ops_config *c, const char *job);
/* Starts an event: {"ts":..., "event": name, then the caller's fields. */
struct ops_jw *ops_log_begin(struct ops_log *l, const char *event);
int	 ops_log_end(struct ops_log *l);	/* closes, one write(2) */
const char *ops_log_path(const struct ops_log *l);
void	 ops_log_close(struct ops_log *l);
/* The log of the job named by $GMAIL_OPS_LOG (the driver sets it), or
 * NULL when unset. From then on every warning is logged too, as
 * {"event":"warning","prog":...,"message":...}. */
struct ops_log *ops_log_env(const struct ops_config *c);

/* quota.c: Gmail per-method quota units, counters and a token bucket. */
enum ops_quota_regime { OPS_QUOTA_2026, OPS_QUOTA_LEGACY };
struct ops_quota;
struct ops_quota *ops_quota_new(enum ops_quota_regime regime,
	    double limit_per_min);		/* limit 0: the regime's */
void	 ops_quota_free(struct ops_quota *q);
int	 ops_quota_units(enum ops_quota_regime regime, const char *method);
double	 ops_quota_limit(enum ops_quota_regime regime);
/* The discovery method id ("messages.get") for an API path. Static. */
const char *ops_quota_method(const char *http_method, const char *path);
/* Seconds to wait before a call costing units may go (0: now), and takes
 * them when 0. now: a monotonic clock reading. */
double	 ops_quota_reserve(struct ops_quota *q, int units, double now);
void	 ops_quota_count(struct ops_quota *q, const char *method, int units);
long	 ops_quota_calls(const struct ops_quota *q);
long	 ops_quota_total_units(const struct ops_quota *q);
void	 ops_quota_write(const struct ops_quota *q, struct ops_jw *w);

/* http.c: libcurl with retries, backoff, Google errors, bearer auth. */
struct ops_http;
struct ops_auth;
struct ops_http_req {
	const char	*method;	/* "GET", "POST", ... */
	const char	*url;
	const char	*content_type;	/* of body, or NULL */
	const char	*body;
	size_t		 body_len;
	int		 bearer;	/* send the auth's bearer token */
	const char	*token;		/* or this bearer token */
	int		 allow_http;	/* plain http to a non-loopback host
					 * (the metadata server only) */
	const char	*extra_header;	/* one "Name: value" or NULL */
	const char	*quota_method;	/* for counting; NULL: derived */
	size_t		 max_response;	/* 0: OPS_BUF_DEFAULT_CAP */
	int		 once_only;	/* no retry once it may have been
					 * received (a send) */
};
struct ops_http_resp {
	long		 status;	/* 0 when no answer */
	struct ops_buf	 body;
	char		 errmsg[512];	/* user-readable failure, or "" */
	int		 exit_code;	/* suggested exit status on failure */
	char		 reason[64];	/* Google's errors[0].reason */
};
struct ops_http *ops_http_new(const struct ops_config *c, struct ops_auth *a);
void	 ops_http_free(struct ops_http *h);
/* 0: 2xx answer in resp; -1: failure, resp->errmsg says why. The caller
 * calls ops_http_resp_free() either way. */
int	 ops_http_do(struct ops_http *h, const struct ops_http_req *req,
	    struct ops_http_resp *resp);
void	 ops_http_resp_free(struct ops_http_resp *resp);
struct ops_quota *ops_http_quota(struct ops_http *h);	/* borrowed */
/* The Gmail API base URL ($GMAIL_API_URL or the default); static. */
const char *ops_gmail_base(void);
/* Is this URL's host loopback (127/8, ::1, localhost)? */
int	 ops_url_is_loopback(const char *url);
int	 ops_url_is_https(const char *url);
/* Google error JSON → "STATUS (reason): message"; writes into out. */
void	 ops_google_error(const char *body, size_t len, char *out,
	    size_t outlen, char *reason, size_t reasonlen, double *retry_at);
/* Backoff before try n (1-based retry count), in seconds, full jitter. */
double	 ops_backoff(int retry, double base, double cap);
/* The retry engine behind ops_http_do, shared with multi.c so that one
 * request and many in flight follow the same rules: a call is prepared
 * on a libcurl easy handle (a CURL *) for each try, performed by the
 * caller (curl_easy_perform or the multi interface), then judged. */
struct ops_http_call;
enum ops_http_verdict { OPS_HTTP_OK, OPS_HTTP_FAILED, OPS_HTTP_RETRY };
/* Copies req's strings (but token, borrowed). Caller frees. */
struct ops_http_call *ops_http_call_new(struct ops_http *h,
	    const struct ops_http_req *req);
void	 ops_http_call_free(struct ops_http_call *call);
/* Before a try: the token (one forced refresh after a 401), then the
 * quota bucket. 0: easy is set up, perform it; > 0: seconds to wait for
 * the bucket, then prepare again; -1: failed, the response says why. */
double	 ops_http_call_prepare(struct ops_http *h, struct ops_http_call *call,
	    void *easy);
/* After a try that ended with curlcode: OK, FAILED (the response says
 * why), or RETRY after *wait seconds (prepare again then). */
enum ops_http_verdict ops_http_call_judge(struct ops_http *h,
	    struct ops_http_call *call, void *easy, int curlcode, double *wait);
/* Moves the response out: caller ops_http_resp_free()s *out. */
void	 ops_http_call_take(struct ops_http_call *call,
	    struct ops_http_resp *out);

/* auth.c: access tokens for the OAuth user or domain-wide delegation. */
enum ops_auth_mode { OPS_AUTH_USER, OPS_AUTH_SA_KEY, OPS_AUTH_KEYLESS };
struct ops_auth *ops_auth_new(const struct ops_config *c);
void	 ops_auth_free(struct ops_auth *a);
enum ops_auth_mode ops_auth_mode(const struct ops_auth *a);
/* A valid access token (borrowed), refreshing when needed (force: even
 * if not expired). NULL on failure: *exit_code and errmsg say why. */
const char *ops_auth_token(struct ops_auth *a, int force, int *exit_code,
	    char *errmsg, size_t errlen);
/* Token expiry (epoch seconds) and granted scopes (borrowed) as known. */
double	 ops_auth_expiry(const struct ops_auth *a);
const char *ops_auth_scopes(const struct ops_auth *a);
/* The http used for token requests (so they are counted and retried). */
void	 ops_auth_set_http(struct ops_auth *a, struct ops_http *h);
const char *ops_token_path(const struct ops_config *c);	/* static buf */
const char *ops_client_secret_path(const struct ops_config *c);

/* oauth.c: client_secret.json, token.json, token endpoint exchanges. */
struct ops_client {
	char	*client_id, *client_secret, *auth_uri, *token_uri;
};
int	 ops_client_load(const char *path, struct ops_client *cl,
	    char *errmsg, size_t errlen);
void	 ops_client_free(struct ops_client *cl);
struct ops_token {
	char	*token, *refresh_token, *token_uri, *client_id, *client_secret;
	char	*scopes;	/* space separated */
	double	 expiry;	/* epoch seconds, 0 unknown */
};
int	 ops_token_load(const char *path, struct ops_token *t, char *errmsg,
	    size_t errlen);
int	 ops_token_save(const char *path, const struct ops_token *t);
void	 ops_token_free(struct ops_token *t);
/* POST a form to a token endpoint; on success the parsed answer (caller
 * yajl_tree_free()s). On failure NULL, errmsg, *exit_code (77 for
 * invalid_grant and other refusals). */
yajl_val ops_token_request(struct ops_http *h, const char *token_uri,
	    const char *form, int *exit_code, char *errmsg, size_t errlen);
/* Fills t from a token endpoint answer (access_token, expires_in, scope,
 * refresh_token). */
void	 ops_token_update(struct ops_token *t, yajl_val answer);

/* jwt.c: RS256 JWTs for the jwt-bearer grant. */
/* Signs header.claims with a PEM private key: caller frees, NULL on error. */
char	*ops_jwt_sign_rs256(const char *pem_key, const char *kid,
	    const char *claims_json, char *errmsg, size_t errlen);
/* The claims of a jwt-bearer assertion: caller frees. */
char	*ops_jwt_claims(const char *iss, const char *sub, const char *scope,
	    const char *aud, time_t iat);

/* login.c: the installed-app flow: PKCE S256, state, loopback redirect. */
struct ops_login {
	char	 verifier[96];		/* PKCE code_verifier */
	char	 challenge[64];		/* BASE64URL(SHA256(verifier)) */
	char	 state[48];
	char	 redirect_uri[64];	/* http://127.0.0.1:PORT/ */
	int	 fd;			/* listening socket, or -1 */
};
/* listen: bind 127.0.0.1 on a random port; else pick a port for the
 * redirect URI without listening (the paste flow). 0 or -1/errno. */
int	 ops_login_init(struct ops_login *l, int listen);
void	 ops_login_close(struct ops_login *l);
char	*ops_login_url(const struct ops_login *l, const struct ops_client *cl,
	    const char *scopes);			/* caller frees */
/* Waits for the browser's redirect; *code is the authorisation code
 * (caller frees). 0, or -1 with errmsg. */
int	 ops_login_wait(struct ops_login *l, int timeout_sec, char **code,
	    char *errmsg, size_t errlen);
/* Takes the redirect URL (or its query) pasted by the user. */
int	 ops_login_parse(const struct ops_login *l, const char *url,
	    char **code, char *errmsg, size_t errlen);
char	*ops_login_form(const struct ops_login *l, const struct ops_client *cl,
	    const char *code);				/* caller frees */
/* A query parameter's decoded value: caller frees; NULL when absent. */
char	*ops_query_param(const char *query, const char *name);

/* store.c: the receipt store of receipt-store(1): one LMDB environment in
 * var/db with named sub-databases; values are JSON text, ids are 8-byte
 * big-endian keys so they sort. One store per process and one transaction
 * at a time. An LMDB failure other than "not found" or "exists" dies (74,
 * or 75 when busy): every write is crash-safe, so dying is. */
enum ops_db { OPS_DB_RECEIPTS, OPS_DB_KEYS, OPS_DB_SHA256, OPS_DB_LEDGER,
	OPS_DB_JOBRUNS, OPS_DB_PENDING, OPS_DB_META, OPS_DB_COUNT };
struct ops_store;
struct ops_store *ops_store_open(const struct ops_config *c); /* dies */
void	 ops_store_close(struct ops_store *s);
const char *ops_store_var(const struct ops_store *s);	/* BASE_DIR/var */
/* An exclusive flock on var/db/NAME.lock, held until close: 0, or 1 when
 * another process holds it. */
int	 ops_store_lock(struct ops_store *s, const char *name);
void	 ops_store_begin(struct ops_store *s, int write);
void	 ops_store_commit(struct ops_store *s);
/* The database's pages out of this process's resident set (a long run
 * reads ever more of them); at any time, in a transaction or not. Done
 * every 2 calls on the database, and after each commit. */
void	 ops_store_release(struct ops_store *s);
void	 ops_store_abort(struct ops_store *s);
void	 ops_store_idkey(uint64_t id, unsigned char key[8]);
uint64_t ops_store_keyid(const void *key, size_t len);	/* 0: not an id */
/* 0: found, *val a NUL-terminated copy (caller frees; val NULL: just
 * look); 1: not found. */
int	 ops_store_get(struct ops_store *s, enum ops_db db, const void *key,
	    size_t klen, char **val, size_t *vlen);
/* 0: written; 1: key exists and nooverwrite (nothing written). */
int	 ops_store_put(struct ops_store *s, enum ops_db db, const void *key,
	    size_t klen, const void *val, size_t vlen, int nooverwrite);
int	 ops_store_del(struct ops_store *s, enum ops_db db, const void *key,
	    size_t klen);				/* 1: not found */
/* Calls fn for every entry in key order (reverse: last first) until fn
 * returns non-zero, which is returned; 0 at the end. key and val (a
 * NUL-terminated copy) are borrowed for the call. */
int	 ops_store_each(struct ops_store *s, enum ops_db db, int reverse,
	    int (*fn)(void *arg, const void *key, size_t klen, const char *val,
	    size_t vlen), void *arg);
uint64_t ops_store_next_id(struct ops_store *s, const char *seq); /* write */
size_t	 ops_store_count(struct ops_store *s, enum ops_db db);

/* store_map.c: a string → string hash map (run-wide sets). */
struct ops_strmap;
struct ops_strmap *ops_strmap_new(void);
void	 ops_strmap_free(struct ops_strmap *m);
/* 1: added (key and val copied); 0: key already there (unchanged). */
int	 ops_strmap_add(struct ops_strmap *m, const char *key, const char *val);
const char *ops_strmap_get(const struct ops_strmap *m, const char *key);
						/* borrowed; NULL: absent */

/* store_records.c: receipts, JobRuns and ledger rows as JSON. */
struct ops_receipt {			/* strings borrowed; NULL: null */
	uint64_t	 id;
	const char	*source, *msg_key, *gmail_message_id;
	const char	*gmail_attachment_id, *part_id, *original_filename;
	const char	*content_type, *sniffed_type;
	long long	 filesize;
	const char	*sha256, *storage_path, *sender, *subject;
	const char	*received_at, *created_at;
	uint64_t	 job_run_id;
	const char	*state, *reason;
};
void	 ops_receipt_json(struct ops_jw *w, const struct ops_receipt *r);
/* Fills r from a parsed receipt; strings borrow from v. 0, or -1. */
int	 ops_receipt_from_json(yajl_val v, struct ops_receipt *r);
/* Writes receipt, unique key and sha256 index in the write transaction:
 * 0, or 1 when its key or sha256 is already there (nothing written). */
int	 ops_receipt_put(struct ops_store *s, const struct ops_receipt *r);
/* The id recorded for (source, msg_key, part) or for a sha256: 0 and *id,
 * or 1 when none. */
int	 ops_receipt_find(struct ops_store *s, const char *source,
	    const char *msg_key, const char *part, uint64_t *id);
int	 ops_receipt_by_sha(struct ops_store *s, const char *sha256,
	    uint64_t *id);
/* A string field of a receipt, such as storage_path or state (caller
 * frees), or NULL. */
char	*ops_receipt_str(struct ops_store *s, uint64_t id, const char *field);

struct ops_jobrun {
	uint64_t	 id;
	char		 job[64];
	char		 status[16];	/* running, success, partial, failed */
	int		 dry_run;
	double		 started, finished;	/* epoch; finished 0: not yet */
	long long	 emails_scanned, attachments_seen, downloaded, created;
	long long	 duplicates_skipped, quarantined, skipped, errors_count;
	long long	 gmail_api_calls, quota_units;
	char		*config_hash, *log_path;	/* owned, or NULL */
};
int	 ops_jobrun_get(struct ops_store *s, uint64_t id, struct ops_jobrun *j);
						/* 1: none */
int	 ops_jobrun_parse(const char *json, struct ops_jobrun *j); /* 0, -1 */
void	 ops_jobrun_put(struct ops_store *s, const struct ops_jobrun *j);
void	 ops_jobrun_json(struct ops_jw *w, const struct ops_jobrun *j);
void	 ops_jobrun_free(struct ops_jobrun *j);	/* its strings */

struct ops_ledger {
	char		 verdict[16];	/* imported ... error */
	uint64_t	 job_run_id;
	double		 updated;
	long long	 stored, duplicates, quarantined, skipped;
};
int	 ops_ledger_get(struct ops_store *s, const char *msg_key,
	    struct ops_ledger *l);			/* 1: none */
void	 ops_ledger_put(struct ops_store *s, const char *msg_key,
	    const struct ops_ledger *l);
int	 ops_ledger_final(const struct ops_ledger *l);	/* not "error" */

/* store_policy.c: which attachments are stored, quarantined or skipped. */
/* NULL when the sender may deliver receipts, else why (static). */
const char *ops_policy_sender(const struct ops_config *c,
	    const char *sender, yajl_val auth);
/* NULL when the bytes may be stored, else the quarantine reason
 * (caller frees). */
char	*ops_policy_quarantine(const struct ops_config *c, long long size,
	    const char *sniffed_type, const char *defect);
/* The file name extensions of a sniffed type, canonical first, in a
 * static NULL-terminated list; NULL for a type without one. */
const char *const *ops_policy_exts(const char *type);

/* store_files.c: durable receipt files: sanitised names, temp files in
 * the target directory, no symlink ever followed below a storage root. */
/* The original name made safe (caller frees): its last component, no
 * "..", control or bidi characters, no leading dots, dashes or spaces,
 * UTF-8 kept, at most 200 bytes, the sniffed type's extension added when
 * missing; "attachment" when nothing is left. */
char	*ops_store_sanitize(const char *name, const char *sniffed_type);
/* root/date opened as a directory (created 0750 if create), never through
 * a symlink: fd, or -1 with errno (ELOOP: a symlink). */
int	 ops_store_opendir(const char *root, const char *date, int create);
/* A name free in dirfd (-1: none checked) and not in taken under prefix:
 * name, name-2.ext, ...; caller frees; NULL when none is left. */
char	*ops_store_unique(int dirfd, const char *name,
	    const struct ops_strmap *taken, const char *prefix);
/* Moves a spool file (a ".spool-*" regular file of ours) into dirfd as a
 * new fsynced temp file, copying across file systems; checks its sha256
 * and size. 0 and *tmp (caller frees), or -1 with why in err and errno
 * (EINVAL: a file that is not the record's). The spool file is gone
 * either way. */
int	 ops_store_take_spool(int dirfd, const char *spool,
	    const char *sha256, long long size, char **tmp, char *err,
	    size_t errlen);
/* Writes bytes into dirfd as a new fsynced temp file: 0 and *tmp, or -1
 * with why in err and errno. */
int	 ops_store_write_tmp(int dirfd, const void *data, size_t len,
	    char **tmp, char *err, size_t errlen);
/* tmp → final in dirfd, never replacing: 0, 1 (final exists), -1/errno. */
int	 ops_store_publish(int dirfd, const char *tmp, const char *final);
/* sha256 (hex) and size of a regular file in dirfd, never through a
 * symlink: 0, or -1/errno. */
int	 ops_store_hash_file(int dirfd, const char *name, char hex[65],
	    long long *size);
/* Removes the ".tmp-*" files in root and its date directories: count. */
int	 ops_store_sweep(const char *root);
/* Calls fn for every entry of root and of its subdirectories (depth 2),
 * with the path relative to root and the lstat mode. */
int	 ops_store_walk(const char *root, void (*fn)(void *arg,
	    const char *rel, unsigned mode), void *arg);
int	 ops_is_tmp_name(const char *name);		/* ".tmp-*" */

/* store_ingest.c: receipt-store ingest: the policy, the files, the
 * records; messages made durable in batches of up to 32, and a message's
 * results written once it is. */
struct ops_ingest;
/* The crash journal: adopts each pending file that is whole, drops the
 * rest, removes temp files. Number of receipts adopted. */
int	 ops_ingest_recover(struct ops_store *s, const struct ops_config *c);
struct ops_ingest *ops_ingest_new(struct ops_store *s,
	    const struct ops_config *c, uint64_t job, int dry_run,
	    struct ops_log *log, FILE *out);		/* ops_ingest_free() */
/* One input record; lineno for diagnostics. */
void	 ops_ingest_record(struct ops_ingest *g, yajl_val v,
	    unsigned long lineno);
/* Makes the messages read so far durable and writes their results: for
 * when the input has nothing more for now. */
void	 ops_ingest_flush(struct ops_ingest *g);
/* Finishes the open message, counts bad_lines (the reader's) and bad
 * records as the JobRun's errors: the number of failed records. */
long	 ops_ingest_end(struct ops_ingest *g, unsigned long bad_lines);
void	 ops_ingest_free(struct ops_ingest *g);

/* store_verify.c: receipt-store verify: every problem one warning line;
 * their number. */
long	 ops_store_verify(struct ops_store *s, const struct ops_config *c,
	    long *receipts, long *files);

/* mime.c: one raw message's summary and attachment-like parts (GMime);
 * mime_sniff.c: types from magic bytes, end-marker checks; mime_auth.c:
 * Authentication-Results; mime_src.c: RFC 822 files, mbox, Maildir. */
#define OPS_MIME_MAX_DEPTH	 32		/* multipart/message nesting */
#define OPS_MIME_MAX_PARTS	 1000		/* MIME objects per message */
#define OPS_MIME_MAX_DELIMS	 10000		/* raw lines starting "--" */
#define OPS_MIME_MAX_HEADER	 ((size_t)256 << 10)	/* a header block */
#define OPS_MIME_MAX_HEADER_LINE ((size_t)64 << 10)	/* one header line */
#define OPS_MIME_MAX_SIZE	 ((size_t)64 << 20)	/* a raw message */
#define OPS_MIME_MAX_LINKS	 50
#define OPS_MIME_HEAD		 4096		/* bytes kept for sniffing */
#define OPS_MIME_TAIL		 1024		/* bytes kept for end checks */
#define OPS_MIME_AUTHSERV	 "mx.google.com"
struct ops_mime_auth {				/* strings caller-freed */
	char	*authserv, *dkim, *dkim_domain, *spf, *spf_domain;
	char	*dmarc, *dmarc_domain, *from_domain;
};
struct ops_mime_part {				/* an attachment-like part */
	char		*path;			/* IMAP section: "2.1" */
	char		*filename;		/* valid UTF-8, or NULL */
	char		*content_type;		/* "type/subtype", or NULL */
	const char	*disposition;		/* static: "attachment",
						 * "inline" or NULL */
	void		*obj;			/* GMimePart, borrowed */
};
struct ops_mime_msg {				/* strings valid UTF-8 */
	char		 raw_sha256[65];	/* hex */
	char		*message_id, *sender, *sender_name, *subject;
	time_t		 date;			/* Date:, when has_date */
	int		 has_date;
	int		 has_auth;		/* auth filled */
	struct ops_mime_auth auth;
	char		**links;		/* nlinks Drive/Docs URLs */
	size_t		 nlinks;
	struct ops_mime_part *parts;		/* nparts attachments */
	size_t		 nparts;
	char		*error;			/* why refused, or NULL */
	void		*gmsg;			/* GMimeMessage, owned */
	void		*bytes;			/* GByteArray: the raw
						 * message, owned */
};
struct ops_mime_raw {				/* a raw message */
	unsigned char	*data;			/* caller frees; NULL when
						 * larger than the bound */
	size_t		 len;			/* of data */
	uint64_t	 size;			/* bytes seen */
	char		 sha256[65];		/* hex, or "" if not known */
	unsigned long	 n;			/* number in its file, from 1 */
	int		 no_hash;		/* keyed otherwise: no
						 * raw_sha256 (it stays "") */
};
enum ops_mime_out { OPS_MIME_OUT_DATA, OPS_MIME_OUT_SPOOL, OPS_MIME_OUT_NONE };
struct ops_mime_body {				/* a part's decoded bytes */
	uint64_t	 size;
	char		 sha256[65];		/* hex */
	const char	*sniffed;		/* static */
	const char	*defect;		/* static, or NULL */
	char		*spool;			/* caller frees, or NULL */
	char		*data;			/* base64, caller frees */
};
/* Parses raw, taking raw->data (then NULL; kept until m is freed);
 * GMime is initialised on first use. 0, or -1 when refused: m->error
 * says why, m holds what was read of the headers, and raw->data, if any,
 * is still the caller's. The caller ops_mime_free()s m either way. */
int	 ops_mime_parse(struct ops_mime_raw *raw, struct ops_mime_msg *m);
void	 ops_mime_free(struct ops_mime_msg *m);
/* Decodes part p of m in one pass: hash, size, sniff, end checks, and
 * the bytes as base64 (DATA), to a new file .spool-XXXX in spool_dir
 * (SPOOL: O_EXCL|O_NOFOLLOW, 0600, not fsynced), or nowhere (NONE).
 * 0, or -1 with errno (no file left behind). ops_mime_body_free() after. */
int	 ops_mime_decode(const struct ops_mime_part *p, enum ops_mime_out out,
	    const char *spool_dir, struct ops_mime_body *b);
void	 ops_mime_body_free(struct ops_mime_body *b);
/* A valid UTF-8 copy of s, bad bytes as U+FFFD: caller frees; NULL for
 * NULL or "". */
char	*ops_mime_utf8(const char *s);
/* A type from the first bytes of a body, and a defect from its size and
 * last bytes; both static (NULL: no defect). */
const char *ops_mime_sniff(const unsigned char *head, size_t n);
const char *ops_mime_defect(const char *sniffed, uint64_t size,
	    const unsigned char *tail, size_t n);
/* 1 and a filled (a->from_domain set by the caller beforehand) when the
 * header value's authserv-id is authserv; else 0, a untouched. */
int	 ops_mime_auth_parse(const char *value, const char *authserv,
	    struct ops_mime_auth *a);
void	 ops_mime_auth_free(struct ops_mime_auth *a);
/* What fp holds: NDJSON if its first non-blank byte is '{', an mbox if
 * it starts with "From ", else one RFC 822 message. Its first bytes are
 * read with read(2) on its descriptor (fp's stdio buffer is never used);
 * NULL/errno. */
enum ops_mime_kind { OPS_MIME_NDJSON, OPS_MIME_MBOX, OPS_MIME_RFC822 };
struct ops_mime_peek;
struct ops_mime_peek *ops_mime_peek_open(FILE *fp, enum ops_mime_kind *kind);
/* fp's bytes from its start: the peeked ones, then read(2): what is
 * there, never waiting for more (an ops_ndjson_open_reader() reader).
 * Its count, 0 at the end, -1/errno. */
ssize_t	 ops_mime_peek_read(void *peek, char *buf, size_t size);
/* The same bytes as a stream; fclose it before ops_mime_peek_close(). */
FILE	*ops_mime_peek_stream(struct ops_mime_peek *p);
void	 ops_mime_peek_close(struct ops_mime_peek *p);
/* Both in one: a stream that frees the peek when closed (caller fcloses
 * it, then fp). */
FILE	*ops_mime_peek(FILE *fp, enum ops_mime_kind *kind);
/* Raw messages of an mbox or RFC 822 stream, each at most max bytes
 * held, sha256 "" (a larger one is counted and hashed, its data NULL). */
struct ops_mime_src;
struct ops_mime_src *ops_mime_src_open(FILE *fp, enum ops_mime_kind kind,
	    size_t max);
int	 ops_mime_src_next(struct ops_mime_src *s, struct ops_mime_raw *r);
					/* 1: r filled; 0: end; -1: errno */
void	 ops_mime_src_close(struct ops_mime_src *s);
/* A Maildir's messages, new/ then cur/, each sorted: NULL-terminated,
 * caller frees each and the array. NULL/errno if not a Maildir. */
char	**ops_maildir_list(const char *dir);

/* compose.c, drafts.c: mail-send's messages, drafts and tracking records. */
#define OPS_MAIL_MAX_RCPT	500			/* Gmail's limit */
#define OPS_MAIL_MAX_SIZE	((size_t)35 << 20)	/* composed message */
#define OPS_MAIL_UPLOAD_SIZE	((size_t)5 << 20)	/* above: media upload */
#define OPS_UUID_LEN		36
/* A message's content: what a reviewer approves and its sha256 covers.
 * Every string is UTF-8 and owned by the struct (ops_mail_free). */
struct ops_mail {
	char	*to, *cc, *bcc;	/* normalised lists "N <a@b.c>, d@e.f", or NULL */
	char	*subject;
	char	*body;		/* text/plain, or NULL */
	char	*html;		/* text/html, or NULL; one of the two is set */
	char	*reply_to;	/* one address, or NULL */
	char	*thread_id;	/* Gmail thread id, or NULL */
	char	*in_reply_to;	/* "<msgid>", or NULL */
	int	 nrcpt;		/* to + cc + bcc */
};
/* What the sender's account adds at send time; borrowed strings. */
struct ops_compose {
	const char	*from_addr;	/* required */
	const char	*from_name;	/* display name, or NULL */
	const char	*signature;	/* send-as HTML signature, or NULL */
	const char	*reply_to;	/* used when the mail has none, or NULL */
	const char	*pixel_url;	/* tracking pixel, or NULL: none */
	const char	*message_id;	/* without <>, required */
	time_t		 date;
};
void	 ops_mime_init(void);			/* g_mime_init, once */
/* A request {"to","subject","message",...} (body_key "message") or a
 * stored draft ("body"): validated and normalised into m. strict: other
 * keys than the content's and "mode" are refused. 0, or -1 and why. */
int	 ops_mail_parse(yajl_val obj, const char *body_key, int strict,
	    struct ops_mail *m, char *why, size_t whylen);
void	 ops_mail_free(struct ops_mail *m);
/* The content hash: lowercase hex sha256 of the canonical form
 * described in mail-send(1). */
void	 ops_mail_sha256(const struct ops_mail *m, char hex[65]);
/* The RFC 5322 message (CRLF lines): caller frees; NULL and why on
 * failure. text and html (may be NULL) get the two alternatives as
 * composed: caller frees. */
char	*ops_mail_compose(const struct ops_mail *m, const struct ops_compose *o,
	    size_t *len, char **text, char **html, char *why, size_t whylen);
/* Checks an address ("a@b.c", no name): 0, or -1 and why. */
int	 ops_addr_check(const char *addr, char *why, size_t whylen);
char	*ops_html_escape(const char *s);		/* caller frees */
char	*ops_html_to_text(const char *html);	/* caller frees */

struct ops_mailstore;
/* The drafts and tracking records of this account: an LMDB environment in
 * BASE_DIR/var/db/mail, sub-databases DRAFT_COLLECTION and
 * PIXEL_COLLECTION. Caller ops_mailstore_close()s; NULL on failure, *code
 * (74, 78) and errmsg say why. */
struct ops_mailstore *ops_mailstore_open(const struct ops_config *c,
	    int *code, char *errmsg, size_t errlen);
void	 ops_mailstore_close(struct ops_mailstore *s);
const char *ops_mailstore_path(const struct ops_mailstore *s);	/* borrowed */
int	 ops_uuid4(char out[OPS_UUID_LEN + 1]);		/* 0 or -1 */
int	 ops_uuid_valid(const char *s);			/* 1 if a UUID */
/* A new pending draft: its id and sha256. 0, or -1 and errmsg. */
int	 ops_draft_create(struct ops_mailstore *s, const struct ops_mail *m,
	    char id[OPS_UUID_LEN + 1], char sha[65], char *errmsg,
	    size_t errlen);
/* 1 and *rec (caller yajl_tree_free()s), 0 not found, -1 error. */
int	 ops_draft_get(struct ops_mailstore *s, const char *id, yajl_val *rec,
	    char *errmsg, size_t errlen);
/* fn on every draft with that status (NULL: all), oldest first; rec is
 * borrowed for the call. fn returning non-zero stops the walk and is
 * returned. -1 on a store error. */
int	 ops_draft_list(struct ops_mailstore *s, const char *status,
	    int (*fn)(yajl_val rec, void *arg), void *arg, char *errmsg,
	    size_t errlen);
/* pending -> rejected. 0, or -1 and errmsg. */
int	 ops_draft_reject(struct ops_mailstore *s, const char *id,
	    char *errmsg, size_t errlen);
/* Sending a draft: lock (no other sender of this draft in any process),
 * claim (pending -> sending, or a "sending" left by a dead sender), then
 * sent, or back to pending, or left sending with a note. */
struct ops_draft_claim {
	char		 id[OPS_UUID_LEN + 1];
	int		 lock_fd;
	int		 recovering;	/* was "sending": look it up first */
	struct ops_mail	 mail;		/* the content, hash checked */
	char		 sha[65];
	char		*msgid;		/* Message-ID without <>, owned */
	char		 pixel_id[OPS_UUID_LEN + 1];	/* "" when none */
	double		 claimed_at;	/* the first claim (epoch s) */
};
/* Takes the draft's send lock without waiting: 0, or -1 with *code 75
 * (another sender holds it) or 74. */
int	 ops_draft_lock(struct ops_mailstore *s, const char *id,
	    struct ops_draft_claim *cl, int *code, char *errmsg, size_t errlen);
/* In one write transaction: the draft must be pending (or sending: then
 * recovering), its content must match its sha256 and expect_sha (if not
 * NULL); it becomes "sending" with a claim, a Message-ID @domain and a
 * pixel id (tracking) unless it has them already. 0, or -1 with *code 1. */
int	 ops_draft_claim(struct ops_mailstore *s, struct ops_draft_claim *cl,
	    const char *expect_sha, const char *domain, int tracking,
	    int *code, char *errmsg, size_t errlen);
/* sending -> sent with sent_at, message_id, thread, pixel_id, and the
 * tracking record when there is a pixel, in one transaction. */
int	 ops_draft_sent(struct ops_mailstore *s, struct ops_draft_claim *cl,
	    const char *message_id, const char *thread_id, char *errmsg,
	    size_t errlen);
/* Not sent: back to pending (unsent 1) or left sending (unsent 0, the
 * outcome is unknown), with why as last_error. */
int	 ops_draft_release(struct ops_mailstore *s, struct ops_draft_claim *cl,
	    int unsent, const char *why, char *errmsg, size_t errlen);
void	 ops_draft_claim_free(struct ops_draft_claim *cl);	/* and unlocks */
/* A tracking record: pixel_id -> to, subject, message_id, open_count 0,
 * created_at, first_opened_at, last_opened_at (null). 0 or -1. */
int	 ops_pixel_put(struct ops_mailstore *s, const char *pixel_id,
	    const struct ops_mail *m, const char *message_id,
	    const char *draft_id, char *errmsg, size_t errlen);
/* fn on the record of pixel_id, or (NULL) on every record. Returns 1 if
 * fn saw any, 0 if none, -1 on error; rec borrowed. */
int	 ops_pixel_list(struct ops_mailstore *s, const char *pixel_id,
	    int (*fn)(yajl_val rec, void *arg), void *arg, char *errmsg,
	    size_t errlen);

/* gmail.c: Gmail API helpers shared by gmail-list, gmail-fetch and
 * gmail-label. */
/* Is s an id as Gmail makes them (letters, digits, "-", "_"; at most 64)? */
int	 ops_gmail_id_ok(const char *s);
/* <base>/gmail/v1/users/me/<coll>[/<id>][?<query>]: id percent-encoded
 * as one path segment, so it can never change the path or the query;
 * query already encoded. Caller frees. */
char	*ops_gmail_url(const char *coll, const char *id, const char *query);
/* One call with bearer auth and a JSON object (or empty) answer. 0:
 * *answer is the object (caller yajl_tree_free()s; NULL for an empty
 * answer or when answer is NULL); -1: failed, and fail (when not NULL)
 * holds status, errmsg, exit_code and reason (its body stays empty). */
int	 ops_gmail_call(struct ops_http *h, const char *method,
	    const char *url, const char *body, yajl_val *answer,
	    struct ops_http_resp *fail);
/* "YYYY-MM-DD" (a real date) → "YYYY/MM/DD" in out; 0 or -1. */
int	 ops_gmail_date(const char *s, char *out, size_t outlen);
/* The list query: query (NULL: QUERY), from:(ALLOWED_SENDERS joined by
 * OR), -label:"LABEL_IMPORTED" -label:"LABEL_QUARANTINE", and with since
 * (YYYY-MM-DD) after:YYYY/MM/DD. Caller frees. NULL on error: *exit_code
 * (78: no or a bad sender, a bad label name; 2: a bad date), errmsg. */
char	*ops_gmail_query(const struct ops_config *c, const char *query,
	    const char *since, int *exit_code, char *errmsg, size_t errlen);
/* Labels by name: labels.list on first need, labels.create for what is
 * missing (parents of "a/b" first; a 409 is answered by listing again). */
struct ops_labels;
struct ops_labels *ops_labels_new(struct ops_http *h);	/* caller frees */
void	 ops_labels_free(struct ops_labels *l);
/* The id of label name (borrowed, valid until l is freed), made if need
 * be. NULL on failure: fail holds why (body empty). */
const char *ops_labels_ensure(struct ops_labels *l, const char *name,
	    struct ops_http_resp *fail);
/* The id of a known label (case-insensitive name), or NULL; borrowed. */
const char *ops_labels_find(const struct ops_labels *l, const char *name);
long	 ops_labels_created(const struct ops_labels *l);
/* --stats FILE: {"prog","calls","units","errors", then ops_quota_write's
 * fields}, written atomically. 0, or -1 after a warning. */
int	 ops_gmail_stats_write(const char *path, struct ops_http *h,
	    long errors);
/* When the reader of stdout goes away (SIGPIPE), the stats file is still
 * written, then the tool dies of SIGPIPE as Unix tools do. path NULL:
 * nothing to write, the death alone. */
void	 ops_gmail_stats_on_pipe(const char *path, struct ops_http *h);

/* multi.c: several requests in flight (libcurl multi: HTTP/2 streams
 * where offered, else up to max connections), each through http.c's
 * retry engine: the same token, quota, retry and error rules. */
struct ops_multi;
struct ops_multi *ops_multi_new(struct ops_http *h, int max); /* max <= 64 */
void	 ops_multi_free(struct ops_multi *m);
int	 ops_multi_max(const struct ops_multi *m);
int	 ops_multi_pending(const struct ops_multi *m);	/* added, not taken */
/* Queues a request (copied but req->token) with the caller's tag; at
 * most ops_multi_max() may be pending. */
void	 ops_multi_add(struct ops_multi *m, const struct ops_http_req *req,
	    void *tag);
/* Runs transfers until a request has finished: 1 with its *tag, *ok (a
 * 2xx answer) and *resp (caller ops_http_resp_free()s; on failure
 * errmsg and exit_code say why); 0 when none is pending. */
int	 ops_multi_next(struct ops_multi *m, void **tag,
	    struct ops_http_resp *resp, int *ok);

/* httpd.c, track.c: small HTTP servers on libmicrohttpd (mail-track, and
 * ops-httpd), and the open-tracking pixel's hits. */
struct ops_httpd;
struct ops_httpd_req {		/* borrowed, valid during the handler call */
	const char	*method;	/* "GET", "HEAD", "POST", ... */
	const char	*path;		/* percent-decoded (but %00), no query */
	const char	*body;		/* the upload, NUL-terminated, or NULL */
	size_t		 body_len;
	void		*conn;		/* the struct MHD_Connection */
	int		 answered;	/* a reply was queued */
};
/* A handler answers each request with one ops_httpd_reply() or
 * ops_httpd_error(); it runs on the pool's threads, several at once. */
struct ops_httpd_opts {
	const char	*listen;	/* "ADDR:PORT": "127.0.0.1:8081",
					 * "[::1]:8081", "localhost:0" */
	unsigned int	 threads;	/* pool size; 0: 2 per CPU, 2 to 16 */
	size_t		 max_body;	/* uploads above: 413; 0: none (413) */
	unsigned int	 timeout;	/* idle connection, s; 0: 30 */
	unsigned int	 max_conns;	/* 0: 512 */
	int		(*handler)(struct ops_httpd_req *req, void *arg);
	void		*arg;
};
/* Splits "ADDR:PORT" (IPv6 in brackets; ADDR "" or "*": every address):
 * 0 with *host (NULL: every address) and *port (caller frees both), or -1
 * and why. */
int	 ops_httpd_parse_listen(const char *s, char **host, char **port,
	    char *why, size_t whylen);
/* Blocks SIGTERM and SIGINT in the caller (the pool's threads inherit the
 * mask; a child process must unblock them), ignores SIGPIPE, binds, and
 * starts the pool. NULL on failure: *code 69 (address in use), 78 (no such
 * address, not allowed) or 70, and errmsg says why. Caller
 * ops_httpd_stop()s. */
struct ops_httpd *ops_httpd_start(const struct ops_httpd_opts *o, int *code,
	    char *errmsg, size_t errlen);
/* ops_httpd_start(), or death with its exit code; then the line
 * {"status":"listening","address":"127.0.0.1:8081"} on stdout. */
struct ops_httpd *ops_httpd_listen(const struct ops_httpd_opts *o);
/* The bound address, "127.0.0.1:8081" or "[::1]:8081"; borrowed. */
const char *ops_httpd_address(const struct ops_httpd *h);
/* Waits for SIGTERM or SIGINT; returns the signal's number. */
int	 ops_httpd_wait(void);
/* Stops accepting, lets the requests being answered end, frees h. */
void	 ops_httpd_stop(struct ops_httpd *h);
/* A request header (case-insensitive name) or query argument; borrowed
 * for the handler call, NULL when absent. */
const char *ops_httpd_header(const struct ops_httpd_req *r, const char *name);
const char *ops_httpd_query(const struct ops_httpd_req *r, const char *name);
/* The client's numeric address into out ("" if unknown). */
void	 ops_httpd_peer(const struct ops_httpd_req *r, char *out, size_t outlen);
/* Queues the answer: data is copied unless persistent (static bytes);
 * headers are "Name", "value" pairs ending in NULL, or NULL. Every answer
 * carries X-Content-Type-Options: nosniff, and no Server header. 0 or -1. */
int	 ops_httpd_reply(struct ops_httpd_req *r, unsigned int status,
	    const char *content_type, const void *data, size_t len,
	    int persistent, const char *const *headers);
/* The same, with the size bytes of the open file fd (taken: closed when
 * sent, or at once on failure). */
int	 ops_httpd_reply_fd(struct ops_httpd_req *r, unsigned int status,
	    const char *content_type, int fd, uint64_t size,
	    const char *const *headers);
/* A short text/plain answer for status: "404 Not Found\n"; a 405 says
 * Allow: GET, HEAD. */
int	 ops_httpd_error(struct ops_httpd_req *r, unsigned int status);
/* Warnings from the pool's threads, one at a time (the event log's hook
 * is not reentrant). */
void	 ops_httpd_warnx(const char *fmt, ...)
	    __attribute__((format(printf, 1, 2)));

/* httpd.c: an application/x-www-form-urlencoded body's field, decoded
 * ('+' is a space); caller frees; NULL when absent or holding a NUL. */
char	*ops_httpd_form(const char *body, size_t len, const char *name);
/* HTML-escapes s (& < > " ') onto b. */
void	 ops_html_esc(struct ops_buf *b, const char *s);

/* httpauth.c: ops-httpd's credentials: Basic users from a file of
 * "name:pbkdf2_sha256$iterations$salt$hash" lines (Django's format), a
 * bearer token from the first line of a file, both files private (0600);
 * and CSRF tokens bound to the user and the time, HMAC'd with a key made
 * at start. */
#define OPS_HTTPAUTH_WHO	80
#define OPS_HTTPAUTH_BASIC	1
#define OPS_HTTPAUTH_BEARER	2
#define OPS_HTTPAUTH_CSRF_LEN	96
struct ops_httpauth;
/* NULL with errmsg when neither file is given, a file is not private,
 * or holds a bad line. */
struct ops_httpauth *ops_httpauth_open(const char *users_file,
	    const char *token_file, char *errmsg, size_t errlen);
void	 ops_httpauth_free(struct ops_httpauth *a);
int	 ops_httpauth_schemes(const struct ops_httpauth *a);	/* BASIC|BEARER */
/* An Authorization header: 1 and who ("alice", or "bearer"), else 0.
 * Safe from several threads; a good Basic credential is remembered (by
 * its digest) for 5 minutes, and one password is hashed at a time. */
int	 ops_httpauth_check(struct ops_httpauth *a, const char *authorization,
	    char *who, size_t wholen);
void	 ops_httpauth_csrf(const struct ops_httpauth *a, const char *who,
	    double now, char *out, size_t outlen);
/* 1 when token was made for who in the last 8 hours, else 0. */
int	 ops_httpauth_csrf_ok(const struct ops_httpauth *a, const char *who,
	    const char *token, double now);
/* "pbkdf2_sha256$iter$salt$hash" with a fresh 22-letter salt, or NULL. */
char	*ops_pbkdf2_hash(const char *password, unsigned long iter);
/* 1 password matches, 0 it does not, -1 encoded is malformed. */
int	 ops_pbkdf2_verify(const char *password, const char *encoded);

/* spawn.c: the suite's tools run from a server (posix_spawnp: PATH; an
 * empty signal mask and default dispositions in the child). */
struct ops_spawn_result {
	int	 status;	/* exit status, 128+signal, or -1 */
	int	 timed_out;	/* killed at the deadline */
	int	 truncated;	/* stdout over its cap (the rest dropped) */
	char	*out, *err;	/* NUL-terminated; caller frees */
	size_t	 out_len, err_len;
	char	 why[256];	/* when it could not run or finish */
};
/* Runs argv with in on its stdin, stdout kept up to out_cap bytes,
 * stderr up to 64 KiB; SIGTERM at timeout seconds, SIGKILL 2 s later.
 * 0 when it ran to its end (whatever its status), -1 (why says) when it
 * could not start, timed out or wrote too much. Free with
 * ops_spawn_result_free() either way. */
int	 ops_spawn_run(char *const argv[], const void *in, size_t in_len,
	    size_t out_cap, double timeout, struct ops_spawn_result *res);
void	 ops_spawn_result_free(struct ops_spawn_result *res);
/* Starts argv in its own session, stdin /dev/null, stdout and stderr to
 * new 0600 files (never through a symlink). Its pid (reap it), or -1. */
pid_t	 ops_spawn_detached(char *const argv[], const char *out_path,
	    const char *err_path, char *why, size_t whylen);
/* Whether a flock(2) lock is held on path: 1, 0 (or no such file), -1
 * error. Reads /proc/locks, so checking never takes the lock. */
int	 ops_flock_held(const char *path);

/* The hits of the tracking pixel: open_count and the open dates of the
 * tracking record, and one entry per hit in the sub-database
 * "<PIXEL_COLLECTION>_hits" (key "<pixel_id>/<n>", n the hit's number in
 * 10 digits). drafts.c lends its environment for it. */
struct MDB_env;
struct MDB_env *ops_mailstore_env(const struct ops_mailstore *s); /* borrowed */
unsigned int ops_mailstore_pixel_dbi(const struct ops_mailstore *s);
#define OPS_TRACK_MAX_HITS	10000	/* hit entries kept per pixel */
struct ops_track_hit {		/* a hit's classification; static strings */
	const char	*ua_class;	/* gmail-proxy, apple-mpp, ... */
	int		 machine;	/* looks machine-made */
	const char	*why;		/* the rule that decided */
};
/* Classifies a hit by its User-Agent (NULL: none) and its age, seconds
 * since the record was made (when the message was sent); a hit younger
 * than window seconds is machine-made. mail-track(8) lists the rules. */
void	 ops_track_classify(const char *ua, double age, double window,
	    struct ops_track_hit *out);
struct ops_track;
/* Opens the hits sub-database in s (borrowed: close t first) and turns
 * off the meta-page sync of this process's commits. NULL on failure with
 * *code (74, 78) and errmsg. Caller ops_track_close()s. */
struct ops_track *ops_track_open(struct ops_mailstore *s,
	    const struct ops_config *c, double window, int *code, char *errmsg,
	    size_t errlen);
void	 ops_track_close(struct ops_track *t);
/* A hit on pixel_id at now, in one write transaction: open_count + 1,
 * first_opened_at, last_opened_at, and for a likely-human hit
 * human_open_count + 1 and first_human_open_at; plus the hit entry.
 * 1 recorded (*hit says how it was classified), 0 no such record, -1
 * error (errmsg). Safe from several threads. */
int	 ops_track_record(struct ops_track *t, const char *pixel_id,
	    const char *ua, double now, struct ops_track_hit *hit,
	    char *errmsg, size_t errlen);
/* fn on each stored hit of pixel_id, first first; rec borrowed. fn
 * returning non-zero stops the walk and is returned. 1 if any, 0 none,
 * -1 error. */
int	 ops_track_hits(struct ops_track *t, const char *pixel_id,
	    int (*fn)(yajl_val rec, void *arg), void *arg, char *errmsg,
	    size_t errlen);

#endif
