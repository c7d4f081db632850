/* store_policy.c: the receipt policy: who may send receipts (the whitelist
 * and the receiving Gmail server's verdict), and what goes to quarantine. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "gmailops.h"

/* An entry of ALLOWED_SENDERS: an exact address or "@domain", any case. */
static int
sender_listed(const struct ops_config *c, const char *sender)
{
	char *const *list = ops_config_list(c, "ALLOWED_SENDERS");
	size_t slen = strlen(sender), elen, i;

	for (i = 0; list[i] != NULL; i++) {
		elen = strlen(list[i]);
		if (list[i][0] == '@') {
			if (slen > elen &&
			    strcasecmp(sender + slen - elen, list[i]) == 0)
				return 1;
		} else if (strcasecmp(sender, list[i]) == 0)
			return 1;
	}
	return 0;
}

/* d aligns with the From domain: equal, or the From domain is below it
 * (relaxed alignment, as DMARC has it). */
static int
aligned(const char *d, const char *from)
{
	size_t dl, fl;

	if (d == NULL || *d == '\0')
		return 0;
	if (strcasecmp(d, from) == 0)
		return 1;
	dl = strlen(d);
	fl = strlen(from);
	return fl > dl + 1 && from[fl - dl - 1] == '.' &&
	    strcasecmp(from + fl - dl, d) == 0;
}

static int
is_pass(yajl_val auth, const char *key)
{
	const char *v = ops_json_str(auth, key);

	return v != NULL && strcasecmp(v, "pass") == 0;
}

const char *
ops_policy_sender(const struct ops_config *c, const char *sender,
    yajl_val auth)
{
	const char *at, *from, *hdr_from, *dmarc;

	at = sender != NULL ? strrchr(sender, '@') : NULL;
	if (at == NULL || at[1] == '\0' || !sender_listed(c, sender))
		return "sender not allowed";
	if (!ops_config_bool(c, "REQUIRE_SENDER_AUTH"))
		return NULL;
	if (auth == NULL || !YAJL_IS_OBJECT(auth))
		return "sender not authenticated";
	from = at + 1;
	/* The header.from Gmail judged must be the From we whitelisted. */
	hdr_from = ops_json_str(auth, "from_domain");
	if (hdr_from != NULL && strcasecmp(hdr_from, from) != 0)
		return "sender not authenticated";
	dmarc = ops_json_str(auth, "dmarc");
	if (dmarc != NULL && strcasecmp(dmarc, "fail") == 0)
		return "sender not authenticated";
	if ((is_pass(auth, "spf") &&
	    aligned(ops_json_str(auth, "spf_domain"), from)) ||
	    (is_pass(auth, "dkim") &&
	    aligned(ops_json_str(auth, "dkim_domain"), from)))
		return NULL;
	return "sender not authenticated";
}

static int
type_allowed(const struct ops_config *c, const char *type)
{
	char *const *list = ops_config_list(c, "ALLOWED_MIME_TYPES");
	size_t i;

	for (i = 0; list[i] != NULL; i++)
		if (strcasecmp(list[i], type) == 0)
			return 1;
	return 0;
}

char *
ops_policy_quarantine(const struct ops_config *c, long long size,
    const char *sniffed_type, const char *defect)
{
	long long max = ops_config_int(c, "MAX_SIZE_BYTES");

	if (size == 0 || (defect != NULL && strcmp(defect, "empty") == 0))
		return ops_xstrdup("empty");
	if (defect != NULL)
		return ops_xasprintf("corrupt: %s", defect);
	if (sniffed_type == NULL || !type_allowed(c, sniffed_type))
		return ops_xasprintf("type not allowed: %s", sniffed_type !=
		    NULL ? sniffed_type : "unknown");
	if (max > 0 && size > max)
		return ops_xasprintf("too large: %lld bytes, "
		    "MAX_SIZE_BYTES is %lld", size, max);
	return NULL;
}

const char *const *
ops_policy_exts(const char *type)
{
	static const char *const pdf[] = { ".pdf", NULL };
	static const char *const jpeg[] = { ".jpg", ".jpeg", ".jpe",
		".jfif", NULL };
	static const char *const png[] = { ".png", NULL };
	static const char *const gif[] = { ".gif", NULL };
	static const char *const zip[] = { ".zip", NULL };
	static const char *const webp[] = { ".webp", NULL };
	static const char *const tiff[] = { ".tif", ".tiff", NULL };
	static const struct {
		const char		*type;
		const char *const	*exts;
	} map[] = {
		{ "application/pdf", pdf }, { "image/jpeg", jpeg },
		{ "image/png", png }, { "image/gif", gif },
		{ "application/zip", zip }, { "image/webp", webp },
		{ "image/tiff", tiff },
	};
	size_t i;

	if (type == NULL)
		return NULL;
	for (i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (strcasecmp(map[i].type, type) == 0)
			return map[i].exts;
	return NULL;
}
