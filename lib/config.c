/* config.c: the suite's configuration: built-in defaults < KEY=value file
 * < OPS_GMAIL_COLLECT_<KEY> environment < command-line flags. */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "gmailops.h"

enum key_type { K_BOOL, K_INT, K_STR, K_LIST, K_PATH, K_REGIME };

struct key_def {
	const char	*name;
	enum key_type	 type;
	const char	*def;
	int		 seed_env;	/* the seed's plain variable works too */
};

/* Every key the suite knows; gmail-ops.conf(5) documents each. */
static const struct key_def keys[] = {
	{ "ENABLED",			K_BOOL,  "false" },
	{ "SCOPES",			K_LIST,  "" },
	{ "QUERY",			K_STR,   "is:unread has:attachment" },
	{ "ALLOWED_SENDERS",		K_LIST,  "" },
	{ "ALLOWED_MIME_TYPES",		K_LIST,
	    "application/pdf,image/jpeg,image/png" },
	{ "MAX_SIZE_BYTES",		K_INT,   "20M" },
	{ "MAX_ATTACH_PER_RUN",		K_INT,   "200" },
	{ "APPLY_LABELS",		K_BOOL,  "false" },
	{ "LABEL_IMPORTED",		K_STR,   "gmail-ops/imported" },
	{ "LABEL_QUARANTINE",		K_STR,   "gmail-ops/quarantine" },
	{ "MARK_AS_READ",		K_BOOL,  "false" },
	{ "DRY_RUN",			K_BOOL,  "false" },
	{ "REQUIRE_SENDER_AUTH",	K_BOOL,  "true" },
	{ "HISTORY_SYNC",		K_BOOL,  "false" },
	{ "BASE_DIR",			K_PATH,  "." },
	{ "CREDENTIALS_DIR",		K_PATH,  "var/credentials/gmail" },
	{ "STORAGE_INCOMING_DIR",	K_PATH,  "var/incoming" },
	{ "STORAGE_QUARANTINE_DIR",	K_PATH,  "var/quarantine" },
	{ "QUOTA_REGIME",		K_REGIME, "2026" },
	{ "QUOTA_LIMIT",		K_INT,   "0" },
	{ "HTTP_TIMEOUT",		K_INT,   "60" },
	{ "HTTP_MAX_TRIES",		K_INT,   "6" },
	{ "GMAIL_USER",			K_STR,   "", 1 },
	{ "GOOGLE_APPLICATION_CREDENTIALS", K_PATH, "", 1 },
	{ "GOOGLE_SERVICE_ACCOUNT_EMAIL", K_STR, "", 1 },
	{ "SEND_MODE",			K_STR,   "draft", 1 },
	{ "ENABLE_TRACKING",		K_BOOL,  "false", 1 },
	{ "PIXEL_TRACKER_BASE_URL",	K_STR,   "", 1 },
	{ "PIXEL_COLLECTION",		K_STR,   "email_opens", 1 },
	{ "DRAFT_COLLECTION",		K_STR,   "email_drafts", 1 },
	{ "HTTPD_USERS_FILE",		K_PATH,  "" },
	{ "HTTPD_TOKEN_FILE",		K_PATH,  "" },
};
#define NKEYS (sizeof(keys) / sizeof(keys[0]))

struct entry {
	char		*raw;		/* the value as given */
	enum ops_origin	 origin;
	long long	 ival;		/* K_BOOL, K_INT */
	char		**list;		/* K_LIST: NULL-terminated */
	char		*path;		/* K_PATH: absolute, or "" */
};

struct ops_config {
	char		*file;
	struct entry	 e[NKEYS];
};

static const char *origin_names[] = { "default", "file", "env", "flag" };

static int
key_index(const char *name)
{
	size_t i;

	for (i = 0; i < NKEYS; i++)
		if (strcmp(keys[i].name, name) == 0)
			return (int)i;
	return -1;
}

static int
must_key(const char *name)
{
	int i = key_index(name);

	if (i < 0)
		ops_die(OPS_EX_SOFTWARE, "internal error: no config key %s",
		    name);
	return i;
}

