/* fuzz-sanitize: the receipt file name sanitiser (ops_store_sanitize).
 * Input: the sniffed type on the first line (empty: none), the name
 * after it. Every promise of gmailops.h is checked: one component, no
 * "..", no control or bidi characters, no leading dot, dash or space,
 * valid UTF-8, at most 200 bytes, the type's extension; and a sanitised
 * name stays as it is (unless the name was cut to 200 bytes: the cut can
 * leave a new extension, with a space before it, that a second pass
 * tidies). */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "gmailops.h"
#include "common.h"

#define NAME_MAX_BYTES	200

/* The characters store_files.c drops: C0, C1, DEL, bidi marks and
 * overrides, invisible separators, BOM. */
static int
unwanted(unsigned long c)
{
	return c < 0x20 || (c >= 0x7f && c <= 0x9f) || c == 0x061c ||
	    c == 0x200b || c == 0x200e || c == 0x200f ||
	    (c >= 0x2028 && c <= 0x202e) || (c >= 0x2060 && c <= 0x2069) ||
	    c == 0xfeff;
}

/* The code point at s (valid UTF-8) and its length. */
static size_t
decode(const unsigned char *s, unsigned long *c)
{
	if (s[0] < 0x80) {
		*c = s[0];
		return 1;
	}
	if ((s[0] & 0xe0) == 0xc0) {
		*c = (unsigned long)(s[0] & 0x1f) << 6 | (s[1] & 0x3f);
		return 2;
	}
	if ((s[0] & 0xf0) == 0xe0) {
		*c = (unsigned long)(s[0] & 0x0f) << 12 |
		    (unsigned long)(s[1] & 0x3f) << 6 | (s[2] & 0x3f);
		return 3;
	}
	*c = (unsigned long)(s[0] & 0x07) << 18 |
	    (unsigned long)(s[1] & 0x3f) << 12 |
	    (unsigned long)(s[2] & 0x3f) << 6 | (s[3] & 0x3f);
	return 4;
}

static void
check(const char *out, const char *type)
{
	const char *const *exts = ops_policy_exts(type);
	const unsigned char *p;
	unsigned long c;
	size_t n = strlen(out), i, e;
	int ok;

	FUZZ_CHECK(n > 0 && n <= NAME_MAX_BYTES);
	FUZZ_CHECK(strchr(out, '/') == NULL && strchr(out, '\\') == NULL);
	FUZZ_CHECK(out[0] != '.' && out[0] != '-' && out[0] != ' ');
	FUZZ_CHECK(strstr(out, "..") == NULL);
	FUZZ_CHECK(fuzz_utf8_ok(out, n));
	for (p = (const unsigned char *)out; *p != '\0'; ) {
		p += decode(p, &c);
		FUZZ_CHECK(!unwanted(c));
	}
	if (exts != NULL) {
		ok = 0;
		for (i = 0; exts[i] != NULL; i++) {
			e = strlen(exts[i]);
			if (n > e && strcasecmp(out + n - e, exts[i]) == 0)
				ok = 1;
		}
		FUZZ_CHECK(ok);
	}
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	ops_setprogname("fuzz-sanitize");
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *in = fuzz_str(data, size), *nl, *type, *name, *out, *again;

	nl = strchr(in, '\n');
	if (nl != NULL) {
		*nl = '\0';
		type = *in != '\0' ? in : NULL;
		name = nl + 1;
	} else {
		type = NULL;
		name = in;
	}
	out = ops_store_sanitize(name, type);
	FUZZ_CHECK(out != NULL);
	check(out, type);
	if (strlen(name) <= NAME_MAX_BYTES) {
		again = ops_store_sanitize(out, type);
		FUZZ_CHECK(strcmp(again, out) == 0);
		free(again);
	}
	free(out);
	free(in);
	return 0;
}
