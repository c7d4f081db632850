/* ndjson-echo: reads NDJSON with the library's reader and writes each
 * record back with its writer; exits 1 when a line was bad. For tests. */
#include <stdio.h>
#include <stdlib.h>

#include "gmailops.h"

int
main(int argc, char *argv[])
{
	struct ops_ndjson *r;
	struct ops_jw *w = ops_jw_new();
	size_t maxline = argc > 1 ? strtoul(argv[1], NULL, 10) : 0;
	yajl_val v;
	int rc;

	ops_setprogname("ndjson-echo");
	r = ops_ndjson_open(stdin, NULL, maxline);
	while ((rc = ops_ndjson_next(r, &v)) == 1) {
		ops_jw_value(w, v);
		yajl_tree_free(v);
		if (ops_jw_emit(w, stdout) != 0)
			ops_die(OPS_EX_IOERR, "stdout: write error");
	}
	fprintf(stderr, "ndjson-echo: %lu lines, %lu bad\n",
	    ops_ndjson_lineno(r), ops_ndjson_bad(r));
	rc = rc < 0 ? OPS_EX_IOERR : ops_ndjson_bad(r) > 0 ? OPS_EX_PARTIAL : 0;
	ops_ndjson_close(r);
	ops_jw_free(w);
	return rc != 0 ? rc : ops_close_stdout();
}
