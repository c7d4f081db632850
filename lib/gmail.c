/* gmail.c: what gmail-list, gmail-fetch and gmail-label share: Gmail API
 * URLs, one JSON call, the list query, labels by name, the stats file. */
#include <ctype.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "gmailops.h"

#define MAX_ID_LEN	 64	/* Gmail's ids are 16 hex digits */
#define MAX_LABEL_NAME	 225	/* Gmail's own limit on a label name */
#define MAX_LABELS	 10000	/* Gmail allows 10,000 labels per user */
#define MAX_JSON_ANSWER	 ((size_t)16 << 20)	/* lists, labels */

int
ops_gmail_id_ok(const char *s)
{
	size_t i;

	if (s == NULL || *s == '\0')
		return 0;
	for (i = 0; s[i] != '\0'; i++) {
		if (i == MAX_ID_LEN)
			return 0;
		if (!isalnum((unsigned char)s[i]) && s[i] != '-' && s[i] != '_')
			return 0;
	}
	return 1;
}

char *
ops_gmail_url(const char *coll, const char *id, const char *query)
{
	char *seg = NULL, *url;

	if (id != NULL) {
		/* One path segment, whatever it holds: "/" and "?" are
		 * encoded, and "." or ".." never reach the path (libcurl
		 * would squash them). */
		seg = ops_urlencode(id);
		if (strcmp(seg, ".") == 0 || strcmp(seg, "..") == 0 ||
		    *seg == '\0') {
			free(seg);
			seg = ops_xstrdup(*id == '\0' ? "%20" :
			    id[1] == '\0' ? "%2E" : "%2E%2E");
		}
	}
	url = ops_xasprintf("%s/gmail/v1/users/me/%s%s%s%s%s",
	    ops_gmail_base(), coll, seg != NULL ? "/" : "",
	    seg != NULL ? seg : "", query != NULL ? "?" : "",
	    query != NULL ? query : "");
	free(seg);
	return url;
}

int
ops_gmail_call(struct ops_http *h, const char *method, const char *url,
    const char *body, yajl_val *answer, struct ops_http_resp *fail)
{
	struct ops_http_req req;
	struct ops_http_resp resp;
	const char *path;
	char err[256];
	yajl_val v = NULL;
	int rc = 0;

	if (answer != NULL)
		*answer = NULL;
	memset(&req, 0, sizeof(req));
	req.method = method;
	req.url = url;
	req.bearer = 1;
	req.max_response = MAX_JSON_ANSWER;
	if (body != NULL) {
		req.body = body;
		req.body_len = strlen(body);
		req.content_type = "application/json";
	}
	if (ops_http_do(h, &req, &resp) != 0) {
		rc = -1;
	} else if (answer != NULL && resp.body.len > 0) {
		v = ops_json_parse(resp.body.data, err, sizeof(err));
		if (v == NULL || !YAJL_IS_OBJECT(v)) {
			path = strstr(url, "/gmail/");
			snprintf(resp.errmsg, sizeof(resp.errmsg), "%s %.*s: "
			    "answer is not a JSON object%s%s", method,
			    path != NULL ? (int)strcspn(path, "?") : 0,
			    path != NULL ? path : "", v == NULL ? ": " : "",
			    v == NULL ? err : "");
			resp.exit_code = OPS_EX_DATAERR;
			yajl_tree_free(v);
			v = NULL;
			rc = -1;
		}
		*answer = v;
	}
	if (fail != NULL) {
		fail->status = resp.status;
		fail->exit_code = resp.exit_code;
		memcpy(fail->errmsg, resp.errmsg, sizeof(fail->errmsg));
		memcpy(fail->reason, resp.reason, sizeof(fail->reason));
		memset(&fail->body, 0, sizeof(fail->body));
	}
	ops_http_resp_free(&resp);
	return rc;
}

/* ------------------------------------------------------------ the query */

/* An ALLOWED_SENDERS entry: an address or @domain, nothing that could
 * change the meaning of the query around it (RFC 5322 atext but the
 * braces and bar, which Gmail's search reads as OR). */
