/* gmailops.h: the one public header of libgmailops, shared by every tool. */
#ifndef GMAILOPS_H
#define GMAILOPS_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
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

/* b64.c: base64 and base64url, with or without padding. */
char	*ops_b64url_encode(const void *p, size_t n);	/* caller frees, no '=' */
char	*ops_b64_encode(const void *p, size_t n);	/* caller frees, '=' */
/* Decodes either alphabet, padding optional; NULL on bad input. */
unsigned char *ops_b64_decode(const char *s, size_t slen, size_t *outlen);
char	*ops_urlencode(const char *s);			/* caller frees */
int	 ops_random_bytes(void *p, size_t n);		/* 0 or -1 */
char	*ops_random_token(size_t nbytes);		/* b64url, caller frees */

/* json.c: yajl helpers. Returned pointers borrow from the tree. */
yajl_val ops_json_parse(const char *text, char *err, size_t errlen);
yajl_val ops_json_get(yajl_val obj, const char *key);	/* any type */
const char *ops_json_str(yajl_val obj, const char *key);	/* NULL if !string */
int	 ops_json_int(yajl_val obj, const char *key, long long *out); /* 0 ok */
int	 ops_json_bool(yajl_val obj, const char *key, int *out);	/* 0 ok */

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

/* ndjson.c: reads NDJSON records of any length, memory bounded per line. */
struct ops_ndjson;
#define OPS_NDJSON_MAX_LINE ((size_t)128 << 20)
struct ops_ndjson *ops_ndjson_open(FILE *fp, const char *name, size_t maxline);
/* 1: *out is an object (caller yajl_tree_free()s); 0: end; -1: read error.
 * Bad lines are reported as "prog: NAME: line N: why" and counted. */
int	 ops_ndjson_next(struct ops_ndjson *r, yajl_val *out);
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

#endif