static void
free_list(char **list)
{
	size_t i;

	if (list == NULL)
		return;
	for (i = 0; list[i] != NULL; i++)
		free(list[i]);
	free(list);
}

static char **
split_list(const char *s)
{
	char **list = ops_xmalloc(sizeof(char *));
	size_t n = 0;
	const char *p = s, *end;

	list[0] = NULL;
	while (*p != '\0') {
		const char *b, *e;
		end = strchr(p, ',');
		if (end == NULL)
			end = p + strlen(p);
		for (b = p; b < end && isspace((unsigned char)*b); b++)
			;
		for (e = end; e > b && isspace((unsigned char)e[-1]); e--)
			;
		if (e > b) {
			list = ops_xrealloc(list, (n + 2) * sizeof(char *));
			list[n++] = ops_xasprintf("%.*s", (int)(e - b), b);
			list[n] = NULL;
		}
		p = *end == ',' ? end + 1 : end;
	}
	return list;
}

static int
parse_bool(const char *s, long long *out)
{
	static const char *yes[] = { "true", "yes", "on", "1" };
	static const char *no[] = { "false", "no", "off", "0" };
	size_t i;

	for (i = 0; i < 4; i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*out = 1;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*out = 0;
			return 0;
		}
	}
	return -1;
}

/* A non-negative integer with an optional K, M or G (binary) suffix. */
static int
parse_size(const char *s, long long *out)
{
	unsigned long long v;
	char *end;
	int shift = 0;

	if (!isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0)
		return -1;
	if (*end == 'k' || *end == 'K')
		shift = 10;
	else if (*end == 'm' || *end == 'M')
		shift = 20;
	else if (*end == 'g' || *end == 'G')
		shift = 30;
	if (shift != 0)
		end++;
	if (*end != '\0' || v > (unsigned long long)LLONG_MAX >> shift)
		return -1;
	*out = (long long)(v << shift);
	return 0;
}

/* Sets key i from raw; NULL on success, else why (static). */
static const char *
set_value(struct ops_config *c, int i, const char *raw, enum ops_origin o)
{
	struct entry *e = &c->e[i];
	long long v = 0;

	switch (keys[i].type) {
	case K_BOOL:
		if (parse_bool(raw, &v) != 0)
			return "not a boolean (true or false)";
		break;
	case K_INT:
		if (parse_size(raw, &v) != 0)
			return "not a non-negative whole number";
		break;
	case K_REGIME:
		if (strcmp(raw, "2026") != 0 && strcmp(raw, "legacy") != 0)
			return "must be 2026 or legacy";
		v = strcmp(raw, "legacy") == 0;
		break;
	default:
		if (strchr(raw, '\n') != NULL || strchr(raw, '\r') != NULL)
			return "contains a line break";
		break;
	}
	free(e->raw);
	free_list(e->list);
	e->list = NULL;
	e->raw = ops_xstrdup(raw);
	e->origin = o;
	e->ival = v;
	if (keys[i].type == K_LIST)
		e->list = split_list(raw);
	return NULL;
}

/* Resolves K_PATH keys: BASE_DIR against the working directory, the
 * others against BASE_DIR. */
static void
resolve_paths(struct ops_config *c)
{
	char cwd[PATH_MAX];
	int b = must_key("BASE_DIR");
	size_t i;

	if (getcwd(cwd, sizeof(cwd)) == NULL)
		ops_dief(OPS_EX_CONFIG, "getcwd");
	free(c->e[b].path);
	c->e[b].path = strcmp(c->e[b].raw, ".") == 0 ? ops_xstrdup(cwd) :
	    ops_path_join(cwd, c->e[b].raw);
	for (i = 0; i < NKEYS; i++) {
		if (keys[i].type != K_PATH || (int)i == b)
			continue;
		free(c->e[i].path);
		c->e[i].path = *c->e[i].raw == '\0' ? ops_xstrdup("") :
		    ops_path_join(c->e[b].path, c->e[i].raw);
	}
}

/* Unquotes a value in place: "..." with \" and \\, or bare text up to a
 * " #" comment. NULL when a quote is not closed. */
