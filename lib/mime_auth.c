/* mime_auth.c: the verdicts of an Authentication-Results header (RFC 8601):
 *
 *   mx.google.com; dkim=pass header.i=@example.com header.s=s1;
 *     spf=pass (google.com: domain of ...) smtp.mailfrom=b@example.com;
 *     dmarc=pass (p=REJECT) header.from=example.com
 *
 * Only the receiving server's own header can be believed: any other was
 * written by whoever sent the mail. Choosing that header is the caller's
 * job (the topmost one naming the server); this file reads one. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "gmailops.h"

#define AUTH_MAX_VALUE	(64 << 10)	/* one header's value */
#define AUTH_MAX_TOKEN	1024

/* A copy of s without comments (nested, with quoted pairs) and with line
 * breaks as spaces, quoted strings kept. Caller frees. */
static char *
strip_comments(const char *s)
{
	size_t n = strlen(s);
	char *out, *o;
	int depth = 0, quoted = 0;

	if (n > AUTH_MAX_VALUE)
		n = AUTH_MAX_VALUE;
	out = o = ops_xmalloc(n + 1);
	for (; n > 0 && *s != '\0'; s++, n--) {
		char c = *s == '\r' || *s == '\n' || *s == '\t' ? ' ' : *s;

		if (c == '\\' && (depth > 0 || quoted) && n > 1) {
			if (depth == 0) {
				*o++ = c;
				*o++ = s[1];
			}
			s++, n--;
			continue;
		}
		if (quoted) {
			if (c == '"')
				quoted = 0;
			*o++ = c;
		} else if (c == '(') {
			depth++;
		} else if (c == ')' && depth > 0) {
			if (--depth == 0)
				*o++ = ' ';
		} else if (depth == 0) {
			if (c == '"')
				quoted = 1;
			*o++ = c;
		}
	}
	*o = '\0';
	return out;
}

/* Next token of a resinfo: "name=value" with blanks around '=' and '.'
 * allowed, a quoted value unquoted. Lowercases the name. 0 at the end. */
static int
next_prop(const char **sp, char *name, size_t namelen, char *val,
    size_t vallen)
{
	const char *s = *sp;
	size_t i = 0;

	while (*s == ' ')
		s++;
	if (*s == '\0')
		return 0;
	while (*s != '\0' && *s != ' ' && *s != '=') {
		if (i + 1 < namelen)
			name[i++] = (char)tolower((unsigned char)*s);
		s++;
		/* "header . i" */
		if (s[-1] == '.' || (*s == ' ' && s[strspn(s, " ")] == '.'))
			s += strspn(s, " ");
	}
	name[i] = '\0';
	i = 0;
	s += strspn(s, " ");
	if (*s == '=') {
		s++;
		s += strspn(s, " ");
		if (*s == '"') {
			for (s++; *s != '\0' && *s != '"'; s++) {
				if (*s == '\\' && s[1] != '\0')
					s++;
				if (i + 1 < vallen)
					val[i++] = *s;
			}
			if (*s == '"')
				s++;
		} else {
			for (; *s != '\0' && *s != ' '; s++)
				if (i + 1 < vallen)
					val[i++] = *s;
		}
	}
	val[i] = '\0';
	*sp = s;
	return 1;
}

static char *
lowerdup(const char *s)
{
	char *d = ops_xstrdup(s), *p;

	for (p = d; *p != '\0'; p++)
		*p = (char)tolower((unsigned char)*p);
	return d;
}

/* The domain of "local@domain", "@domain" or "domain"; caller frees. */
static char *
domain_of(const char *v)
{
	const char *at = strrchr(v, '@');

	if (at != NULL)
		v = at + 1;
	return *v != '\0' ? lowerdup(v) : NULL;
}

/* d is f, or one is a subdomain of the other (relaxed alignment, with
 * the organisational domain approximated by the suffix). */
static int
aligned(const char *d, const char *f)
{
	size_t dn, fn;

	if (d == NULL || f == NULL)
		return 0;
	dn = strlen(d);
	fn = strlen(f);
	if (dn == fn)
		return strcmp(d, f) == 0;
	if (dn > fn)
		return d[dn - fn - 1] == '.' && strcmp(d + dn - fn, f) == 0;
	return f[fn - dn - 1] == '.' && strcmp(f + fn - dn, d) == 0;
}

