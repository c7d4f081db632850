#!/usr/bin/env bats
# mime-extract: raw messages in, "message" and "attachment" records out.
# Small messages are fixtures (tests/fixtures/mime); big and hostile ones
# are made here.

load helpers

FIX="$TESTS_DIR/fixtures/mime"

setup() {
	setup_base
	OUT="$BATS_TEST_TMPDIR/out.ndjson"
	ERR="$BATS_TEST_TMPDIR/err"
}

# mx ARGS...: runs mime-extract; records in $OUT, diagnostics in $ERR,
# exit status in $rc.
mx() {
	rc=0
	mime-extract "$@" >"$OUT" 2>"$ERR" || rc=$?
}

# q FILTER: jq over the records, compact.
q() {
	jq -c "$@" "$OUT"
}

# The base64 body of the part whose filename is $2 in fixture $1, decoded.
fixture_part() {
	awk -v name="$2" '
		index($0, "filename=\"" name "\"") { found = 1; next }
		found && body && (/^$/ || /^--/) { exit }
		found && /^$/ { body = 1; next }
		found && body { print }
	' "$FIX/$1" | base64 -d
}

b64url() {
	base64 -w0 | tr '+/' '-_' | tr -d '='
}

# A fetch record for file $1 with Gmail id $2.
fetch_record() {
	b64url <"$1" >"$BATS_TEST_TMPDIR/raw.b64"
	jq -cn --rawfile raw "$BATS_TEST_TMPDIR/raw.b64" --arg id "$2" '{type: "raw", id: $id,
	    threadId: ("t" + $id), labelIds: ["INBOX", "UNREAD"],
	    internalDate: "1793786400123", historyId: "99", sizeEstimate: 1000,
	    raw: $raw}'
}

@test "a PDF attachment: size, sha256 of the decoded bytes, sniffed type, inline data" {
	mx "$FIX/simple-pdf.eml"
	[ "$rc" = 0 ]
	[ "$(wc -l <"$OUT")" = 2 ]
	fixture_part simple-pdf.eml receipt.pdf >want.pdf
	sum=$(sha256sum want.pdf | cut -d' ' -f1)
	raw=$(sha256sum "$FIX/simple-pdf.eml" | cut -d' ' -f1)
	run q 'select(.type == "message") | [.source, .file, .msg_key, .id,
	    .message_id, .sender, .sender_name, .subject, .received_at, .auth,
	    .links, .attachments, .error]'
	assert_output "[\"file\",\"$FIX/simple-pdf.eml\",\"sha256:$raw\",null,\"receipt-1@shop.example\",\"billing@shop.example\",\"Shop Ltd\",\"Your receipt\",\"2026-11-03T09:00:00Z\",null,[],1,null]"
	run q 'select(.type == "attachment") | [.part, .filename, .content_type,
	    .sniffed_type, .disposition, .size, .sha256, .defect, .spool,
	    .gmail_attachment_id, .id, .msg_key]'
	assert_output "[\"2\",\"receipt.pdf\",\"application/pdf\",\"application/pdf\",\"attachment\",$(stat -c %s want.pdf),\"$sum\",null,null,null,null,\"sha256:$raw\"]"
	q -j 'select(.type == "attachment") | .data' | base64 -d | cmp - want.pdf
}

@test "NDJSON fetch records: base64url raw, Gmail fields, received_at from internalDate" {
	{
		fetch_record "$FIX/simple-pdf.eml" 18c0ffee
		# standard base64 with line breaks is accepted too
		jq -cn --arg raw "$(base64 -w 76 <"$FIX/nested.eml")" \
		    '{type: "raw", id: "18c0ffef", raw: $raw}'
	} >in.ndjson
	mx <in.ndjson
	[ "$rc" = 0 ]
	run q 'select(.type == "message") | [.id, .threadId, .labelIds, .source,
	    .file, .msg_key, .received_at, .attachments]'
	assert_output - <<'EOF'
