/* lib-units: small checks of lib/ pieces that have no tool of their own:
 * base64, URL parsing, RFC 3339 times, backoff bounds, method names,
 * form fields, HTML escaping, PBKDF2 hashes, CSRF tokens and the JSON
 * writer's depth. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gmailops.h"

static int failures;

#define CHECK(cond) do { if (!(cond)) { \
	printf("FAIL: %s:%d: %s\n", __FILE__, __LINE__, #cond); \
	failures++; } } while (0)

static void
test_b64(void)
{
	size_t n;
	unsigned char *d;
	char *e;

	e = ops_b64url_encode("\xfb\xff", 2);
	CHECK(strcmp(e, "-_8") == 0);
	free(e);
	e = ops_b64_encode("ab", 2);
	CHECK(strcmp(e, "YWI=") == 0);
	free(e);
	d = ops_b64_decode("-_8", 3, &n);
	CHECK(d != NULL && n == 2 && d[0] == 0xfb && d[1] == 0xff);
	free(d);
	d = ops_b64_decode("YWI=", 4, &n);
	CHECK(d != NULL && n == 2 && memcmp(d, "ab", 2) == 0);
	free(d);
	d = ops_b64_decode("YWJjZA", 6, &n);		/* a group and a rest */
	CHECK(d != NULL && n == 4 && memcmp(d, "abcd", 4) == 0);
	free(d);
	d = ops_b64_decode("YWJjZGU", 7, &n);
	CHECK(d != NULL && n == 5 && memcmp(d, "abcde", 5) == 0);
	free(d);
	CHECK(ops_b64_decode("YWJjZ", 5, &n) == NULL);
	CHECK(ops_b64_decode("YW=j", 4, &n) == NULL);
	CHECK(ops_b64_decode("YWJ\n", 4, &n) == NULL);
	CHECK(ops_b64_decode("a", 1, &n) == NULL);
	CHECK(ops_b64_decode("a*bc", 4, &n) == NULL);
	{
		/* in place, to the start of the buffer, line breaks out */
		char s[] = "xxYWJj\r\nZGU";

		CHECK(ops_b64_decode_to(s + 2, strlen(s + 2),
		    (unsigned char *)s, &n) == 0 && n == 5 &&
		    memcmp(s, "abcde", 5) == 0);
		strcpy(s, "YW*j");
		CHECK(ops_b64_decode_to(s, strlen(s), (unsigned char *)s,
		    &n) == -1);
	}
}

static void
test_json_find(void)
{
	const char *t = "{\"id\":\"m1\",\"a\":{\"raw\":\"no\"},\"raw\":\"QUJD\"}";
	size_t off, len;

	CHECK(ops_json_find_str(t, strlen(t), "raw", &off, &len) == 0 &&
	    len == 4 && memcmp(t + off, "QUJD", 4) == 0);	/* top level */
	CHECK(ops_json_find_str(t, strlen(t), "id", &off, &len) == 0 &&
	    len == 2 && memcmp(t + off, "m1", 2) == 0);
	t = "{\"raw\":\"QU\\nJD\"}";			/* escaped: not as is */
	CHECK(ops_json_find_str(t, strlen(t), "raw", &off, &len) == -1);
	t = "{\"raw\":12}";
	CHECK(ops_json_find_str(t, strlen(t), "raw", &off, &len) == -1);
	t = "{\"raw\":\"QUJD\"";				/* not whole */
	CHECK(ops_json_find_str(t, strlen(t), "raw", &off, &len) == -1);
}

/* The streaming MIME decoder on IN, fed in pieces of STEP bytes. */
static size_t
mime_b64(const char *in, size_t step, unsigned char *out)
{
	struct ops_b64_dec d;
	size_t len = strlen(in), i, o = 0, k;

	ops_b64_dec_init(&d);
	for (i = 0; i < len; i += k) {
		k = len - i < step ? len - i : step;
		o += ops_b64_dec_step(&d, in + i, k, out + o);
	}
	return o + ops_b64_dec_end(&d, out + o);
}

