#!/usr/bin/env bats
# receipt-store: the ledger filter, ingest with the receipt policy, the
# files and their crash safety, JobRuns, the read side. Input records are
# written by hand as mime-extract's (gmail-ops contract, section 4).

load helpers

setup() {
	setup_base
	export OPS_GMAIL_COLLECT_ALLOWED_SENDERS="billing@shop.example,@cafe.example"
	unset GMAIL_OPS_LOG GMAIL_OPS_JOB_RUN GMAIL_OPS_TEST_CRASH
	SPOOL="$BATS_TEST_TMPDIR/spool"
	FIX="$BATS_TEST_TMPDIR/fix"
	mkdir -p "$SPOOL" "$FIX"
	chmod 700 "$SPOOL"
	printf '%%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\n%%%%EOF\n' >"$FIX/a.pdf"
	printf '%%PDF-1.7\n1 0 obj\n<< /Type /Pages >>\nendobj\n%%%%EOF\n' >"$FIX/b.pdf"
	printf '%%PDF-1.5\n1 0 obj\n<< /Count 3 >>\nendobj\n%%%%EOF\n' >"$FIX/c.pdf"
	printf '\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\1\0\0\0\1\0\0\0\0IEND\xaeB`\x82' >"$FIX/r.png"
	printf '%%PDF-1.4\n1 0 obj\n<< /Trunc' >"$FIX/broken.pdf"
	printf 'PK\x03\x04\x14\0\0\0\0\0zipzipzip' >"$FIX/x.zip"
	: >"$FIX/empty"
}

# auth_ok DOMAIN: the receiving Gmail server's verdict for a genuine mail.
auth_ok() {
	printf '{"authserv":"mx.google.com","dkim":"pass","dkim_domain":"%s","spf":"pass","spf_domain":"%s","dmarc":"pass","from_domain":"%s"}' \
	    "$1" "$1" "${2:-$1}"
}

# msg ID NATT [SENDER] [RECEIVED_AT] [AUTH]: a message record.
msg() {
	local sender=${3:-billing@shop.example}
	jq -nc --arg id "$1" --argjson n "$2" --arg s "$sender" \
	    --arg r "${4:-2026-11-16T10:00:00Z}" \
	    --argjson auth "${5:-$(auth_ok "${sender#*@}")}" '
	    {type: "message", id: $id, threadId: $id, labelIds: ["INBOX"],
	     source: "gmail", file: null, msg_key: $id,
	     message_id: ($id + "@mail.example"), sender: $s,
	     sender_name: null, subject: "Invoice 2026-0042",
	     received_at: (if $r == "null" then null else $r end),
	     auth: $auth, links: [], attachments: $n, error: null}'
}

# att ID PART FILE [FILENAME] [SNIFFED] [DEFECT] [DECLARED]: an attachment
# record whose bytes are in a new spool file ("-" for null).
att() {
	local sp
	sp=$(mktemp "$SPOOL/.spool-XXXXXXXX")
	cp "$3" "$sp"
	att_json "$1" "$2" "$3" "${4-invoice.pdf}" "${5-application/pdf}" \
	    "${6--}" "${7-application/pdf}" | jq -c --arg sp "$sp" '.spool = $sp'
}

# att_data ...: the same with the bytes inline (mime-extract without --spool).
att_data() {
	att_json "$@" | jq -c --arg d "$(base64 -w0 <"$3")" '.data = $d'
}

# att_nodata ...: hash and checks only (mime-extract --no-data, dry runs).
att_nodata() {
	att_json "$@"
}

att_json() {
	jq -nc --arg id "$1" --arg part "$2" --arg fn "${4-invoice.pdf}" \
	    --arg sn "${5-application/pdf}" --arg defect "${6--}" \
	    --arg ct "${7-application/pdf}" \
	    --argjson size "$(stat -c %s "$3")" \
	    --arg sha "$(sha256sum "$3" | cut -d' ' -f1)" '
	    def n: if . == "-" then null else . end;
	    {type: "attachment", id: $id, msg_key: $id, part: $part,
	     gmail_attachment_id: null, filename: ($fn | n),
	     content_type: ($ct | n), sniffed_type: ($sn | n),
	     disposition: "attachment", size: $size, sha256: $sha,
	     defect: ($defect | n), spool: null}'
}

ingest() {
	receipt-store ingest "$@"
}

# The records in $output (run mixes in stderr's warnings).
records() {
	grep '^{' <<<"$output" || true
}

# result FIELD [N]: a field of the Nth attachment_result (default 1).
result() {
	records | jq -rs --arg f "$1" --argjson n "${2:-1}" \
	    '[.[] | select(.type == "attachment_result")][$n - 1][$f]'
}

# verdict [N]: the verdict of the Nth message_result (default 1).
verdict() {
	records | jq -rs --argjson n "${1:-1}" \
	    '[.[] | select(.type == "message_result")][$n - 1].verdict'
}

files() {
	find var/incoming var/quarantine -type f 2>/dev/null | sort
}

@test "an allowed, authenticated sender's PDF is stored, filed by its UTC received date" {
	# 23:30 at UTC-2 is the next day in UTC
	{ msg m1 1 billing@shop.example 2026-11-16T23:30:00-02:00; att m1 2 "$FIX/a.pdf"; } >in
	run ingest <in
	assert_success
	[ "$(result outcome)" = stored ]
	[ "$(result storage_path)" = incoming/2026-11-17/invoice.pdf ]
	[ "$(result receipt_id)" = 1 ]
	[ "$(result dry_run)" = false ]
	[ "$(verdict)" = imported ]
	jq -se '.[1] | .type == "message_result" and .stored == 1 and .duplicates == 0
	    and .quarantined == 0 and .skipped == 0 and .dry_run == false and .id == "m1"' <<<"$output"
	cmp "$FIX/a.pdf" var/incoming/2026-11-17/invoice.pdf
	[ "$(stat -c %a var/incoming/2026-11-17/invoice.pdf)" = 640 ]
	[ "$(stat -c %a var/incoming/2026-11-17)" = 750 ]
	[ "$(stat -c %a var/db)" = 700 ]
	# the spool file was moved, not copied
	[ -z "$(ls -A "$SPOOL")" ]
}

@test "a spool file on another file system is copied, checked and removed" {
	shm=$(mktemp -d /dev/shm/receipt-store-bats.XXXXXX 2>/dev/null) || skip "no /dev/shm"
	if [ "$(stat -c %d "$shm")" = "$(stat -c %d "$BASE")" ]; then
		rm -rf "$shm"
		skip "/dev/shm is on the same file system"
	fi
	SPOOL=$shm
	{ msg m1 1; att m1 2 "$FIX/a.pdf"; } >in
	run ingest <in
	left=$(ls -A "$shm")
	rm -rf "$shm"
	assert_success
	[ "$(result outcome)" = stored ]
	cmp "$FIX/a.pdf" var/incoming/2026-11-16/invoice.pdf
	[ "$(stat -c %a var/incoming/2026-11-16/invoice.pdf)" = 640 ]
	[ -z "$left" ]
	[ -z "$(find var/incoming -name '.tmp-*')" ]
}

@test "a receipt carries every field, null when unknown; storage_path is relative to var/" {
	{ msg m1 1; att m1 2 "$FIX/a.pdf"; } | ingest >/dev/null
	run receipt-store show 1
	assert_success
	jq -e '(keys | sort) == (["id", "source", "gmail_message_id",
	    "gmail_attachment_id", "part_id", "msg_key", "original_filename",
	    "content_type", "sniffed_type", "filesize", "sha256", "storage_path",
	    "sender", "subject", "received_at", "created_at", "job_run_id",
	    "state", "reason"] | sort)' <<<"$output"
	jq -e --arg sha "$(sha256sum <"$FIX/a.pdf" | cut -d' ' -f1)" '
	    .id == 1 and .source == "gmail" and .gmail_message_id == "m1" and
	    .gmail_attachment_id == null and .part_id == "2" and
	    .original_filename == "invoice.pdf" and .content_type == "application/pdf" and
	    .filesize == 51 and .sha256 == $sha and
	    .storage_path == "incoming/2026-11-16/invoice.pdf" and
	    .sender == "billing@shop.example" and .received_at == "2026-11-16T10:00:00Z" and
	    (.created_at | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z$")) and
	    .job_run_id == 1 and .state == "ingested" and .reason == null' <<<"$output"
	[ -f "var/$(jq -r .storage_path <<<"$output")" ]
}