["18c0ffee","t18c0ffee",["INBOX","UNREAD"],"gmail",null,"18c0ffee","2026-11-04T10:00:00Z",1]
["18c0ffef",null,null,"gmail",null,"18c0ffef","2026-11-04T08:30:00Z",2]
EOF
	run q 'select(.type == "attachment") | [.id, .msg_key, .part]'
	assert_output - <<'EOF'
["18c0ffee","18c0ffee","2"]
["18c0ffef","18c0ffef","2"]
["18c0ffef","18c0ffef","3"]
EOF
}

@test "nested multipart/mixed > multipart/alternative: bodies are not attachments" {
	mx --no-data "$FIX/nested.eml"
	[ "$rc" = 0 ]
	run q 'select(.type == "message") | .attachments'
	assert_output 2
	run q 'select(.type == "attachment") | [.part, .filename, .sniffed_type, .defect]'
	assert_output - <<'EOF'
["2","invoice-1001.pdf","application/pdf",null]
["3","label.png","image/png",null]
EOF
}

@test "an attached message/rfc822: its PDF counts, at part 2.2; the message part does not" {
	mx "$FIX/forwarded.eml"
	[ "$rc" = 0 ]
	run q 'select(.type == "message") | [.sender, .attachments]'
	assert_output '["me@example.com",1]'
	run q 'select(.type == "attachment") | [.part, .filename, .sniffed_type]'
	assert_output '["2.2","inner-receipt.pdf","application/pdf"]'
	fixture_part forwarded.eml inner-receipt.pdf >want.pdf
	[ "$(q -r 'select(.type == "attachment") | .sha256')" = \
	    "$(sha256sum want.pdf | cut -d' ' -f1)" ]
}

@test "filenames: RFC 2231 continuations and charset, RFC 2047 words, Content-Type name" {
	mx --no-data "$FIX/names.eml"
	[ "$rc" = 0 ]
	run q 'select(.type == "message") | [.sender_name, .subject]'
	assert_output '["Comptabilité","Reçu et facture"]'
	run q 'select(.type == "attachment") | [.part, .filename, .disposition]'
	assert_output - <<'EOF'
["2","Reçu n° 42.pdf","attachment"]
["3","Facture été.pdf","attachment"]
["4","../../etc/passwd","attachment"]
["5","only-in-disposition.pdf","attachment"]
["6","only-in-content-type.pdf",null]
EOF
}

@test "hostile names: path traversal kept as given, bad UTF-8 replaced, never a NUL" {
	mx --no-data "$FIX/names.eml"
	run q -r 'select(.part == "4") | .filename'
	assert_output "../../etc/passwd"
	# raw 8-bit bytes and a control character in the name and subject
	printf 'From: x@example.com\nSubject: \377\376 bad\nContent-Type: application/pdf; name="caf\351\001\377.pdf"\nContent-Disposition: attachment\n\n%%PDF-1.4\n%%%%EOF\n' >bad8.eml
	mx --no-data bad8.eml
	[ "$rc" = 0 ]
	iconv -f UTF-8 -t UTF-8 "$OUT" >/dev/null
	! grep -q '\\u0000' "$OUT"
	run q -r 'select(.type == "attachment") | .filename | test("^caf.*\\.pdf$")'
	assert_output true
}

@test "a name bad in its own charset gives the same record in any locale" {
	printf "From: x@example.com\nContent-Type: application/pdf\nContent-Disposition: attachment; filename*=utf-8''caf%%E9-%%E2%%80%%AE.pdf\n\n%%PDF-1.4\n%%%%EOF\n" >rfc2231.eml
	for env in LC_ALL=C LC_ALL=C.UTF-8 LANG=en_US.ISO-8859-1 LC_CTYPE=C.UTF-8; do
		env -u LC_ALL -u LANG -u LC_CTYPE "$env" mime-extract --no-data rfc2231.eml |
		    jq -ac 'select(.type == "attachment") | .filename'
	done >names.out
	run sort -u names.out
	assert_output '"caf\ufffd-\u202e.pdf"'
}