static char *
unquote(char *v)
{
	char *r, *w, *p;

	while (isspace((unsigned char)*v))
		v++;
	if (*v == '"') {
		for (r = w = v + 1; *r != '"'; r++) {
			if (*r == '\0')
				return NULL;
			if (*r == '\\' && (r[1] == '"' || r[1] == '\\'))
				r++;
			*w++ = *r;
		}
		for (p = r + 1; isspace((unsigned char)*p); p++)
			;
		if (*p != '\0' && *p != '#')
			return NULL;
		*w = '\0';
		return v + 1;
	}
	for (p = v; *p != '\0'; p++)
		if (*p == '#' && p > v && isspace((unsigned char)p[-1])) {
			*p = '\0';
			break;
		}
	for (p = v + strlen(v); p > v && isspace((unsigned char)p[-1]); p--)
		*(p - 1) = '\0';
	return v;
}

static void
load_file(struct ops_config *c, const char *path)
{
	char *text, *line, *next, *eq, *key, *val, *k;
	size_t len;
	unsigned long lineno = 0;
	const char *why;
	int i;

	text = ops_read_file(path, (size_t)1 << 20, &len, 0);
	if (text == NULL)
		ops_dief(OPS_EX_CONFIG, "%s", path);
	if (strlen(text) != len)
		ops_die(OPS_EX_CONFIG, "%s: NUL byte in configuration", path);
	for (line = text; line != NULL; line = next) {
		next = strchr(line, '\n');
		if (next != NULL)
			*next++ = '\0';
		lineno++;
		for (key = line; isspace((unsigned char)*key); key++)
			;
		if (*key == '\0' || *key == '#')
			continue;
		if (strncmp(key, "export ", 7) == 0)
			key += 7;
		eq = strchr(key, '=');
		if (eq == NULL)
			ops_die(OPS_EX_CONFIG, "%s:%lu: expected KEY=value",
			    path, lineno);
		*eq = '\0';
		for (k = eq; k > key && isspace((unsigned char)k[-1]); k--)
			k[-1] = '\0';
		val = unquote(eq + 1);
		if (val == NULL)
			ops_die(OPS_EX_CONFIG, "%s:%lu: %s: unbalanced quote",
			    path, lineno, key);
		i = key_index(key);
		if (i < 0) {
			ops_warnx("%s:%lu: unknown key %s, ignored", path,
			    lineno, key);
			continue;
		}
		why = set_value(c, i, val, OPS_ORIGIN_FILE);
		if (why != NULL)
			ops_die(OPS_EX_CONFIG, "%s:%lu: %s: %s", path, lineno,
			    key, why);
	}
	free(text);
}

struct ops_config *
ops_config_load(const char *path)
{
	struct ops_config *c = ops_xmalloc(sizeof(*c));
	const char *why, *env;
	char name[128];
	size_t i;

	memset(c, 0, sizeof(*c));
	for (i = 0; i < NKEYS; i++)
		if (set_value(c, (int)i, keys[i].def, OPS_ORIGIN_DEFAULT))
			ops_die(OPS_EX_SOFTWARE, "bad default for %s",
			    keys[i].name);
	if (path == NULL) {
		env = getenv("GMAIL_OPS_CONFIG");
		if (env != NULL && *env != '\0')
			path = env;
		else if (access("etc/gmail-ops.conf", F_OK) == 0)
			path = "etc/gmail-ops.conf";
	}
	if (path != NULL) {
		c->file = ops_xstrdup(path);
		load_file(c, path);
	}
	for (i = 0; i < NKEYS; i++) {
		/* The seed's own variables (GMAIL_USER, ...) count as the
		 * environment too; the prefixed name wins when both are set. */
		snprintf(name, sizeof(name), "%s%s", OPS_ENV_PREFIX,
		    keys[i].name);
		env = getenv(name);
		if (env == NULL && keys[i].seed_env) {
			snprintf(name, sizeof(name), "%s", keys[i].name);
			env = getenv(name);
		}
		if (env == NULL)
			continue;
		why = set_value(c, (int)i, env, OPS_ORIGIN_ENV);
		if (why != NULL)
			ops_die(OPS_EX_CONFIG, "%s: %s", name, why);
	}
	resolve_paths(c);
	return c;
}