@test "mail from a file (no Gmail id) is source \"file\", keyed by its msg_key; inline data works" {
	{ msg m1 1 | jq -c '.id = null | .source = "file" | .msg_key = "sha256:abc" | .received_at = null'
	  att_data m1 1 "$FIX/a.pdf" | jq -c '.id = null | .msg_key = "sha256:abc"'; } >in
	run ingest <in
	assert_success
	[ "$(result outcome)" = stored ]
	[ "$(result storage_path)" = "incoming/$(date -u +%F)/invoice.pdf" ]
	run receipt-store show 1
	jq -e '.source == "file" and .gmail_message_id == null and .msg_key == "sha256:abc"
	    and .received_at == null' <<<"$output"
	run ingest <in
	[ "$(result outcome)" = duplicate ]
}

@test "a sender not in ALLOWED_SENDERS is skipped: nothing written, spool removed" {
	{ msg m1 1 someone@evil.example; att m1 2 "$FIX/a.pdf"; } >in
	run ingest <in
	assert_success
	[ "$(result outcome)" = skipped ]
	[ "$(result reason)" = "sender not allowed" ]
	[ "$(result storage_path)" = null ]
	[ "$(verdict)" = skipped ]
	[ -z "$(files)" ]
	[ -z "$(ls -A "$SPOOL")" ]
	[ -z "$(receipt-store list)" ]
}

@test "a spoofed sender (dmarc=fail) and one without a passing aligned spf/dkim are skipped" {
	spoof='{"authserv":"mx.google.com","dkim":"pass","dkim_domain":"evil.example","spf":"pass","spf_domain":"evil.example","dmarc":"fail","from_domain":"shop.example"}'
	unaligned='{"authserv":"mx.google.com","dkim":"pass","dkim_domain":"evil.example","spf":"softfail","spf_domain":"shop.example","dmarc":null,"from_domain":"shop.example"}'
	{ msg m1 1 billing@shop.example "" "$spoof"; att m1 2 "$FIX/a.pdf"
	  msg m2 1 billing@shop.example "" "$unaligned"; att m2 2 "$FIX/b.pdf"; } >in
	run ingest <in
	assert_success
	[ "$(result reason 1)" = "sender not authenticated" ]
	[ "$(result reason 2)" = "sender not authenticated" ]
	[ -z "$(files)" ]
}

@test "dkim of a parent domain aligns; spf alone passing is enough" {
	sub='{"authserv":"mx.google.com","dkim":"pass","dkim_domain":"cafe.example","spf":"fail","spf_domain":"x.example","dmarc":"pass","from_domain":"mail.cafe.example"}'
	spf='{"authserv":"mx.google.com","dkim":"fail","dkim_domain":null,"spf":"pass","spf_domain":"shop.example","dmarc":null,"from_domain":"shop.example"}'
	export OPS_GMAIL_COLLECT_ALLOWED_SENDERS="a@mail.cafe.example,billing@shop.example"
	{ msg m1 1 a@mail.cafe.example "" "$sub"; att m1 2 "$FIX/a.pdf"
	  msg m2 1 billing@shop.example "" "$spf"; att m2 2 "$FIX/b.pdf"; } >in
	run ingest <in
	[ "$(result outcome 1)" = stored ]
	[ "$(result outcome 2)" = stored ]
}