@test "a cid: logo in the HTML is not an attachment; an unreferenced inline photo is" {
	mx --no-data "$FIX/cid.eml"
	[ "$rc" = 0 ]
	run q 'select(.type == "message") | .attachments'
	assert_output 1
	run q 'select(.type == "attachment") | [.part, .filename, .disposition, .sniffed_type]'
	assert_output '["2","IMG_0001.jpg","inline","image/jpeg"]'
}

@test "defects: empty, truncated PDF, JPEG/PNG without end; octet-stream PDF and JPEG-as-PNG sniffed" {
	mx --no-data "$FIX/defects.eml"
	[ "$rc" = 0 ]
	run q 'select(.type == "attachment") | [.filename, .content_type, .sniffed_type, .size, .defect]'
	assert_output - <<'EOF'
["empty.pdf","application/pdf","application/octet-stream",0,"empty"]
["truncated.pdf","application/pdf","application/pdf",87,"PDF without %%EOF"]
["scan.pdf","application/octet-stream","application/pdf",77,null]
["photo.png","image/png","image/jpeg",91,null]
["cut.jpg","image/jpeg","image/jpeg",89,"JPEG without end marker"]
["cut.png","image/png","image/png",58,"PNG without IEND"]
EOF
	run q -r 'select(.filename == "empty.pdf") | .sha256'
	assert_output e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
}

@test "base64 that lacks its final '=' padding keeps its last bytes" {
	# "%PDF-1.4\n%%EOF" (14 bytes) without its "=", and the same with
	# "\n\n" (16 bytes) without its "==", folded
	for b64 in 'JVBERi0xLjQKJSVFT0Y' 'JVBERi0x\nLjQKJSVF\nT0YKCg'; do
		printf 'From: a@example.com\nContent-Type: application/pdf\nContent-Disposition: attachment; filename=a.pdf\nContent-Transfer-Encoding: base64\n\n'
		printf '%b\n' "$b64"
	done >nopad.eml
	csplit -s -f nopad -b '%d.eml' nopad.eml '/^From:/' '{*}'
	mx --no-data nopad1.eml nopad2.eml
	[ "$rc" = 0 ]
	run q -c 'select(.type == "attachment") | [.size, .sha256, .defect]'
	assert_line --index 0 "[14,\"$(printf '%%PDF-1.4\n%%%%EOF' | sha256sum | cut -d' ' -f1)\",null]"
	assert_line --index 1 "[16,\"$(printf '%%PDF-1.4\n%%%%EOF\n\n' | sha256sum | cut -d' ' -f1)\",null]"
}

@test "S/MIME: the pkcs7-signature part of multipart/signed is not an attachment" {
	mx --no-data "$FIX/smime.eml"
	[ "$rc" = 0 ]
	run q 'select(.type == "attachment") | [.part, .filename]'
	assert_output '["1.2","statement.pdf"]'
}

@test "forged Authentication-Results: only mx.google.com's topmost counts (dmarc=fail)" {
	mx --no-data "$FIX/forged-auth.eml"
	[ "$rc" = 0 ]
	run q 'select(.type == "message") | .auth'
	assert_output '{"authserv":"mx.google.com","dkim":"fail","dkim_domain":"bank.example","spf":"softfail","spf_domain":"bank.example","dmarc":"fail","dmarc_domain":"bank.example","from_domain":"bank.example"}'
	# without Gmail's header, there is no verdict at all
	grep -v -i -e '^authentication-results: mx' -e '^   ' "$FIX/forged-auth.eml" >no-gmail.eml
	mx --no-data no-gmail.eml
	run q 'select(.type == "message") | .auth'
	assert_output null
}

