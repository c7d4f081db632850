/* fuzz-mime-src: mime-extract's input side: ops_mime_peek telling NDJSON,
 * an mbox and one RFC 822 message apart, ops_mime_src splitting an mbox
 * (mboxrd unquoting, a small size bound so big messages are counted and
 * hashed only), gmail-fetch records' base64 "raw", and each message
 * parsed. A message too large to hold comes with its sha256; a held
 * one's size must be its bytes', and the parse's raw_sha256 theirs. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "gmailops.h"
#include "common.h"

#define SRC_MAX	2048	/* bytes held per message: larger ones are over */

/* The sha256 the parse must give: the source's for a message too large
 * to hold, the bytes' own for a held one. */
static void
check_raw(const struct ops_mime_raw *r, char want[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen;

	if (r->data == NULL) {
		FUZZ_CHECK(r->size > SRC_MAX && strlen(r->sha256) == 64);
		memcpy(want, r->sha256, 65);
		return;
	}
	FUZZ_CHECK(r->len <= SRC_MAX && r->size == r->len);
	FUZZ_CHECK(r->sha256[0] == '\0');
	FUZZ_CHECK(EVP_Digest(r->data, r->len, md, &mdlen, EVP_sha256(),
	    NULL) == 1);
	ops_hex(md, mdlen, want);
}

static void
parse(struct ops_mime_raw *raw, const char *want)
{
	struct ops_mime_msg m;

	(void)ops_mime_parse(raw, &m);
	if (want != NULL)
		FUZZ_CHECK(strcmp(m.raw_sha256, want) == 0);
	ops_mime_free(&m);
	free(raw->data);		/* a refused message's */
	raw->data = NULL;
}

/* As mime-extract: base64url or base64, line breaks allowed. */
static void
fetch_record(yajl_val v)
{
	struct ops_mime_raw raw;
	const char *s;
	char *flat, *o;
	yajl_val rv = ops_json_get(v, "raw");

	if (rv == NULL || !YAJL_IS_STRING(rv))
		return;
	s = YAJL_GET_STRING(rv);
	flat = o = ops_xmalloc(strlen(s) + 1);
	for (; *s != '\0'; s++)
		if (strchr(" \t\r\n", *s) == NULL)
			*o++ = *s;
	memset(&raw, 0, sizeof(raw));
	raw.data = ops_b64_decode(flat, (size_t)(o - flat), &raw.len);
	free(flat);
	if (raw.data == NULL)
		return;
	raw.size = raw.len;
	parse(&raw, NULL);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	ops_setprogname("fuzz-mime-src");
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	enum ops_mime_kind kind;
	struct ops_mime_src *src;
	struct ops_mime_raw raw;
	struct ops_ndjson *nd;
	unsigned long n = 0;
	yajl_val v;
	FILE *fp, *in;
	char want[65];
	int fd, rc;

	fd = fuzz_memfd(data, size);
	fp = fdopen(fd, "r");
	if (fp == NULL) {
		close(fd);
		return 0;
	}
	in = ops_mime_peek(fp, &kind);
	FUZZ_CHECK(in != NULL);
	if (kind == OPS_MIME_NDJSON) {
		nd = ops_ndjson_open(in, "fuzz", 0);
		while (ops_ndjson_next(nd, &v) == 1) {
			fetch_record(v);
			yajl_tree_free(v);
		}
		ops_ndjson_close(nd);
	} else {
		src = ops_mime_src_open(in, kind, SRC_MAX);
		for (;;) {
			rc = ops_mime_src_next(src, &raw);
			if (rc != 1)
				break;
			FUZZ_CHECK(raw.n == ++n);
			check_raw(&raw, want);
			parse(&raw, want);
		}
		FUZZ_CHECK(rc == 0);
		/* One RFC 822 stream is one message, even an empty one. */
		FUZZ_CHECK(kind == OPS_MIME_MBOX || n == 1);
		ops_mime_src_close(src);
	}
	fclose(in);
	fclose(fp);
	return 0;
}