@test "no Authentication-Results: skipped when REQUIRE_SENDER_AUTH (default), judged by the whitelist when false" {
	{ msg m1 1 billing@shop.example "" null; att m1 2 "$FIX/a.pdf"; } >in
	run ingest <in
	[ "$(result reason)" = "sender not authenticated" ]
	{ msg m1 1 billing@shop.example "" null; att m1 2 "$FIX/a.pdf"; } >in
	run receipt-store -o REQUIRE_SENDER_AUTH=false ingest <in
	assert_success
	[ "$(result outcome)" = stored ]
	{ msg m2 1 other@shop.example "" null; att m2 2 "$FIX/b.pdf"; } >in
	run receipt-store -o REQUIRE_SENDER_AUTH=false ingest <in
	[ "$(result reason)" = "sender not allowed" ]
}

@test "@domain entries match the domain exactly, in any case" {
	{ msg m1 1 Anna@CAFE.Example; att m1 2 "$FIX/a.pdf"
	  msg m2 1 anna@evilcafe.example; att m2 2 "$FIX/b.pdf"
	  msg m3 1 anna@sub.cafe.example; att m3 2 "$FIX/c.pdf"; } >in
	run ingest <in
	[ "$(result outcome 1)" = stored ]
	[ "$(result reason 2)" = "sender not allowed" ]
	[ "$(result reason 3)" = "sender not allowed" ]
}

@test "the same (message, part) again is a duplicate, even with other bytes" {
	{ msg m1 1; att m1 2 "$FIX/a.pdf"; } | ingest >/dev/null
	{ msg m1 1; att m1 2 "$FIX/b.pdf"; } >in
	run ingest <in
	assert_success
	[ "$(result outcome)" = duplicate ]
	[ "$(result reason)" = "already recorded as receipt 1" ]
	[ "$(result receipt_id)" = 1 ]
	[ "$(result storage_path)" = incoming/2026-11-16/invoice.pdf ]
	[ "$(verdict)" = imported ]
	[ "$(files | wc -l)" = 1 ]
	[ -z "$(ls -A "$SPOOL")" ]
}

@test "the same content in two messages is stored once, in one run and across runs" {
	{ msg m1 1; att m1 2 "$FIX/a.pdf"; msg m2 1; att m2 3 "$FIX/a.pdf" copy.pdf; } >in
	run ingest <in
	[ "$(result outcome 1)" = stored ]
	[ "$(result outcome 2)" = duplicate ]
	[ "$(result reason 2)" = "same content as receipt 1" ]
	{ msg m3 2; att m3 2 "$FIX/a.pdf" again.pdf; att m3 3 "$FIX/b.pdf" b.pdf; } >in
	run ingest <in
	[ "$(result outcome 1)" = duplicate ]
	[ "$(result outcome 2)" = stored ]
	# two parts of one message with the same bytes
	{ msg m4 2; att m4 2 "$FIX/c.pdf" one.pdf; att m4 3 "$FIX/c.pdf" two.pdf; } >in
	run ingest <in
	[ "$(result outcome 1)" = stored ]
	[ "$(result outcome 2)" = duplicate ]
	[ "$(result reason 2)" = "same content as receipt 3" ]
	[ "$(result receipt_id 2)" = 3 ]
	[ "$(result storage_path 2)" = "$(result storage_path 1)" ]
	[ "$(receipt-store list | jq -r .sha256 | sort | uniq -d | wc -l)" = 0 ]
	[ "$(files | wc -l)" = 3 ]
	# a dry run has no receipt to point at
	printf '%%PDF-1.4\n%% m5\n%%%%EOF\n' >"$FIX/e.pdf"
	{ msg m5 2; att m5 2 "$FIX/e.pdf" one.pdf; att m5 3 "$FIX/e.pdf" two.pdf; } >in
	run receipt-store ingest --dry-run <in
	assert_success
	[ "$(result outcome 2)" = duplicate ]
	[ "$(result reason 2)" = "same content as part 2 of m5 in this run" ]
	[ "$(result receipt_id 2)" = null ]
}

@test "0-byte, corrupt, oversize and wrongly typed attachments are quarantined with the reason" {
	head -c 3000 /dev/zero | tr '\0' 'x' | cat "$FIX/c.pdf" - >"$FIX/big.pdf"
	{ msg m1 5 billing@shop.example 2026-11-20T08:00:00Z
	  att m1 2 "$FIX/empty" empty.pdf application/pdf empty
	  att m1 3 "$FIX/broken.pdf" scan.pdf application/pdf "PDF without %%EOF"
	  att m1 4 "$FIX/big.pdf" big.pdf
	  att m1 5 "$FIX/x.zip" invoice.pdf application/zip - application/pdf
	  att m1 6 "$FIX/a.pdf" good.pdf; } >in
	run receipt-store -o MAX_SIZE_BYTES=1K ingest <in
	assert_success
	[ "$(result reason 1)" = empty ]
	[ "$(result reason 2)" = "corrupt: PDF without %%EOF" ]
	[ "$(result reason 3)" = "too large: 3045 bytes, MAX_SIZE_BYTES is 1024" ]
	[ "$(result reason 4)" = "type not allowed: application/zip" ]
	for i in 1 2 3 4; do [ "$(result outcome $i)" = quarantined ]; done
	[ "$(result outcome 5)" = stored ]
	[ "$(verdict)" = mixed ]
	# the zip keeps its name and gets the extension its bytes have
	[ "$(result storage_path 4)" = quarantine/2026-11-20/invoice.pdf.zip ]
	[ -f var/quarantine/2026-11-20/scan.pdf ]
	[ -f var/quarantine/2026-11-20/empty.pdf ]
	[ "$(find var/quarantine -type f | wc -l)" = 4 ]
	run receipt-store list --state quarantined
	[ "${#lines[@]}" = 4 ]
	jq -se 'all(.[]; .state == "quarantined" and (.reason | type) == "string")' <<<"$output"
	# a re-run quarantines nothing again: what is held stays held
	sed -i 's/"spool":"[^"]*"/"spool":null/' in
	run receipt-store -o MAX_SIZE_BYTES=1K ingest <in
	jq -se '[.[] | select(.type == "attachment_result") | .outcome] ==
	    ["quarantined", "quarantined", "quarantined", "quarantined", "duplicate"]' <<<"$output"
	jq -se 'all(.[] | select(.type == "attachment_result"); .reason | startswith("already recorded as receipt"))' <<<"$output"
	[ "$(find var/quarantine -type f | wc -l)" = 4 ]
}