void
ops_config_set_flag(struct ops_config *c, const char *key, const char *value)
{
	const char *why;
	int i = key_index(key);

	if (i < 0)
		ops_die(OPS_EX_CONFIG, "unknown configuration key %s", key);
	why = set_value(c, i, value, OPS_ORIGIN_FLAG);
	if (why != NULL)
		ops_die(OPS_EX_CONFIG, "%s: %s", key, why);
	resolve_paths(c);
}

void
ops_config_set_opt(struct ops_config *c, const char *kv)
{
	const char *eq = strchr(kv, '=');
	char *key;

	if (eq == NULL || eq == kv)
		ops_die(OPS_EX_USAGE, "-o %s: expected KEY=value", kv);
	key = ops_xasprintf("%.*s", (int)(eq - kv), kv);
	ops_config_set_flag(c, key, eq + 1);
	free(key);
}

void
ops_config_free(struct ops_config *c)
{
	size_t i;

	if (c == NULL)
		return;
	for (i = 0; i < NKEYS; i++) {
		free(c->e[i].raw);
		free_list(c->e[i].list);
		free(c->e[i].path);
	}
	free(c->file);
	free(c);
}

const char *
ops_config_str(const struct ops_config *c, const char *key)
{
	return c->e[must_key(key)].raw;
}

long long
ops_config_int(const struct ops_config *c, const char *key)
{
	return c->e[must_key(key)].ival;
}

int
ops_config_bool(const struct ops_config *c, const char *key)
{
	return c->e[must_key(key)].ival != 0;
}

char *const *
ops_config_list(const struct ops_config *c, const char *key)
{
	int i = must_key(key);

	if (keys[i].type != K_LIST)
		ops_die(OPS_EX_SOFTWARE, "internal error: %s is no list", key);
	return c->e[i].list;
}

const char *
ops_config_path(const struct ops_config *c, const char *key)
{
	int i = must_key(key);

	if (keys[i].type != K_PATH)
		ops_die(OPS_EX_SOFTWARE, "internal error: %s is no path", key);
	return c->e[i].path;
}

enum ops_origin
ops_config_origin(const struct ops_config *c, const char *key)
{
	return c->e[must_key(key)].origin;
}

const char *
ops_config_file(const struct ops_config *c)
{
	return c->file;
}

char *
ops_config_var(const struct ops_config *c, const char *sub)
{
	return ops_xasprintf("%s/var/%s", ops_config_path(c, "BASE_DIR"), sub);
}

static void
put_shell_quoted(FILE *fp, const char *s)
{
	putc('\'', fp);
	for (; *s != '\0'; s++) {
		if (*s == '\'')
			fputs("'\\''", fp);
		else
			putc(*s, fp);
	}
	putc('\'', fp);
}

void
ops_config_dump(const struct ops_config *c, FILE *fp)
{
	size_t i;

	for (i = 0; i < NKEYS; i++) {
		fprintf(fp, "%s=", keys[i].name);
		put_shell_quoted(fp, keys[i].type == K_PATH ? c->e[i].path :
		    c->e[i].raw);
		fprintf(fp, " # %s\n", origin_names[c->e[i].origin]);
	}
}

static char *
expand_scope(const char *s)
{
	if (strncmp(s, "https://", 8) == 0)
		return ops_xstrdup(s);
	return ops_xasprintf("https://www.googleapis.com/auth/%s", s);
}

char *
ops_config_scopes(const struct ops_config *c)
{
	char *const *list = ops_config_list(c, "SCOPES");
	struct ops_buf b;
	size_t i;

	if (list[0] == NULL) {
		if (ops_config_bool(c, "APPLY_LABELS") ||
		    ops_config_bool(c, "MARK_AS_READ"))
			return expand_scope("gmail.modify");
		return expand_scope("gmail.readonly");
	}
	ops_buf_init(&b, 0);
	for (i = 0; list[i] != NULL; i++) {
		char *s = expand_scope(list[i]);
		if (i > 0)
			ops_buf_addstr(&b, " ");
		ops_buf_addstr(&b, s);
		free(s);
	}
	return ops_buf_steal(&b);
}