@test "Authentication-Results: comments, quoted strings, folding, case, bad bytes" {
	printf '%s\r\n' \
	    'Authentication-Results: MX.Google.COM 1;' \
	    ' DKIM = Pass (sig; ok (nested) "x;y") header . d = "Example.COM";' \
	    ' spf=neutral (google.com: x; y) smtp.mailfrom=<>;' \
	    ' dmarc=bestguesspass header.from=example.com' \
	    'From: A <a@example.com>' 'Subject: t' '' 'body' >ar1.eml
	printf 'Authentication-Results: mx.google.com; dkim=p\377ss header.d=ex\376.com; dmarc=fail\nFrom: a@example.com\n\nbody\n' >ar2.eml
	mx --no-data ar1.eml ar2.eml
	[ "$rc" = 0 ]
	iconv -f UTF-8 -t UTF-8 "$OUT" >/dev/null
	run q -c '.auth | [.dkim, .dkim_domain, .spf, .spf_domain, .dmarc, .dmarc_domain, .from_domain]'
	assert_output - <<'EOF'
["pass","example.com","neutral","<>","bestguesspass","example.com","example.com"]
["p�ss","ex�.com",null,null,"fail",null,"example.com"]
EOF
}

@test "a Drive link and no attachment; the From domain's DKIM pass is preferred to the mailer's" {
	mx "$FIX/drive-link.eml"
	[ "$rc" = 0 ]
	[ "$(wc -l <"$OUT")" = 1 ]
	run q '[.attachments, .links]'
	assert_output '[0,["https://drive.google.com/file/d/1AbC_dEf/view?usp=sharing","https://docs.google.com/spreadsheets/d/9XyZ/edit","https://docs.google.com/document/d/42/edit?usp=sharing&ouid=7"]]'
	run q '.auth | [.dkim, .dkim_domain, .spf, .spf_domain, .dmarc, .from_domain]'
	assert_output '["pass","mail.shop.example","pass","sendgrid.net","pass","shop.example"]'
}

@test "an mbox of 3 messages, as a file and on stdin; >From unescaped" {
	mx --no-data "$FIX/three.mbox"
	[ "$rc" = 0 ]
	run q 'select(.type == "message") | [.message_id, .attachments, .file]'
	assert_output - <<EOF
["mbox-1@shop.example",0,"$FIX/three.mbox"]
["mbox-2@shop.example",1,"$FIX/three.mbox"]
["mbox-3@shop.example",0,"$FIX/three.mbox"]
EOF
	# msg_key hashes the message itself: no From_ line, no separating
	# blank line, ">From" back to "From"
	sed -n '2,8p' "$FIX/three.mbox" | sed 's/^>From /From /' >first.eml
	[ "$(q -r 'select(.message_id == "mbox-1@shop.example") | .msg_key')" = \
	    "sha256:$(sha256sum first.eml | cut -d' ' -f1)" ]
	cp "$OUT" file.ndjson
	mx --no-data <"$FIX/three.mbox"
	[ "$rc" = 0 ]
	[ "$(jq -c 'del(.file)' "$OUT")" = "$(jq -c 'del(.file)' file.ndjson)" ]
}

@test "one RFC 822 message on stdin" {
	mx --no-data <"$FIX/nested.eml"
	[ "$rc" = 0 ]
	run q 'select(.type == "message") | [.file, .attachments, .msg_key]'
	assert_output "[null,2,\"sha256:$(sha256sum "$FIX/nested.eml" | cut -d' ' -f1)\"]"
}

@test "a Maildir: new/ then cur/, each file one message" {
	mkdir -p md/new md/cur md/tmp
	cp "$FIX/simple-pdf.eml" md/new/1700000001.1.host
	cp "$FIX/nested.eml" md/cur/1700000000.1.host:2,S
	cp "$FIX/cid.eml" md/tmp/1700000002.1.host
	mx --no-data md
	[ "$rc" = 0 ]
	run q 'select(.type == "message") | [.file, .message_id, .attachments]'
	assert_output - <<'EOF'
["md/new/1700000001.1.host","receipt-1@shop.example",1]
["md/cur/1700000000.1.host:2,S","nested-1@shop.example",2]
EOF
	mkdir notmaildir
	mx notmaildir "$FIX/simple-pdf.eml"
	[ "$rc" = 1 ]
	grep -q '^mime-extract: notmaildir: not a Maildir' "$ERR"
	run q -r 'select(.type == "message") | .message_id'
	assert_output receipt-1@shop.example
}