@test "a message with only quarantined attachments has the verdict quarantined" {
	{ msg m1 1; att m1 2 "$FIX/broken.pdf" scan.pdf application/pdf "PDF without %%EOF"; } >in
	run ingest <in
	[ "$(verdict)" = quarantined ]
}

@test "an application/octet-stream PDF named .pdf is stored: the sniffed type decides" {
	{ msg m1 2; att m1 2 "$FIX/a.pdf" invoice.pdf application/pdf - application/octet-stream
	  att m1 3 "$FIX/r.png" "photo" image/png - image/jpeg; } >in
	run ingest <in
	[ "$(result outcome 1)" = stored ]
	[ "$(result storage_path 1)" = incoming/2026-11-16/invoice.pdf ]
	[ "$(result outcome 2)" = stored ]
	[ "$(result storage_path 2)" = incoming/2026-11-16/photo.png ]
	run receipt-store show 1
	[ "$(jq -r .content_type <<<"$output")" = application/octet-stream ]
}

@test "hostile file names are sanitised: traversal, leading dots, controls, bidi overrides, length" {
	long=$(printf 'Rechnung-%.0s' $(seq 40))
	long="${long}é.pdf"
	{ msg m1 7
	  att m1 2 "$FIX/a.pdf" "../../../../etc/cron.d/evil.pdf"
	  att m1 3 "$FIX/b.pdf" "..\\..\\windows\\sys.pdf"
	  att m1 4 "$FIX/c.pdf" "...hidden.pdf"
	  att m1 5 "$FIX/r.png" "$(printf 'in\tvo\001ice\342\200\256gnp.exe')" image/png
	  att m1 6 "$FIX/x.zip" ".." application/zip
	  att_data m1 7 "$FIX/empty" "$long" application/pdf empty
	  att m1 8 "$FIX/broken.pdf" "a..b.pdf" application/pdf "PDF without %%EOF"; } >in
	run ingest <in
	assert_success
	[ "$(result storage_path 1)" = incoming/2026-11-16/evil.pdf ]
	[ "$(result storage_path 2)" = incoming/2026-11-16/sys.pdf ]
	[ "$(result storage_path 3)" = incoming/2026-11-16/hidden.pdf ]
	[ "$(result storage_path 4)" = incoming/2026-11-16/invoicegnp.exe.png ]
	[ "$(result storage_path 5)" = quarantine/2026-11-16/attachment.zip ]
	[ "$(result storage_path 7)" = quarantine/2026-11-16/a.b.pdf ]
	name=$(basename "$(result storage_path 6)")
	[ "${#name}" -le 200 ] || [ "$(printf %s "$name" | wc -c)" -le 200 ]
	[ "$(printf %s "$name" | wc -c)" -le 200 ]
	[[ "$name" == Rechnung-Rechnung-*.pdf ]]
	printf %s "$name" | iconv -f UTF-8 -t UTF-8 >/dev/null
	# nothing escaped the storage directories
	[ "$(find "$BASE" -name evil.pdf -o -name sys.pdf | sort | paste -sd,)" = \
	    "$BASE/var/incoming/2026-11-16/evil.pdf,$BASE/var/incoming/2026-11-16/sys.pdf" ]
	[ ! -e var/etc ]
	run receipt-store show 1
	[ "$(jq -r .original_filename <<<"$output")" = "../../../../etc/cron.d/evil.pdf" ]
}

@test "the same file name twice gets unique names, in one message and across messages" {
	{ msg m1 2; att m1 2 "$FIX/a.pdf" invoice.pdf; att m1 3 "$FIX/b.pdf" invoice.pdf
	  msg m2 1; att m2 2 "$FIX/c.pdf" invoice.pdf; } >in
	run ingest <in
	[ "$(result storage_path 1)" = incoming/2026-11-16/invoice.pdf ]
	[ "$(result storage_path 2)" = incoming/2026-11-16/invoice-2.pdf ]
	[ "$(result storage_path 3)" = incoming/2026-11-16/invoice-3.pdf ]
	cmp "$FIX/b.pdf" var/incoming/2026-11-16/invoice-2.pdf
	cmp "$FIX/c.pdf" var/incoming/2026-11-16/invoice-3.pdf
}