static int
sender_ok(const char *s)
{
	static const char extra[] = ".!#$%&'*+/=?^_`~@-";
	size_t i;

	if (strchr(s, '@') == NULL || strlen(s) > 254)
		return 0;
	for (i = 0; s[i] != '\0'; i++)
		if (!isalnum((unsigned char)s[i]) && strchr(extra, s[i]) == NULL)
			return 0;
	return 1;
}

/* A label name that can be quoted in the query. */
static int
label_name_ok(const char *s)
{
	size_t i;

	if (*s == '\0' || strlen(s) > MAX_LABEL_NAME)
		return 0;
	for (i = 0; s[i] != '\0'; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == '"' || s[i] == 0x7f)
			return 0;
	return 1;
}

int
ops_gmail_date(const char *s, char *out, size_t outlen)
{
	struct tm tm, back;
	time_t t;
	int y, m, d;
	char tail;

	if (strlen(s) != 10 || s[4] != '-' || s[7] != '-' ||
	    sscanf(s, "%4d-%2d-%2d%c", &y, &m, &d, &tail) != 3)
		return -1;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = m - 1;
	tm.tm_mday = d;
	tm.tm_hour = 12;
	back = tm;
	t = timegm(&tm);
	if (t == (time_t)-1 || y < 1970 || tm.tm_year != back.tm_year ||
	    tm.tm_mon != back.tm_mon || tm.tm_mday != back.tm_mday)
		return -1;
	snprintf(out, outlen, "%04d/%02d/%02d", y, m, d);
	return 0;
}

char *
ops_gmail_query(const struct ops_config *c, const char *query,
    const char *since, int *exit_code, char *errmsg, size_t errlen)
{
	static const char *const label_keys[] = { "LABEL_IMPORTED",
	    "LABEL_QUARANTINE" };
	char *const *senders = ops_config_list(c, "ALLOWED_SENDERS");
	struct ops_buf q;
	const char *name;
	char day[16];
	size_t i;

	if (query == NULL)
		query = ops_config_str(c, "QUERY");
	while (isspace((unsigned char)*query))
		query++;
	if (since != NULL && ops_gmail_date(since, day, sizeof(day)) != 0) {
		snprintf(errmsg, errlen, "--since %s: not a date "
		    "(YYYY-MM-DD)", since);
		*exit_code = OPS_EX_USAGE;
		return NULL;
	}
	if (senders == NULL || senders[0] == NULL) {
		snprintf(errmsg, errlen, "ALLOWED_SENDERS is empty: no mail "
		    "could ever be collected (set the addresses or @domains "
		    "receipts come from)");
		*exit_code = OPS_EX_CONFIG;
		return NULL;
	}
	for (i = 0; senders[i] != NULL; i++) {
		if (!sender_ok(senders[i])) {
			snprintf(errmsg, errlen, "ALLOWED_SENDERS: %.100s: not "
			    "an address or @domain", senders[i]);
			*exit_code = OPS_EX_CONFIG;
			return NULL;
		}
	}
	ops_buf_init(&q, 0);
	/* Gmail's implicit AND binds looser than OR: keep a query with OR
	 * in one group, so the sender filter applies to all of it. */
	if (*query != '\0')
		ops_buf_addf(&q, strstr(query, " OR ") != NULL ||
		    strchr(query, '{') != NULL ? "(%s) " : "%s ", query);
	ops_buf_addstr(&q, "from:(");
	for (i = 0; senders[i] != NULL; i++)
		ops_buf_addf(&q, "%s%s", i > 0 ? " OR " : "", senders[i]);
	ops_buf_addstr(&q, ")");
	for (i = 0; i < sizeof(label_keys) / sizeof(label_keys[0]); i++) {
		name = ops_config_str(c, label_keys[i]);
		if (*name == '\0')
			continue;
		if (!label_name_ok(name)) {
			snprintf(errmsg, errlen, "%s: not a usable label name",
			    label_keys[i]);
			*exit_code = OPS_EX_CONFIG;
			ops_buf_free(&q);
			return NULL;
		}
		ops_buf_addf(&q, " -label:\"%s\"", name);
	}
	if (since != NULL)
		ops_buf_addf(&q, " after:%s", day);
	return ops_buf_steal(&q);
}