/* One resinfo ("dkim=pass header.i=@x"): fills a if it is a method we
 * want and its slot is still free. */
static void
resinfo(char *seg, struct ops_mime_auth *a, int *dkim_good)
{
	char name[64], val[AUTH_MAX_TOKEN], *result, *dom = NULL;
	char *hd = NULL, *hi = NULL;
	const char *s = seg;

	if (!next_prop(&s, name, sizeof(name), val, sizeof(val)) ||
	    *val == '\0')
		return;
	if (strcmp(name, "dkim") != 0 && strcmp(name, "spf") != 0 &&
	    strcmp(name, "dmarc") != 0)
		return;
	result = lowerdup(val);
	if (strcmp(name, "dkim") == 0) {
		char pname[64];

		while (next_prop(&s, pname, sizeof(pname), val, sizeof(val))) {
			if (strcmp(pname, "header.d") == 0 && hd == NULL)
				hd = domain_of(val);
			else if (strcmp(pname, "header.i") == 0 && hi == NULL)
				hi = domain_of(val);
		}
		if (hd != NULL) {
			free(hi);
			dom = hd;
		} else
			dom = hi;
		/* The first result, unless a later one passes for the From
		 * domain: a mailing service signs too, often first. */
		if (a->dkim == NULL || (!*dkim_good && strcmp(result,
		    "pass") == 0 && aligned(dom, a->from_domain))) {
			free(a->dkim);
			free(a->dkim_domain);
			a->dkim = result;
			a->dkim_domain = dom;
			*dkim_good = strcmp(result, "pass") == 0 &&
			    aligned(dom, a->from_domain);
			return;
		}
	} else if (strcmp(name, "spf") == 0 && a->spf == NULL) {
		char pname[64];

		while (next_prop(&s, pname, sizeof(pname), val, sizeof(val)))
			if (strcmp(pname, "smtp.mailfrom") == 0 && dom == NULL)
				dom = domain_of(val);
		a->spf = result;
		a->spf_domain = dom;
		return;
	} else if (strcmp(name, "dmarc") == 0 && a->dmarc == NULL) {
		char pname[64];

		while (next_prop(&s, pname, sizeof(pname), val, sizeof(val)))
			if (strcmp(pname, "header.from") == 0 && dom == NULL)
				dom = domain_of(val);
		a->dmarc = result;
		a->dmarc_domain = dom;
		return;
	}
	free(dom);
	free(result);
}

int
ops_mime_auth_parse(const char *value, const char *authserv,
    struct ops_mime_auth *a)
{
	char *text = strip_comments(value), *seg, *next, *id;
	int dkim_good = 0, quoted;
	size_t n;

	/* authserv-id [version] */
	id = text + strspn(text, " ");
	n = strcspn(id, " ;");
	if (n != strlen(authserv) || strncasecmp(id, authserv, n) != 0) {
		free(text);
		return 0;
	}
	a->authserv = ops_xstrdup(authserv);
	for (seg = strchr(id, ';'); seg != NULL; seg = next) {
		seg++;
		/* ';' ends a resinfo outside a quoted string. */
		quoted = 0;
		for (next = seg; *next != '\0'; next++) {
			if (*next == '\\' && quoted && next[1] != '\0')
				next++;
			else if (*next == '"')
				quoted = !quoted;
			else if (*next == ';' && !quoted)
				break;
		}
		if (*next == ';')
			*next = '\0';
		else
			next = NULL;
		resinfo(seg, a, &dkim_good);
	}
	free(text);
	return 1;
}

void
ops_mime_auth_free(struct ops_mime_auth *a)
{
	free(a->authserv);
	free(a->dkim);
	free(a->dkim_domain);
	free(a->spf);
	free(a->spf_domain);
	free(a->dmarc);
	free(a->dmarc_domain);
	free(a->from_domain);
	memset(a, 0, sizeof(*a));
}