@test "--spool DIR: made 0700, files 0600 with the decoded bytes, named in \"spool\"" {
	mx --spool sp "$FIX/nested.eml" "$FIX/forwarded.eml"
	[ "$rc" = 0 ]
	[ "$(stat -c %a sp)" = 700 ]
	[ "$(q 'select(.type == "attachment")' | wc -l)" = 3 ]
	[ -z "$(q 'select(.type == "attachment") | select(has("data"))')" ]
	q -r 'select(.type == "attachment") | [.spool, .sha256, .size] | @tsv' |
	while IFS="	" read -r path sum size; do
		case $path in "$BASE/sp/.spool-"*) ;; *) false ;; esac
		[ "$(stat -c %a "$path")" = 600 ]
		[ "$(stat -c %s "$path")" = "$size" ]
		[ "$(sha256sum "$path" | cut -d' ' -f1)" = "$sum" ]
	done
	fixture_part nested.eml invoice-1001.pdf >want.pdf
	cmp "$(q -r 'select(.filename == "invoice-1001.pdf") | .spool')" want.pdf
	[ "$(find sp -type f | wc -l)" = 3 ]
}

@test "--spool: a directory that cannot be made is an I/O error (74)" {
	: >afile
	run mime-extract --spool afile/sp "$FIX/simple-pdf.eml"
	[ "$status" = 74 ]
	assert_output 'mime-extract: afile/sp: Not a directory'
}

@test "--spool: a failed write removes the message's files, writes no record, exits 74" {
	{
		printf 'From: a@example.com\nContent-Type: multipart/mixed; boundary=x\n\n'
		printf -- '--x\nContent-Type: application/pdf\nContent-Disposition: attachment; filename=small.pdf\n\n%%PDF-1.4\n%%%%EOF\n'
		printf -- '--x\nContent-Type: application/pdf\nContent-Disposition: attachment; filename=large.pdf\nContent-Transfer-Encoding: base64\n\n'
		head -c 5000 /dev/zero | base64
		printf -- '--x--\n'
	} >two.eml
	mkdir sp
	rc=0
	# at most 2 KiB per file; write(2) then fails with EFBIG
	(ulimit -f 2; trap '' XFSZ; exec mime-extract --spool sp two.eml) >"$OUT" 2>"$ERR" || rc=$?
	[ "$rc" = 74 ]
	grep -q "^mime-extract: $BASE/sp: File too large$" "$ERR"
	[ ! -s "$OUT" ]
	[ -z "$(ls -A sp)" ]
}

@test "--no-data: hashes and checks, no bytes anywhere" {
	mx --no-data "$FIX/simple-pdf.eml"
	[ "$rc" = 0 ]
	run q 'select(.type == "attachment") | [has("data"), .spool, (.sha256 | length), .sniffed_type]'
	assert_output '[false,null,64,"application/pdf"]'
}

@test "--max 2 stops after the message that reaches 2, never half-way through one" {
	mx --no-data --max 2 "$FIX/simple-pdf.eml" "$FIX/nested.eml" "$FIX/cid.eml"
	[ "$rc" = 0 ]
	run q -r 'select(.type == "message") | .message_id'
	assert_output - <<'EOF'
receipt-1@shop.example
nested-1@shop.example
EOF
	[ "$(q 'select(.type == "attachment")' | wc -l)" = 3 ]
	# the same in a stream of fetch records
	for f in simple-pdf nested cid; do fetch_record "$FIX/$f.eml" "id-$f"; done >in.ndjson
	mx --no-data --max 2 <in.ndjson
	[ "$rc" = 0 ]
	run q -r 'select(.type == "message") | .id'
	assert_output - <<'EOF'
id-simple-pdf
id-nested
EOF
}

