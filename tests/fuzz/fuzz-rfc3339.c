/* fuzz-rfc3339: the times read from Google's answers and token files
 * (ops_parse_rfc3339: RFC 3339, offsets, fractions, Python's naive
 * isoformat) and the --since date (ops_gmail_date). The text is
 * allocated to its exact size, so a read past its end is seen. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gmailops.h"
#include "common.h"

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	ops_setprogname("fuzz-rfc3339");
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fuzz_str(data, size), out[16], back[32];
	double t, t2;

	if (ops_parse_rfc3339(s, &t) == 0) {
		FUZZ_CHECK(isfinite(t));
		/* Whole seconds in UTC read back as they were written. */
		if (t >= 0 && t < 253402300800.0) {
			ops_iso8601((time_t)floor(t), back, sizeof(back));
			FUZZ_CHECK(ops_parse_rfc3339(back, &t2) == 0 &&
			    t2 == floor(t));
		}
	}
	if (ops_gmail_date(s, out, sizeof(out)) == 0)
		FUZZ_CHECK(strlen(out) == 10 && out[4] == '/' && out[7] == '/');
	free(s);
	return 0;
}
