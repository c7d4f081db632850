/* fuzz-ndjson: the NDJSON reader (ops_ndjson_open/next) over a
 * descriptor (read(2) in chunks, as from a pipe or file) and over a
 * stream without one (stdio, a line at a time): both must give the same
 * records, line count and bad-line count; a tiny line cap must not change
 * the line count. Each record is written back with the JSON writer. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gmailops.h"
#include "common.h"

#define SMALL_LINE	64

struct result {
	struct ops_buf	 text;		/* the records, one per line */
	unsigned long	 lines, bad, records;
};

static void
read_all(FILE *fp, size_t maxline, struct result *res)
{
	struct ops_ndjson *r = ops_ndjson_open(fp, "fuzz", maxline);
	struct ops_jw *w = ops_jw_new();
	const char *text;
	yajl_val v;
	size_t len;

	ops_buf_init(&res->text, 0);
	res->records = 0;
	while (ops_ndjson_next(r, &v) == 1) {
		FUZZ_CHECK(v != NULL && YAJL_IS_OBJECT(v));
		res->records++;
		ops_jw_value(w, v);
		text = ops_jw_text(w, &len);
		ops_buf_add(&res->text, text, len);
		ops_buf_add(&res->text, "\n", 1);
		ops_jw_reset(w);
		yajl_tree_free(v);
	}
	res->lines = ops_ndjson_lineno(r);
	res->bad = ops_ndjson_bad(r);
	ops_ndjson_close(r);
	ops_jw_free(w);
}

static void
same(const struct result *a, const struct result *b)
{
	FUZZ_CHECK(a->lines == b->lines);
	FUZZ_CHECK(a->bad == b->bad);
	FUZZ_CHECK(a->records == b->records);
	FUZZ_CHECK(a->text.len == b->text.len);
	FUZZ_CHECK(a->text.len == 0 ||
	    memcmp(a->text.data, b->text.data, a->text.len) == 0);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	ops_setprogname("fuzz-ndjson");
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct result byfd, bystdio, small;
	FILE *fp;
	int fd;

	fd = fuzz_memfd(data, size);
	fp = fdopen(fd, "r");
	FUZZ_CHECK(fp != NULL);
	read_all(fp, 0, &byfd);
	fclose(fp);

	fp = fuzz_memstream(data, size);
	read_all(fp, 0, &bystdio);
	fclose(fp);
	same(&byfd, &bystdio);

	fd = fuzz_memfd(data, size);
	fp = fdopen(fd, "r");
	FUZZ_CHECK(fp != NULL);
	read_all(fp, SMALL_LINE, &small);
	fclose(fp);
	FUZZ_CHECK(small.lines == byfd.lines);
	FUZZ_CHECK(small.records + small.bad >= byfd.records);

	ops_buf_free(&byfd.text);
	ops_buf_free(&bystdio.text);
	ops_buf_free(&small.text);
	return 0;
}