@test "a bad record in the middle: warned with its line, counted, others go on, exit 1" {
	{
		fetch_record "$FIX/simple-pdf.eml" good1
		echo '{not json'
		echo '{"type":"raw","id":"noraw"}'
		echo '{"type":"error","id":"gone1","stage":"gmail-fetch","error":"500 after retries"}'
		echo '{"type":"raw","id":"badraw","raw":"!!! not base64 !!!"}'
		fetch_record "$FIX/nested.eml" good2
	} >in.ndjson
	mx --no-data <in.ndjson
	[ "$rc" = 1 ]
	run q -r '[.type, .id] | @tsv'
	assert_output - <<'EOF'
message	good1
attachment	good1
error	gone1
message	good2
attachment	good2
attachment	good2
EOF
	run q 'select(.type == "error")'
	assert_output '{"type":"error","id":"gone1","stage":"gmail-fetch","error":"500 after retries"}'
	run cat "$ERR"
	assert_line --partial 'mime-extract: line 2: '
	assert_line 'mime-extract: line 3: no "raw"'
	assert_line 'mime-extract: line 5: "raw" is not base64'
	[ "${#lines[@]}" = 3 ]
}

# nest N FILE: a message with N nested multiparts around a PDF.
nest() {
	awk -v n="$1" 'BEGIN {
		print "From: deep@example.com\nSubject: deep\nMIME-Version: 1.0"
		for (i = 0; i < n; i++)
			printf "Content-Type: multipart/mixed; boundary=\"b%d\"\n\n--b%d\n", i, i
		print "Content-Type: application/pdf\nContent-Disposition: attachment; filename=\"deep.pdf\"\n\n%PDF-1.4\n%%EOF"
		for (i = n - 1; i >= 0; i--)
			printf "--b%d--\n", i
	}' >"$2"
}

@test "too deep: 100 nested multiparts give an error record; the next message is still read" {
	nest 100 deep.eml
	nest 5 ok.eml
	mx --no-data deep.eml ok.eml
	[ "$rc" = 1 ]
	run q -c 'select(.type == "message") | [.file, .attachments, .error, .sender]'
	assert_output - <<'EOF'
["deep.eml",0,"MIME parts nested deeper than 32","deep@example.com"]
["ok.eml",1,null,"deep@example.com"]
EOF
	run q -r 'select(.type == "attachment") | .part'
	assert_output 1.1.1.1.1
	grep -q '^mime-extract: deep.eml: MIME parts nested deeper than 32$' "$ERR"
	# a million would not even reach the parser
	nest 20000 deeper.eml
	mx --no-data deeper.eml
	[ "$rc" = 1 ]
	run q -r '.error'
	assert_output "more than 1000 MIME parts"
}

@test "2000 parts, 200,000 parts: error records; the next record is still read" {
	awk 'BEGIN {
		print "From: many@example.com\nSubject: many\nMIME-Version: 1.0"
		print "Content-Type: multipart/mixed; boundary=\"m\"\n"
		for (i = 0; i < 2000; i++)
			printf "--m\nContent-Type: application/pdf; name=\"p%d.pdf\"\n\n%%PDF-1.4\n", i
		print "--m--"
	}' >many.eml
	{ fetch_record many.eml many; fetch_record "$FIX/simple-pdf.eml" next; } >in.ndjson
	mx --no-data <in.ndjson
	[ "$rc" = 1 ]
	run q -c 'select(.type == "message") | [.id, .attachments, .error]'
	assert_output - <<'EOF'
["many",0,"more than 1000 MIME parts"]
["next",1,null]
EOF
	grep -q '^mime-extract: many: more than 1000 MIME parts$' "$ERR"
	# 200,000 empty parts in 1 MB: refused before GMime builds them
	awk 'BEGIN {
		print "From: flat@example.com\nContent-Type: multipart/mixed; boundary=m\n"
		for (i = 0; i < 200000; i++)
			print "--m\n"
		print "--m--"
	}' >flat.eml
	mx --no-data flat.eml
	[ "$rc" = 1 ]
	run q -r '.error'
	assert_output "more than 10000 lines that may be MIME boundaries"
}

