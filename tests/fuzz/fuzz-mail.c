/* fuzz-mail: mail-send's requests, NDJSON as on its stdin or ops-httpd's
 * POST: ops_mail_parse (addresses through GMime, header injection, ids),
 * then what a draft goes through: stored in its normal form and parsed
 * again it must keep its sha256 (or it could never be sent), and
 * ops_mail_compose must make a message that ops_mime_parse reads; and
 * ops_html_to_text on the HTML, as on a send-as signature. */
#include <stdlib.h>
#include <string.h>

#include "gmailops.h"
#include "common.h"

/* The content as drafts.c stores it. */
static yajl_val
stored(const struct ops_mail *m)
{
	struct ops_jw *w = ops_jw_new();
	const char *text;
	char *copy, err[128];
	yajl_val v;
	size_t len;

	ops_jw_open(w);
	ops_jw_str(w, "to", m->to);
	ops_jw_str(w, "cc", m->cc);
	ops_jw_str(w, "bcc", m->bcc);
	ops_jw_str(w, "subject", m->subject);
	ops_jw_str(w, "body", m->body);
	ops_jw_str(w, "html", m->html);
	ops_jw_str(w, "reply_to", m->reply_to);
	ops_jw_str(w, "thread_id", m->thread_id);
	ops_jw_str(w, "in_reply_to", m->in_reply_to);
	ops_jw_close(w);
	text = ops_jw_text(w, &len);
	FUZZ_CHECK(!ops_jw_failed(w));
	copy = ops_xmalloc(len + 1);
	memcpy(copy, text, len);
	copy[len] = '\0';
	ops_jw_free(w);
	v = ops_json_parse(copy, err, sizeof(err));
	FUZZ_CHECK(v != NULL);
	free(copy);
	return v;
}

static void
compose(const struct ops_mail *m)
{
	struct ops_compose o;
	struct ops_mime_raw raw;
	struct ops_mime_msg msg;
	char why[512], *out, *text, *html;
	size_t len;

	memset(&o, 0, sizeof(o));
	o.from_addr = "sender@example.com";
	o.from_name = "Sender Name";
	o.signature = "<div dir=\"ltr\">-- <br>Sender &amp; Co</div>";
	o.pixel_url = "https://track.example.com/0b6e5c1e.gif";
	o.message_id = "fuzz.1@example.com";
	o.date = 1800000000;
	out = ops_mail_compose(m, &o, &len, &text, &html, why, sizeof(why));
	if (out == NULL)
		fuzz_fail(why, __FILE__, __LINE__);
	memset(&raw, 0, sizeof(raw));
	raw.data = (unsigned char *)out;
	raw.len = raw.size = len;
	FUZZ_CHECK(ops_mime_parse(&raw, &msg) == 0);
	ops_mime_free(&msg);
	free(text);
	free(html);
}

static void
request(yajl_val v)
{
	struct ops_mail m, again;
	char why[512], sha[65], sha2[65], *t;
	yajl_val rec;

	if (ops_mail_parse(v, "message", 1, &m, why, sizeof(why)) != 0) {
		FUZZ_CHECK(*why != '\0');
		return;
	}
	FUZZ_CHECK(m.to != NULL && m.subject != NULL);
	FUZZ_CHECK(m.body != NULL || m.html != NULL);
	FUZZ_CHECK(m.nrcpt > 0 && m.nrcpt <= OPS_MAIL_MAX_RCPT);
	ops_mail_sha256(&m, sha);
	rec = stored(&m);
	if (ops_mail_parse(rec, "body", 0, &again, why, sizeof(why)) != 0)
		fuzz_fail(why, __FILE__, __LINE__);
	ops_mail_sha256(&again, sha2);
	FUZZ_CHECK(strcmp(sha, sha2) == 0);
	ops_mail_free(&again);
	yajl_tree_free(rec);
	compose(&m);
	if (m.html != NULL) {
		t = ops_html_to_text(m.html);
		free(t);
	}
	ops_mail_free(&m);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	ops_setprogname("fuzz-mail");
	ops_mime_init();
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ops_ndjson *nd;
	char *text;
	yajl_val v;
	FILE *fp;

	fp = fuzz_memstream(data, size);
	nd = ops_ndjson_open(fp, "fuzz", 0);
	while (ops_ndjson_next(nd, &v) == 1) {
		request(v);
		yajl_tree_free(v);
	}
	ops_ndjson_close(nd);
	fclose(fp);
	/* The whole input as HTML, as a send-as signature can be. */
	text = fuzz_str(data, size);
	free(ops_html_to_text(text));
	free(text);
	return 0;
}