/* ------------------------------------------------------------ labels */

struct ops_labels {
	struct ops_http	*http;
	int		 loaded;
	size_t		 n;
	char		**name;
	char		**id;
	long		 created;
};

struct ops_labels *
ops_labels_new(struct ops_http *h)
{
	struct ops_labels *l = ops_xmalloc(sizeof(*l));

	memset(l, 0, sizeof(*l));
	l->http = h;
	return l;
}

static void
labels_clear(struct ops_labels *l)
{
	size_t i;

	for (i = 0; i < l->n; i++) {
		free(l->name[i]);
		free(l->id[i]);
	}
	free(l->name);
	free(l->id);
	l->name = l->id = NULL;
	l->n = 0;
	l->loaded = 0;
}

void
ops_labels_free(struct ops_labels *l)
{
	if (l == NULL)
		return;
	labels_clear(l);
	free(l);
}

static void
labels_put(struct ops_labels *l, const char *name, const char *id)
{
	l->name = ops_xrealloc(l->name, (l->n + 1) * sizeof(char *));
	l->id = ops_xrealloc(l->id, (l->n + 1) * sizeof(char *));
	l->name[l->n] = ops_xstrdup(name);
	l->id[l->n] = ops_xstrdup(id);
	l->n++;
}

/* labels.list, once per call: every label's name and id. */
static int
labels_load(struct ops_labels *l, struct ops_http_resp *fail)
{
	yajl_val v, arr, e;
	const char *name, *id;
	char *url = ops_gmail_url("labels", NULL, NULL);
	size_t i;
	int rc;

	labels_clear(l);
	rc = ops_gmail_call(l->http, "GET", url, NULL, &v, fail);
	free(url);
	if (rc != 0)
		return -1;
	arr = ops_json_get(v, "labels");
	for (i = 0; arr != NULL && YAJL_IS_ARRAY(arr) && i < arr->u.array.len &&
	    i < MAX_LABELS; i++) {
		e = arr->u.array.values[i];
		name = ops_json_str(e, "name");
		id = ops_json_str(e, "id");
		if (name != NULL && id != NULL)
			labels_put(l, name, id);
	}
	yajl_tree_free(v);
	l->loaded = 1;
	return 0;
}

const char *
ops_labels_find(const struct ops_labels *l, const char *name)
{
	size_t i;

	/* Gmail's label names are unique regardless of case. */
	for (i = 0; i < l->n; i++)
		if (strcasecmp(l->name[i], name) == 0)
			return l->id[i];
	return NULL;
}

/* labels.create for one name; a 409 (made meanwhile by someone else) is
 * answered by listing again. */
static const char *
label_create(struct ops_labels *l, const char *name,
    struct ops_http_resp *fail)
{
	struct ops_jw *w = ops_jw_new();
	const char *body, *id;
	char *url = ops_gmail_url("labels", NULL, NULL), *json;
	yajl_val v;
	size_t len;
	int rc;

	ops_jw_open(w);
	ops_jw_str(w, "name", name);
	ops_jw_str(w, "labelListVisibility", "labelShow");
	ops_jw_str(w, "messageListVisibility", "show");
	ops_jw_close(w);
	body = ops_jw_text(w, &len);
	json = ops_xasprintf("%.*s", (int)len, body);
	ops_jw_free(w);
	rc = ops_gmail_call(l->http, "POST", url, json, &v, fail);
	free(url);
	free(json);
	if (rc != 0) {
		if (fail->status != 409)
			return NULL;
		if (labels_load(l, fail) != 0)
			return NULL;
		id = ops_labels_find(l, name);
		if (id == NULL) {
			snprintf(fail->errmsg, sizeof(fail->errmsg), "label "
			    "%s: Gmail says it exists or conflicts, but it is "
			    "not listed", name);
			fail->exit_code = OPS_EX_DATAERR;
		}
		return id;
	}
	id = ops_json_str(v, "id");
	if (id == NULL || !ops_gmail_id_ok(id)) {
		snprintf(fail->errmsg, sizeof(fail->errmsg), "label %s: "
		    "labels.create answered no usable id", name);
		fail->exit_code = OPS_EX_DATAERR;
		yajl_tree_free(v);
		return NULL;
	}
	labels_put(l, name, id);
	l->created++;
	yajl_tree_free(v);
	return l->id[l->n - 1];
}