@test "header bounds: a 100 KB header line, a 300 KB header block give error records" {
	{ printf 'From: long@example.com\nX-Long: '; head -c 102400 /dev/zero | tr '\0' a; printf '\nSubject: x\n\nbody\n'; } >long.eml
	{ printf 'From: big@example.com\n'; for i in $(seq 3000); do printf 'X-H%d: %0100d\n' "$i" 0; done; printf '\nbody\n'; } >block.eml
	mx --no-data long.eml block.eml "$FIX/simple-pdf.eml"
	[ "$rc" = 1 ]
	run q -c 'select(.type == "message") | [.file, .attachments, .error]'
	assert_output - <<EOF
["long.eml",0,"header line longer than 64 KiB"]
["block.eml",0,"header block larger than 256 KiB"]
["$FIX/simple-pdf.eml",1,null]
EOF
}

@test "a message over 64 MiB: error record, msg_key still the hash of all its bytes" {
	{ printf 'From: huge@example.com\nSubject: huge\n\n'; head -c 67200000 /dev/zero; } >huge.eml
	mx --no-data huge.eml
	[ "$rc" = 1 ]
	run q -c '[.attachments, .error, .msg_key]'
	assert_output "[0,\"message larger than 64 MiB ($(stat -c %s huge.eml) bytes)\",\"sha256:$(sha256sum huge.eml | cut -d' ' -f1)\"]"
}

@test "garbage is a message that cannot be parsed, not a crash" {
	: >empty.eml
	# (not '{' or "From " first: that would be NDJSON or an mbox)
	{ printf X; head -c 20000 /dev/urandom; } >noise.eml
	mx --no-data empty.eml noise.eml "$FIX/simple-pdf.eml"
	[ "$rc" = 1 ]
	run q -c 'select(.type == "message") | [.file, .error]'
	assert_line --index 0 '["empty.eml","not a MIME message"]'
	[ "${#lines[@]}" = 3 ]
	iconv -f UTF-8 -t UTF-8 "$OUT" >/dev/null
}

@test "a missing file is reported and counted; the others are read" {
	mx --no-data nosuch.eml "$FIX/simple-pdf.eml"
	[ "$rc" = 1 ]
	grep -q '^mime-extract: nosuch.eml: No such file or directory$' "$ERR"
	[ "$(q 'select(.type == "message")' | wc -l)" = 1 ]
}

@test "a write error on stdout exits 74" {
	rc=0
	mime-extract "$FIX/simple-pdf.eml" >/dev/full 2>"$ERR" || rc=$?
	[ "$rc" = 74 ]
	grep -q '^mime-extract: stdout: write error' "$ERR"
}

@test "usage: -h, --help, --version, bad options exit 2" {
	run mime-extract -h
	assert_success
	assert_output 'usage: mime-extract [-c file] [-o key=value] [--max n] [--no-data | --spool dir] [file ...]'
	run mime-extract --help
	assert_success
	run mime-extract --version
	assert_success
	assert_output --regexp '^mime-extract [0-9]'
	run mime-extract --bogus
	[ "$status" = 2 ]
	run mime-extract --no-data --spool x "$FIX/simple-pdf.eml"
	[ "$status" = 2 ]
	run mime-extract --max two "$FIX/simple-pdf.eml"
	[ "$status" = 2 ]
}

@test "the man page's SYNOPSIS is the usage line" {
	man_synopsis=$(mandoc -Tascii "$TOP/man/mime-extract.1" | col -b |
	    awk '/^SYNOPSIS/ { s = 1; next } /^[A-Z]/ { s = 0 } s' |
	    tr -s ' \t\n' '   ' | sed 's/^ *//; s/ *$//')
	usage=$(mime-extract -h | sed 's/^usage: //')
	[ "$man_synopsis" = "$usage" ]
}

@test "an empty stdin is an empty stream: no record, exit 0" {
	run mime-extract </dev/null
	assert_success
	assert_output ""
}