@test "dry run: every decision reported, no file, no temp file, no record, no ledger row; the JobRun is kept" {
	job=$(receipt-store job-open --dry-run)
	{ msg m1 2; att_nodata m1 2 "$FIX/a.pdf"; att_nodata m1 3 "$FIX/a.pdf" a2.pdf
	  msg m2 1; att_nodata m2 2 "$FIX/broken.pdf" scan.pdf application/pdf "PDF without %%EOF"
	  msg m3 1 x@evil.example; att_nodata m3 2 "$FIX/b.pdf"
	  msg m4 1; att_nodata m4 2 "$FIX/c.pdf"; } >in
	run ingest --job "$job" --dry-run <in
	assert_success
	jq -se 'all(.[]; .dry_run == true)' <<<"$output"
	[ "$(result outcome 1)" = stored ]
	[ "$(result storage_path 1)" = incoming/2026-11-16/invoice.pdf ]
	[ "$(result receipt_id 1)" = null ]
	[ "$(result outcome 2)" = duplicate ]
	[ "$(result outcome 3)" = quarantined ]
	[ "$(result outcome 4)" = skipped ]
	[ "$(result storage_path 5)" = incoming/2026-11-16/invoice-2.pdf ]
	[ -z "$(files)" ]
	[ ! -e var/incoming ] && [ ! -e var/quarantine ]
	[ -z "$(receipt-store list)" ]
	[ "$(receipt-store stats | jq .messages)" = 0 ]
	[ "$(printf '{"id":"m1"}\n' | receipt-store filter)" = '{"id":"m1"}' ]
	run receipt-store job-close "$job" --status success --json
	jq -e '.dry_run == true and .emails_scanned == 4 and .attachments_seen == 5
	    and .created == 2 and .duplicates_skipped == 1 and .quarantined == 1
	    and .skipped == 1' <<<"$output"
	# a dry run with spool files removes them and writes nothing else
	{ msg m5 1; att m5 2 "$FIX/a.pdf"; } | ingest --dry-run >/dev/null
	[ -z "$(ls -A "$SPOOL")" ]
	[ -z "$(files)" ]
}

@test "a dry run's JobRun must be ingested with --dry-run and the other way round" {
	job=$(receipt-store job-open --dry-run)
	run ingest --job "$job" </dev/null
	assert_failure 2
	assert_output --partial "is a dry run"
	job=$(receipt-store job-open)
	run ingest --job "$job" --dry-run </dev/null
	assert_failure 2
	run ingest --job 99 </dev/null
	assert_failure 65
}

@test "filter drops messages with a final verdict and keeps unknown, errored and id-less records" {
	{ msg m1 1; att m1 2 "$FIX/a.pdf"
	  msg m2 1 x@evil.example; att m2 2 "$FIX/b.pdf"
	  msg m3 0
	  printf '{"type":"error","id":"m4","stage":"gmail-fetch","error":"500 after 6 tries"}\n'; } | ingest >/dev/null
	printf '%s\n' '{"type":"ref","id":"m1","threadId":"t"}' '{"id":"m2"}' '{"id":"m3"}' \
	    '{"id":"m4"}' '{"id":"m5","threadId":"t5"}' '{"type":"other"}' >refs
	run receipt-store filter <refs
	assert_success
	assert_output "$(printf '%s\n' '{"id":"m4"}' '{"id":"m5","threadId":"t5"}' '{"type":"other"}')"
}

@test "filter, labels on: a handled ref to label becomes its message_result again; others are dropped" {
	export OPS_GMAIL_COLLECT_APPLY_LABELS=true
	{ msg m1 1; att m1 2 "$FIX/a.pdf"
	  msg m2 1 x@evil.example; att m2 2 "$FIX/b.pdf"
	  msg m3 1; att m3 2 "$FIX/broken.pdf" scan.pdf application/pdf "PDF without %%EOF"
	  msg m4 2; att m4 2 "$FIX/c.pdf"; att m4 3 "$FIX/x.zip" invoice.pdf application/zip - application/pdf
	  msg m5 0; } | ingest >/dev/null
	printf '{"type":"ref","id":"%s","threadId":"t"}\n' m1 m2 m3 m4 m5 >refs
	printf '{"id":"m1"}\n{"type":"ref","id":"m6","threadId":"t6"}\n' >>refs
	run receipt-store filter <refs
	assert_success
	assert_output "$(printf '%s\n' \
	    '{"type":"message_result","id":"m1","msg_key":"m1","verdict":"imported","stored":1,"duplicates":0,"quarantined":0,"skipped":0,"dry_run":false}' \
	    '{"type":"message_result","id":"m3","msg_key":"m3","verdict":"quarantined","stored":0,"duplicates":0,"quarantined":1,"skipped":0,"dry_run":false}' \
	    '{"type":"message_result","id":"m4","msg_key":"m4","verdict":"mixed","stored":1,"duplicates":0,"quarantined":1,"skipped":0,"dry_run":false}' \
	    '{"type":"ref","id":"m6","threadId":"t6"}')"
}

@test "an error record is passed through, kept in the ledger as error, and counted" {
	job=$(receipt-store job-open)
	err='{"type":"error","id":"m9","stage":"gmail-fetch","error":"HTTP 500"}'
	run ingest --job "$job" <<<"$err"
	assert_success
	assert_output "$err"
	run receipt-store job-close "$job" --status partial --json
	[ "$(jq .errors_count <<<"$output")" = 1 ]
	[ "$(printf '{"id":"m9"}\n' | receipt-store filter)" = '{"id":"m9"}' ]
	# once the message goes through, it is final
	{ msg m9 1; att m9 2 "$FIX/a.pdf"; } | ingest >/dev/null
	[ -z "$(printf '{"id":"m9"}\n' | receipt-store filter)" ]
}

@test "a message without attachments is no_attachment; one cut short is an error and retried" {
	{ msg m1 0; msg m2 2; att m2 2 "$FIX/a.pdf"; msg m3 0; } >in
	run ingest <in
	assert_failure 1
	assert_output --partial '"verdict":"no_attachment"'
	[ "$(verdict 2)" = error ]
	assert_output --partial "message m2: 1 of 2 attachment records"
	[ "$(printf '{"id":"m2"}\n' | receipt-store filter)" = '{"id":"m2"}' ]
	[ -z "$(printf '{"id":"m1"}\n' | receipt-store filter)" ]
}

