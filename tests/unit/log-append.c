/* log-append: writes N events to the JSONL event log of JOB, as a tool
 * would; several at once test that lines never mix. For tests. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "gmailops.h"

int
main(int argc, char *argv[])
{
	struct ops_config *c;
	struct ops_log *l;
	struct ops_jw *w;
	long i, n;

	ops_setprogname("log-append");
	if (argc != 3)
		ops_die(OPS_EX_USAGE, "usage: log-append job count");
	n = atol(argv[2]);
	c = ops_config_load(NULL);
	l = ops_log_open(c, argv[1]);
	for (i = 0; i < n; i++) {
		w = ops_log_begin(l, "test");
		ops_jw_int(w, "pid", (long long)getpid());
		ops_jw_int(w, "seq", i);
		ops_jw_str(w, "pad", "0123456789abcdef0123456789abcdef0123456789"
		    "abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
		if (ops_log_end(l) != 0)
			return OPS_EX_IOERR;
	}
	printf("%s\n", ops_log_path(l));
	ops_log_close(l);
	ops_config_free(c);
	return ops_close_stdout();
}