static void
test_b64_stream(void)
{
	static const struct {
		const char *in, *out;
	} t[] = {
		{ "YWJjZA==", "abcd" },
		{ "YWJj\r\nZGVm\r\n", "abcdef" },	/* folded */
		{ "YW Jj*Z\tA=\n=", "abcd" },		/* junk skipped */
		{ "YWJjZGU", "abcde" },			/* no padding */
		{ "YWJjZA", "abcd" },
		{ "YWJjZ", "abc" },			/* a lone char */
		{ "YWI=\n\n--b-->\nmore text", "ab" },	/* ends at '=' */
		{ "=YWI=", "ab" },			/* '=' first: none */
		{ "Y=WI=", "ab" },
		{ "-_8", "" },				/* not MIME base64 */
		{ "", "" },
	};
	unsigned char out[64];
	size_t i, step, n;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		for (step = 1; step <= 9; step++) {
			n = mime_b64(t[i].in, step, out);
			if (n != strlen(t[i].out) || memcmp(out, t[i].out,
			    n) != 0) {
				printf("FAIL: mime base64 \"%s\" in steps of "
				    "%zu: %zu bytes\n", t[i].in, step, n);
				failures++;
			}
		}
}

static void
test_urls(void)
{
	CHECK(ops_url_is_loopback("http://127.0.0.1:8080/x"));
	CHECK(ops_url_is_loopback("http://127.9.9.9/"));
	CHECK(ops_url_is_loopback("http://localhost/"));
	CHECK(ops_url_is_loopback("http://[::1]:99/"));
	CHECK(!ops_url_is_loopback("http://128.0.0.1/"));
	CHECK(!ops_url_is_loopback("http://127.0.0.1.evil.example/"));
	CHECK(!ops_url_is_loopback("http://example.com/"));
	CHECK(ops_url_is_https("https://gmail.googleapis.com"));
}

static void
test_time(void)
{
	double t;

	CHECK(ops_parse_rfc3339("2026-11-21T10:00:05.250Z", &t) == 0 &&
	    t == 1795255205.25);
	CHECK(ops_parse_rfc3339("2026-11-21T11:00:05+01:00", &t) == 0 &&
	    t == 1795255205.0);
	CHECK(ops_parse_rfc3339("2026-11-21T10:00:05.250000", &t) == 0);
	CHECK(ops_parse_rfc3339("yesterday", &t) != 0);
	CHECK(ops_parse_rfc3339("2026-11-21T04:30:05-05:30", &t) == 0 &&
	    t == 1795255205.0);
	CHECK(ops_parse_rfc3339("2026-11-21T10:00:05+1:2", &t) != 0);
}

static void
test_backoff(void)
{
	double w, lo = 1e9, hi = 0;
	int i, r;

	for (r = 1; r <= 8; r++)
		for (i = 0; i < 200; i++) {
			w = ops_backoff(r, 1.0, 32.0);
			CHECK(w >= 1.0 && w <= 32.0);
			if (r == 1 && w < lo)
				lo = w;
			if (r == 8 && w > hi)
				hi = w;
		}
	CHECK(lo >= 1.0 && lo < 1.2);		/* jitter spreads the first */
	CHECK(hi > 20.0);			/* and the cap is reached */
}

static void
test_methods(void)
{
	CHECK(strcmp(ops_quota_method("GET",
	    "/gmail/v1/users/me/messages/abc"), "messages.get") == 0);
	CHECK(strcmp(ops_quota_method("GET",
	    "/gmail/v1/users/me/messages"), "messages.list") == 0);
	CHECK(strcmp(ops_quota_method("POST",
	    "/gmail/v1/users/me/messages/batchModify"),
	    "messages.batchModify") == 0);
	CHECK(strcmp(ops_quota_method("POST",
	    "/gmail/v1/users/me/messages/abc/modify"), "messages.modify") == 0);
	CHECK(strcmp(ops_quota_method("GET",
	    "/gmail/v1/users/me/messages/a/attachments/b"),
	    "messages.attachments.get") == 0);
	CHECK(strcmp(ops_quota_method("GET", "/gmail/v1/users/me/profile"),
	    "getProfile") == 0);
	CHECK(strcmp(ops_quota_method("POST",
	    "/upload/gmail/v1/users/me/messages/send"), "messages.send") == 0);
	CHECK(strcmp(ops_quota_method("GET",
	    "/gmail/v1/users/me/settings/sendAs/a@b"),
	    "settings.sendAs.get") == 0);
	CHECK(strcmp(ops_quota_method("GET", "/gmail/v1/users/me/history"),
	    "history.list") == 0);
	CHECK(ops_quota_method("POST", "/token") == NULL);
}