@test "job-open, ingest, job-close: counters, --stats sums, --json fields, the summary" {
	job=$(receipt-store job-open)
	[[ "$job" =~ ^[0-9]+$ ]]
	receipt-store jobs --last | jq -e --argjson j "$job" '.job_run_id == $j and .status == "running"
	    and .job == "collect_from_gmail" and .dry_run == false and .finished_at == null'
	{ msg m1 2; att m1 2 "$FIX/a.pdf"; att m1 3 "$FIX/broken.pdf" s.pdf application/pdf "PDF without %%EOF"
	  msg m2 1; att m2 2 "$FIX/a.pdf"
	  msg m3 1 x@evil.example; att m3 2 "$FIX/b.pdf"; } | ingest --job "$job" >/dev/null
	printf '{"prog":"gmail-list","calls":1,"units":5,"errors":0}' >list.stats
	printf '{"prog":"gmail-fetch","calls":3,"units":60,"errors":1,"by_method":{}}' >fetch.stats
	run receipt-store job-close "$job" --status partial --stats list.stats \
	    --stats fetch.stats --stats missing.stats --config-hash abc123 --json
	assert_success
	[ "${#lines[@]}" = 2 ]	# the warning about missing.stats, then the JSON
	assert_line --index 0 --partial "missing.stats"
	jq -e --argjson j "$job" --arg log "$BASE/var/logs/ops/collect_from_gmail-$(date -u +%F).jsonl" '
	    .job_run_id == $j and .status == "partial" and .dry_run == false and
	    .emails_scanned == 3 and .attachments_seen == 4 and .downloaded == 3 and
	    .created == 1 and .duplicates_skipped == 1 and .quarantined == 1 and
	    .skipped == 1 and .errors_count == 1 and .gmail_api_calls == 4 and
	    .quota_units == 65 and (.duration_sec | type) == "number" and
	    .duration_sec >= 0 and .log_path == $log' <<<"${lines[1]}"
	run receipt-store job-close "$job" --status success
	assert_failure 65
	assert_output --partial "already closed"
	job=$(receipt-store job-open)
	run receipt-store job-close "$job" --status success
	assert_success
	assert_line --index 0 --regexp "^JobRun $job: success in [0-9.]+ s$"
	assert_output --partial "Gmail API: 0 calls, 0 quota units"
	run receipt-store job-close "$job" --status bogus
	assert_failure 2
}

@test "ingest without --job opens and closes a JobRun of its own" {
	{ msg m1 1; att m1 2 "$FIX/a.pdf"; } | ingest >/dev/null
	receipt-store jobs --last | jq -e '.status == "success" and .created == 1 and .finished_at != null'
}

@test "dry-run-ok: only a successful or partial dry run with that configuration hash counts" {
	run receipt-store dry-run-ok h1
	assert_failure 1
	job=$(receipt-store job-open)
	receipt-store job-close "$job" --status success --config-hash h1 >/dev/null
	run receipt-store dry-run-ok h1
	assert_failure 1
	job=$(receipt-store job-open --dry-run)
	receipt-store job-close "$job" --status failed --config-hash h1 >/dev/null
	run receipt-store dry-run-ok h1
	assert_failure 1
	job=$(receipt-store job-open --dry-run)
	receipt-store job-close "$job" --status partial --config-hash h1 >/dev/null
	run receipt-store dry-run-ok h1
	assert_success
	run receipt-store dry-run-ok h2
	assert_failure 1
	run receipt-store dry-run-ok 'bad hash/'
	assert_failure 2
}

@test "list --state/--since, show, stats, jobs newest first" {
	{ msg m1 1 billing@shop.example 2026-10-01T00:00:00Z; att m1 2 "$FIX/a.pdf"
	  msg m2 1 billing@shop.example 2026-11-20T00:00:00Z; att m2 2 "$FIX/b.pdf"
	  msg m3 1 billing@shop.example 2026-11-21T00:00:00Z; att m3 2 "$FIX/x.zip" z.zip application/zip; } | ingest >/dev/null
	job=$(receipt-store job-open --dry-run)
	[ "$(receipt-store list | wc -l)" = 3 ]
	[ "$(receipt-store list --state ingested | jq -r .gmail_message_id | paste -sd,)" = m1,m2 ]
	[ "$(receipt-store list --since 2026-11-01 | jq -r .gmail_message_id | paste -sd,)" = m2,m3 ]
	[ "$(receipt-store list --state quarantined --since 2026-11-21 | jq -r .id)" = 3 ]
	run receipt-store list --since 2026-13
	assert_failure 2
	[ "$(receipt-store show 2 | jq -r .storage_path)" = incoming/2026-11-20/invoice.pdf ]
	run receipt-store show 42
	assert_failure 1
	assert_output --partial "42: no such receipt"
	run receipt-store stats
	assert_success
	jq -e '.receipts == 3 and .ingested == 2 and .quarantined == 1 and .messages == 3
	    and .verdicts.imported == 2 and .verdicts.quarantined == 1 and .jobruns == 2
	    and .pending == 0 and .bytes > 0' <<<"$output"
	[ "$(receipt-store jobs | jq -r .job_run_id | paste -sd,)" = "$job,1" ]
	[ "$(receipt-store jobs --last | jq -r .job_run_id)" = "$job" ]
}

@test "verify: clean, then a deleted, a changed, a stray and a temp file are each reported" {
	{ msg m1 3; att m1 2 "$FIX/a.pdf" a.pdf; att m1 3 "$FIX/b.pdf" b.pdf
	  att m1 4 "$FIX/broken.pdf" c.pdf application/pdf "PDF without %%EOF"; } | ingest >/dev/null
	run receipt-store verify
	assert_success
	assert_output "verify: 3 receipts, 3 files, 0 problems"
	rm var/incoming/2026-11-16/a.pdf
	printf 'tampered' >>var/incoming/2026-11-16/b.pdf
	chmod 644 var/quarantine/2026-11-16/c.pdf && printf 'x' | dd of=var/quarantine/2026-11-16/c.pdf bs=1 seek=3 conv=notrunc 2>/dev/null
	cp "$FIX/c.pdf" var/incoming/2026-11-16/stray.pdf
	cp "$FIX/c.pdf" var/incoming/2026-11-16/.tmp-0123456789abcdef
	run receipt-store verify
	assert_failure 1
	assert_line "receipt-store: verify: receipt 1: incoming/2026-11-16/a.pdf: missing"
	assert_line --regexp "^receipt-store: verify: receipt 2: incoming/2026-11-16/b.pdf: 57 bytes, recorded 49$"
	assert_line "receipt-store: verify: receipt 3: quarantine/2026-11-16/c.pdf: sha256 differs from the record"
	assert_line "receipt-store: verify: incoming/2026-11-16/stray.pdf: no receipt records this file"
	assert_line "receipt-store: verify: incoming/2026-11-16/.tmp-0123456789abcdef: a temp file left behind"
	assert_line "verify: 3 receipts, 3 files, 5 problems"
}

