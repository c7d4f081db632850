/* fuzz-mime: one raw message through mime-extract's library path:
 * ops_mime_parse (header checks, GMime parse, headers, the bounded walk,
 * Authentication-Results, links) and ops_mime_decode of every part (hash,
 * sniff, end checks, base64), with the promises of gmailops.h checked. */
#include <stdlib.h>
#include <string.h>

#include "gmailops.h"
#include "common.h"

static void
check_str(const char *s)
{
	if (s != NULL)
		FUZZ_CHECK(*s != '\0' && fuzz_utf8_ok(s, strlen(s)));
}

static void
check_msg(const struct ops_mime_msg *m)
{
	size_t i;

	FUZZ_CHECK(strlen(m->raw_sha256) == 64);
	check_str(m->message_id);
	check_str(m->sender);
	check_str(m->sender_name);
	check_str(m->subject);
	FUZZ_CHECK(m->nlinks <= OPS_MIME_MAX_LINKS);
	for (i = 0; i < m->nlinks; i++)
		check_str(m->links[i]);
	FUZZ_CHECK(m->nparts <= OPS_MIME_MAX_PARTS);
	for (i = 0; i < m->nparts; i++) {
		FUZZ_CHECK(m->parts[i].path != NULL);
		check_str(m->parts[i].filename);
		check_str(m->parts[i].content_type);
	}
	if (m->has_auth)
		FUZZ_CHECK(m->auth.authserv != NULL &&
		    strcmp(m->auth.authserv, OPS_MIME_AUTHSERV) == 0);
}

static void
check_body(const struct ops_mime_body *b)
{
	FUZZ_CHECK(strlen(b->sha256) == 64);
	FUZZ_CHECK(b->sniffed != NULL);
	FUZZ_CHECK(b->data != NULL);
	FUZZ_CHECK(strlen(b->data) == (b->size + 2) / 3 * 4);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	ops_setprogname("fuzz-mime");
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ops_mime_raw raw;
	struct ops_mime_msg m;
	struct ops_mime_body b;
	size_t i;

	memset(&raw, 0, sizeof(raw));
	raw.data = ops_xmalloc(size);
	memcpy(raw.data, data, size);
	raw.len = raw.size = size;
	if (ops_mime_parse(&raw, &m) == 0)
		FUZZ_CHECK(raw.data == NULL);
	free(raw.data);
	check_msg(&m);
	for (i = 0; i < m.nparts; i++) {
		if (ops_mime_decode(&m.parts[i], OPS_MIME_OUT_DATA, NULL,
		    &b) == 0)
			check_body(&b);
		ops_mime_body_free(&b);
	}
	ops_mime_free(&m);
	return 0;
}