const char *
ops_labels_ensure(struct ops_labels *l, const char *name,
    struct ops_http_resp *fail)
{
	const char *id, *slash;
	char *parent;

	memset(fail, 0, sizeof(*fail));
	if (!label_name_ok(name) || *name == '/' ||
	    name[strlen(name) - 1] == '/' || strstr(name, "//") != NULL) {
		snprintf(fail->errmsg, sizeof(fail->errmsg), "%.100s: not a "
		    "usable label name", name);
		fail->exit_code = OPS_EX_CONFIG;
		return NULL;
	}
	if (!l->loaded && labels_load(l, fail) != 0)
		return NULL;
	id = ops_labels_find(l, name);
	if (id != NULL)
		return id;
	/* Gmail nests by name: "a/b" shows under "a" when "a" exists, so
	 * the parents are made first. The name is bounded, and so is this
	 * loop. */
	for (slash = strchr(name, '/'); slash != NULL;
	    slash = strchr(slash + 1, '/')) {
		parent = ops_xasprintf("%.*s", (int)(slash - name), name);
		if (ops_labels_find(l, parent) == NULL &&
		    label_create(l, parent, fail) == NULL) {
			free(parent);
			return NULL;
		}
		free(parent);
	}
	/* A 409 on a parent listed again: the label may be there now. */
	id = ops_labels_find(l, name);
	return id != NULL ? id : label_create(l, name, fail);
}

long
ops_labels_created(const struct ops_labels *l)
{
	return l->created;
}

/* ------------------------------------------------------------ stats */

static const char *pipe_stats_path;
static struct ops_http *pipe_stats_http;

static void
stats_on_pipe(void)
{
	if (pipe_stats_path != NULL)
		(void)ops_gmail_stats_write(pipe_stats_path, pipe_stats_http, 0);
}

void
ops_gmail_stats_on_pipe(const char *path, struct ops_http *h)
{
	pipe_stats_path = path;
	pipe_stats_http = h;
	ops_pipe_hook = stats_on_pipe;
	signal(SIGPIPE, SIG_IGN);	/* write(2) says EPIPE instead */
}

int
ops_gmail_stats_write(const char *path, struct ops_http *h, long errors)
{
	struct ops_quota *q = ops_http_quota(h);
	struct ops_jw *w = ops_jw_new();
	struct ops_buf b;
	const char *text;
	size_t len;
	int rc = 0;

	ops_jw_open(w);
	ops_jw_str(w, "prog", ops_progname);
	ops_jw_int(w, "calls", ops_quota_calls(q));
	ops_jw_int(w, "units", ops_quota_total_units(q));
	ops_jw_int(w, "errors", errors);
	/* Adds gmail_api_calls and quota_units (the same numbers, under
	 * the names the rest of the suite uses) and by_method. */
	ops_quota_write(q, w);
	ops_jw_close(w);
	text = ops_jw_text(w, &len);
	ops_buf_init(&b, 0);
	ops_buf_add(&b, text, len);
	ops_buf_addstr(&b, "\n");
	if (ops_jw_failed(w) || ops_write_atomic(path, b.data, b.len,
	    0644) != 0) {
		ops_warn("%s", path);
		rc = -1;
	}
	ops_buf_free(&b);
	ops_jw_free(w);
	return rc;
}