static void
test_http_forms(void)
{
	static const char body[] = "a=1&csrf=12.ab%2Bc&msg=x+y%26z%C3%A9&nul=a%00b&e=";
	struct ops_buf b;
	char *v;

	v = ops_httpd_form(body, strlen(body), "csrf");
	CHECK(v != NULL && strcmp(v, "12.ab+c") == 0);
	free(v);
	v = ops_httpd_form(body, strlen(body), "msg");
	CHECK(v != NULL && strcmp(v, "x y&z\xc3\xa9") == 0);
	free(v);
	v = ops_httpd_form(body, strlen(body), "e");
	CHECK(v != NULL && *v == '\0');
	free(v);
	CHECK(ops_httpd_form(body, strlen(body), "nul") == NULL);
	CHECK(ops_httpd_form(body, strlen(body), "ms") == NULL);
	CHECK(ops_httpd_form(body, 3, "csrf") == NULL);	/* bounded by len */
	ops_buf_init(&b, 0);
	ops_html_esc(&b, "<a href=\"x\">O'K & more</a>");
	CHECK(strcmp(b.data, "&lt;a href=&quot;x&quot;&gt;O&#39;K &amp; more"
	    "&lt;/a&gt;") == 0);
	ops_buf_free(&b);
}

static void
test_pbkdf2(void)
{
	/* RFC 7914 section 11's PBKDF2-HMAC-SHA256 vector ("passwd", "salt",
	 * 1 iteration), first 32 bytes, in Django's layout. */
	static const char v[] = "pbkdf2_sha256$1$salt$VawEblbjCJ/sFpHCJUS2Bf"
	    "lBhSFt3gRl5oudV8INrLw=";		/* 55ac046e ... 20dacbc */
	char *h;

	CHECK(ops_pbkdf2_verify("passwd", v) == 1);
	CHECK(ops_pbkdf2_verify("passwe", v) == 0);
	CHECK(ops_pbkdf2_verify("passwd", "pbkdf2_sha256$0$salt$AAAA") == -1);
	CHECK(ops_pbkdf2_verify("passwd", "pbkdf2_sha1$1$salt$AAAA") == -1);
	CHECK(ops_pbkdf2_verify("passwd", "pbkdf2_sha256$1$salt$AAAA") == -1);
	CHECK(ops_pbkdf2_verify("passwd", "pbkdf2_sha256$1$$x") == -1);
	h = ops_pbkdf2_hash("pw", 1000);
	CHECK(h != NULL && strncmp(h, "pbkdf2_sha256$1000$", 19) == 0);
	CHECK(h != NULL && ops_pbkdf2_verify("pw", h) == 1);
	CHECK(h != NULL && ops_pbkdf2_verify("pW", h) == 0);
	free(h);
}

/* yajl_gen is never asked for more levels than it has, nor to close
 * what is not open: the writer fails, and works again after a reset. */
static void
test_jw_depth(void)
{
	struct ops_jw *w = ops_jw_new();
	const char *text;
	size_t len;
	int i;

	ops_jw_array_close(w);
	ops_jw_close(w);
	CHECK(ops_jw_failed(w));
	ops_jw_reset(w);
	for (i = 0; i < 200; i++)
		ops_jw_array_open(w, NULL);
	CHECK(ops_jw_failed(w));
	for (i = 0; i < 300; i++)
		ops_jw_array_close(w);
	ops_jw_reset(w);
	ops_jw_open(w);
	ops_jw_int(w, "n", 1);
	ops_jw_close(w);
	text = ops_jw_text(w, &len);
	CHECK(!ops_jw_failed(w) && len == 7 &&
	    memcmp(text, "{\"n\":1}", 7) == 0);
	ops_jw_free(w);
}

int
main(void)
{
	test_b64();
	test_b64_stream();
	test_json_find();
	test_urls();
	test_time();
	test_backoff();
	test_methods();
	test_http_forms();
	test_pbkdf2();
	test_jw_depth();
	printf("%s\n", failures == 0 ? "all lib checks passed" : "failures");
	return failures != 0;
}