@test "crash after the temp files: the next ingest removes them and stores" {
	{ msg m1 1; att m1 2 "$FIX/a.pdf"; } >in
	GMAIL_OPS_TEST_CRASH=tmp run ingest <in
	assert_failure 137
	[ -n "$(find var/incoming -name '.tmp-*')" ]
	[ ! -e var/incoming/2026-11-16/invoice.pdf ]
	[ -z "$(receipt-store list)" ]
	run receipt-store verify
	assert_failure 1
	{ msg m1 1; att m1 2 "$FIX/a.pdf"; } >in
	run ingest <in
	assert_success
	assert_output --partial "recovery: removed 1 temp file"
	[ "$(result outcome)" = stored ]
	[ -z "$(find var/incoming -name '.tmp-*')" ]
	run receipt-store verify
	assert_success
}

@test "crash after the journal: the entry is dropped, its temp file removed, the next run stores it under the same name" {
	{ msg m1 1; att m1 2 "$FIX/a.pdf"; } >in
	GMAIL_OPS_TEST_CRASH=journal run ingest <in
	assert_failure 137
	[ "$(receipt-store stats | jq .pending)" = 1 ]
	run receipt-store verify
	assert_failure 1
	assert_output --partial "pending entry 1: an unfinished ingest"
	assert_output --partial "a temp file left behind"
	{ msg m1 1; att m1 2 "$FIX/a.pdf"; } >in
	run ingest <in
	assert_success
	[ "$(result outcome)" = stored ]
	[ "$(result storage_path)" = incoming/2026-11-16/invoice.pdf ]
	[ "$(receipt-store stats | jq .pending)" = 0 ]
	run receipt-store verify
	assert_success
}

@test "crash after the rename: the durable file is adopted with its journalled record" {
	{ msg m1 2; att m1 2 "$FIX/a.pdf"; att m1 3 "$FIX/b.pdf" b.pdf; } >in
	GMAIL_OPS_TEST_CRASH=publish run ingest <in
	assert_failure 137
	[ -f var/incoming/2026-11-16/invoice.pdf ]
	[ -z "$(find var/incoming -name '.tmp-*')" ]
	[ -z "$(receipt-store list)" ]
	run ingest </dev/null
	assert_success
	assert_output --partial "recovery: adopted incoming/2026-11-16/invoice.pdf as receipt 1"
	[ "$(receipt-store list | jq -r .storage_path | paste -sd,)" = incoming/2026-11-16/invoice.pdf,incoming/2026-11-16/b.pdf ]
	run receipt-store verify
	assert_success
	# the message itself had no ledger row: fetched again, it is all duplicates
	[ "$(printf '{"id":"m1"}\n' | receipt-store filter)" = '{"id":"m1"}' ]
	{ msg m1 2; att m1 2 "$FIX/a.pdf"; att m1 3 "$FIX/b.pdf" b.pdf; } >in
	run ingest <in
	[ "$(verdict)" = imported ]
	[ "$(result outcome 1)" = duplicate ]
	[ "$(result outcome 2)" = duplicate ]
	[ "$(files | wc -l)" = 2 ]
}

@test "crash after the rename of a mixed message: fetched again, its quarantined part stays quarantined" {
	mixed() {
		msg m1 2 billing@shop.example 2026-11-20T08:00:00Z
		att m1 2 "$FIX/a.pdf"
		att m1 3 "$FIX/broken.pdf" scan.pdf application/pdf "PDF without %%EOF"
	}
	mixed >in
	run ingest <in
	[ "$(verdict)" = mixed ]
	want=$(records | jq -c 'select(.type == "message_result") | del(.dry_run)')
	rm -rf var
	mixed >in
	GMAIL_OPS_TEST_CRASH=publish run ingest <in
	assert_failure 137
	run ingest </dev/null
	assert_success
	assert_output --partial "recovery: adopted quarantine/2026-11-20/scan.pdf"
	mixed >in
	run ingest <in
	assert_success
	[ "$(result outcome 1)" = duplicate ]
	[ "$(result outcome 2)" = quarantined ]
	[ "$(result reason 2)" = "already recorded as receipt 2" ]
	[ "$(result storage_path 2)" = quarantine/2026-11-20/scan.pdf ]
	[ "$(verdict)" = mixed ]
	[ "$(records | jq -c 'select(.type == "message_result") | del(.dry_run, .stored, .duplicates)')" = \
	    "$(jq -c 'del(.stored, .duplicates)' <<<"$want")" ]
	[ "$(files | wc -l)" = 2 ]
	run receipt-store verify
	assert_success
}

@test "a stray temp file in a date directory is removed by the next ingest" {
	mkdir -p var/quarantine/2026-01-01
	printf 'half' >var/quarantine/2026-01-01/.tmp-deadbeefdeadbeef
	run ingest </dev/null
	assert_success
	[ ! -e var/quarantine/2026-01-01/.tmp-deadbeefdeadbeef ]
}

@test "a date directory planted as a symlink is refused, never followed" {
	mkdir -p var/incoming "$BATS_TEST_TMPDIR/elsewhere"
	ln -s "$BATS_TEST_TMPDIR/elsewhere" var/incoming/2026-11-16
	{ msg m1 1; att m1 2 "$FIX/a.pdf"; msg m2 1 billing@shop.example 2026-11-17T10:00:00Z; att m2 2 "$FIX/b.pdf"; } >in
	run ingest <in
	assert_failure 1
	[ "$(result outcome 1)" = error ]
	[ "$(result reason 1)" = "incoming/2026-11-16: a symbolic link, refused" ]
	[ "$(verdict)" = error ]
	[ "$(result outcome 2)" = stored ]
	[ -z "$(ls -A "$BATS_TEST_TMPDIR/elsewhere")" ]
	[ -z "$(ls -A "$SPOOL")" ]
	[ "$(printf '{"id":"m1"}\n' | receipt-store filter)" = '{"id":"m1"}' ]
}

@test "forged records are refused: a spool path that is not a spool file, bytes that do not match" {
	printf 'secret' >"$BATS_TEST_TMPDIR/secret.pdf"
	cp "$FIX/a.pdf" "$SPOOL/.spool-forged"
	{ msg m1 3
	  att_json m1 2 "$FIX/a.pdf" | jq -c --arg p "$BATS_TEST_TMPDIR/secret.pdf" '.spool = $p'
	  att_json m1 3 "$FIX/b.pdf" b.pdf | jq -c --arg p "$SPOOL/.spool-forged" '.spool = $p'
	  att_json m1 4 "$FIX/c.pdf" c.pdf | jq -c --arg d "$(base64 -w0 <"$FIX/a.pdf")" '.data = $d'; } >in
	run ingest <in
	assert_failure 1
	[ "$(result outcome 1)" = error ]
	assert_output --partial "not a spool file"
	[ "$(result outcome 2)" = error ]
	assert_output --partial "bytes do not match"
	[ "$(result outcome 3)" = error ]
	[ "$(cat "$BATS_TEST_TMPDIR/secret.pdf")" = secret ]
	[ -z "$(files)" ]
	[ -z "$(receipt-store list)" ]
}

@test "a bad record in the middle is reported with its line, counted, and the rest goes on" {
	job=$(receipt-store job-open)
	{ msg m1 1; att m1 2 "$FIX/a.pdf"
	  echo 'this is not json'
	  msg m2 1 | jq -c 'del(.msg_key)'
	  msg m3 2; att m3 2 "$FIX/b.pdf" | jq -c '.sha256 = "nothex"'; att m3 3 "$FIX/c.pdf" c.pdf
	  att m4 2 "$FIX/c.pdf"
	  msg m5 1; att m5 2 "$FIX/r.png" r.png image/png; } >in
	run ingest --job "$job" <in
	assert_failure 1
	assert_output --partial "receipt-store: line 3: "
	assert_output --partial "receipt-store: line 4: message: no usable \"msg_key\""
	assert_output --partial "receipt-store: line 6: message m3: attachment: a field missing"
	assert_output --partial "receipt-store: line 8: attachment outside its message"
	[ "$(records | jq -rs '[.[] | select(.type == "message_result") | .msg_key + ":" + .verdict] | join(",")')" = m1:imported,m3:error,m5:imported ]
	[ "$(receipt-store list | wc -l)" = 3 ]
	run receipt-store job-close "$job" --status partial --json
	[ "$(jq .errors_count <<<"$output")" = 4 ]
}

@test "the event log: per message and per attachment, with no subject" {
	{ msg m1 1; att m1 2 "$FIX/a.pdf"; msg m2 1 x@evil.example; att m2 2 "$FIX/b.pdf"; } >in
	GMAIL_OPS_LOG=collect_from_gmail ingest <in >/dev/null
	f="var/logs/ops/collect_from_gmail-$(date -u +%F).jsonl"
	jq -se '[.[] | select(.event == "message") | [.id, .sender, .verdict]] ==
	    [["m1", "billing@shop.example", "imported"], ["m2", "x@evil.example", "skipped"]]' "$f"
	jq -se '[.[] | select(.event == "attachment") | [.id, .part, .outcome, .reason]] ==
	    [["m1", "2", "stored", null], ["m2", "2", "skipped", "sender not allowed"]]' "$f"
	jq -se 'map(.event) | index("run_start") != null and index("run_end") != null' "$f"
	! grep -q "Invoice 2026-0042" "$f"
}

@test "a second ingest while one runs exits 75" {
	receipt-store stats >/dev/null
	flock var/db/ingest.lock sleep 5 &
	holder=$!
	sleep 0.2
	run ingest </dev/null
	assert_failure 75
	assert_output --partial "another ingest is running"
	kill "$holder"
	wait "$holder" 2>/dev/null || true
}

@test "usage: -h, --version, bad commands and options" {
	run receipt-store -h
	assert_success
	assert_line --index 0 --partial "usage: receipt-store [-c file] [-o key=value] filter"
	run receipt-store --version
	assert_success
	assert_output --regexp "^receipt-store [0-9]"
	run receipt-store
	assert_failure 2
	run receipt-store frobnicate
	assert_failure 2
	run receipt-store list --json
	assert_failure 2
	run receipt-store show
	assert_failure 2
	run receipt-store show abc
	assert_failure 2
	run receipt-store -o NO_SUCH_KEY=1 stats
	assert_failure 78
}

@test "job-open closes JobRuns left running by a run that died" {
	id=$(receipt-store job-open)
	[ "$(receipt-store jobs --last | jq -r .status)" = running ]
	id2=$(receipt-store job-open)
	[ "$(receipt-store jobs | jq -r --argjson id "$id" 'select(.job_run_id == $id) | .status')" = failed ]
	[ "$(receipt-store jobs --last | jq -r .job_run_id)" = "$id2" ]
	[ "$(receipt-store jobs --last | jq -r .status)" = running ]
}
