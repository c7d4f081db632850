#!/usr/bin/env bats
# Hostile mail through mime-extract and mime-extract --spool |
# receipt-store ingest: 10,000 parts, 1,000-deep nesting, a 100 MB header
# line, NUL bytes, bad UTF-8 and bidi overrides in names, boundaries that
# never close, base64 with garbage, a 30 MB attachment. The messages are
# made here by tests/hostile/gen.py.
#
# The memory bounds asserted (peak RSS, GNU time's %M; S is the size of
# the raw message; 32 MiB covers the libraries and the small buffers, a
# run on a small message peaks at 9-10 MiB):
#   mime-extract, a message from a file, --spool or --no-data  S + 32 MiB
#     (held once; decoded bytes stream out, never held)
#   mime-extract, a message refused on its raw bytes (parts, depth)
#                                                              32 MiB
#   mime-extract, a message over 64 MiB                  64 MiB + 32 MiB
#     (read through and hashed, never held past the bound)
#   mime-extract, a gmail-fetch record, or the bytes inline    3 S + 32 MiB
#     (the record, then the raw message; the base64 text, then its JSON)
#   mime-extract, a huge header line in a part (GMime copies it about
#     three times before the walk refuses it)                  4 S + 32 MiB
#   mime-extract, a record line past the 128 MiB NDJSON cap  128 MiB + 32 MiB
#   mime-extract, any number of messages from files    4 x 64 MiB + 32 MiB
#     (nothing is kept from one message to the next)
#   receipt-store ingest, spool files of any size              16 MiB
#   receipt-store ingest, bytes inline in a record of L bytes  3 L + 16 MiB
# Measured on Debian 12, amd64: see the figures in each test's comment.
# The bounds are not checked on a sanitised build (ASan's shadow memory).

load helpers

setup() {
	setup_base
	export OPS_GMAIL_COLLECT_ALLOWED_SENDERS=billing@shop.example
	export OPS_GMAIL_COLLECT_REQUIRE_SENDER_AUTH=false	# local mail
	IN="$BATS_TEST_TMPDIR/in"
	OUT="$BATS_TEST_TMPDIR/out"
	mkdir -p "$IN" "$OUT" "$BATS_TEST_TMPDIR/tmp"
	export TMPDIR="$BATS_TEST_TMPDIR/tmp"
	SPOOL="$BASE/var/spool/hostile"
	DAY=var/incoming/2026-11-16
	MiB=1024			# KiB
}

gen() {
	python3 "$TESTS_DIR/hostile/gen.py" "$IN" "$@"
}

# pdf_sum TAG [SIZE]: the sha256 of the PDF a message carries.
pdf_sum() {
	python3 "$TESTS_DIR/hostile/gen.py" --pdf "$@" | sha256sum | cut -d' ' -f1
}

kib() {
	echo $(( $(stat -c %s "$1") / 1024 ))
}

# mx NAME ARGS...: mime-extract ARGS, records in $OUT/NAME, diagnostics in
# $OUT/NAME.err, exit status in $rc, peak RSS (KiB) in $OUT/NAME.rss.
mx() {
	local name=$1
	shift
	rc=0
	/usr/bin/time -f %M -o "$OUT/$name.rss" mime-extract "$@" \
	    >"$OUT/$name" 2>"$OUT/$name.err" || rc=$?
}

# pipe NAME INPUT...: mime-extract --spool | receipt-store ingest; the
# statuses in $me_rc and $rs_rc, records in $OUT/NAME.me and $OUT/NAME.rs,
# peak RSS in $OUT/NAME.me.rss and $OUT/NAME.rs.rss.
pipe() {
	local name=$1
	shift
	{ rc=0; /usr/bin/time -f %M -o "$OUT/$name.me.rss" mime-extract \
	    --spool "$SPOOL" "$@" 2>"$OUT/$name.me.err" || rc=$?
	  echo $rc >"$OUT/rc.me"; } |
	    tee "$OUT/$name.me" |
	{ rc=0; /usr/bin/time -f %M -o "$OUT/$name.rs.rss" receipt-store ingest \
	    >"$OUT/$name.rs" 2>"$OUT/$name.rs.err" || rc=$?
	  echo $rc >"$OUT/rc.rs"; }
	me_rc=$(cat "$OUT/rc.me")
	rs_rc=$(cat "$OUT/rc.rs")
}

sanitised() {
	ldd "$(command -v mime-extract)" 2>/dev/null | grep -q 'libasan'
}

# rss_le FILE.rss BOUND_KIB: the peak RSS GNU time wrote (its last line)
# is within the bound.
rss_le() {
	local rss
	rss=$(tail -n 1 "$1")
	echo "# ${1##*/}: peak RSS $rss KiB, bound $2 KiB" >&3
	if sanitised; then
		return 0
	fi
	[ "$rss" -le "$2" ] || {
		echo "${1##*/}: peak RSS $rss KiB > bound $2 KiB" >&2
		return 1
	}
}

# The names of the files under DIR that are not valid UTF-8 (fails) or
# hold a control or a format character (bidi overrides, zero widths...).
unclean_names() {
	find "$1" -type f -printf '%f\n' | python3 -c '
import sys, unicodedata
for name in sys.stdin.buffer.read().decode("utf-8").splitlines():
    if any(unicodedata.category(c) in ("Cc", "Cf") for c in name):
        print(name)'
}

# Every path under the test's directory but var/ and the records.
listing() {
	(cd "$BATS_TEST_TMPDIR" && find . -path ./base/var -prune -o \
	    -path ./out -prune -o -print | sort)
}

# jq -a output (\u escapes) on one line; not with -r, which makes jq 1.6
# corrupt its heap.
q() {
	jq -ac "$@"
}

@test "10,000 parts, 1,000-deep multiparts and attached messages: error records, the next message read; memory <= 32 MiB" {
	gen parts-10000 nest-1000 nest-rfc822-1000 unclosed
	# measured: 10.2 MiB for 10,000 parts, 11.6 and 12.7 MiB for the nests
	for m in parts-10000 nest-1000 nest-rfc822-1000; do
		mx "$m" --no-data "$IN/$m.eml" "$IN/unclosed.eml"
		[ "$rc" = 1 ]
		rss_le "$OUT/$m.rss" $((32 * MiB))
	done
	run q 'select(.type == "message") | [.subject, .attachments, .error]' \
	    "$OUT/parts-10000"
	assert_output - <<'EOF'
[null,0,"more than 10000 lines that may be MIME boundaries"]
["unclosed",1,null]
EOF
	run cat "$OUT/parts-10000.err"
	assert_output "mime-extract: $IN/parts-10000.eml: more than 10000 lines that may be MIME boundaries"
	for m in nest-1000 nest-rfc822-1000; do
		run q 'select(.type == "message") | [.subject, .attachments, .error]' \
		    "$OUT/$m"
		assert_output - <<'EOF'
["1000 deep",0,"MIME parts nested deeper than 32"]
["unclosed",1,null]
EOF
		run cat "$OUT/$m.err"
		assert_output "mime-extract: $IN/$m.eml: MIME parts nested deeper than 32"
	done
	# through the pipeline: the ledger says error, nothing is filed
	pipe nest "$IN/nest-1000.eml" "$IN/parts-10000.eml"
	[ "$me_rc" = 1 ]
	[ "$rs_rc" = 0 ]
	run q 'select(.type == "message_result") | .verdict' "$OUT/nest.rs"
	assert_output - <<'EOF'
"error"
"error"
EOF
	[ -z "$(find var -type f -path '*/incoming/*' -o -type f -path '*/quarantine/*')" ]
}

@test "a 100 MB header line: refused past 64 MiB unheld, msg_key the hash of it all; memory <= 96 MiB" {
	gen header-100mb unclosed
	# measured: 72.1 MiB
	mx long --no-data "$IN/header-100mb.eml" "$IN/unclosed.eml"
	[ "$rc" = 1 ]
	rss_le "$OUT/long.rss" $((96 * MiB))
	run q 'select(.type == "message") | [.msg_key, .attachments, .error]' \
	    "$OUT/long"
	assert_line --index 0 "[\"sha256:$(sha256sum "$IN/header-100mb.eml" | cut -d' ' -f1)\",0,\"message larger than 64 MiB (104857944 bytes)\"]"
	assert_line --index 1 --regexp '^\["sha256:[0-9a-f]{64}",1,null\]$'
	run cat "$OUT/long.err"
	assert_output "mime-extract: $IN/header-100mb.eml: message larger than 64 MiB (104857944 bytes)"
	# as gmail-fetch's record the line is past the NDJSON cap: skipped
	# with its line number, the next record read (measured: 134.2 MiB)
	{ python3 "$TESTS_DIR/hostile/gen.py" --record long1 "$IN/header-100mb.eml"
	  python3 "$TESTS_DIR/hostile/gen.py" --record next1 "$IN/unclosed.eml"; } >"$IN/long.ndjson"
	mx rec --no-data "$IN/long.ndjson"
	[ "$rc" = 1 ]
	rss_le "$OUT/rec.rss" $(((128 + 32) * MiB))
	run q 'select(.type == "message") | [.id, .attachments, .error]' "$OUT/rec"
	assert_output '["next1",1,null]'
	run cat "$OUT/rec.err"
	assert_output "mime-extract: $IN/long.ndjson: line 1: longer than 134217728 bytes, skipped"
}

@test "a 60 MB header line in the message's header: refused on the raw bytes; memory <= S + 32 MiB" {
	gen header-60mb
	# measured: 68.7 MiB
	mx top --no-data "$IN/header-60mb.eml"
	[ "$rc" = 1 ]
	rss_le "$OUT/top.rss" $(($(kib "$IN/header-60mb.eml") + 32 * MiB))
	run cat "$OUT/top.err"
	assert_output "mime-extract: $IN/header-60mb.eml: header line longer than 64 KiB"
}

@test "a 60 MB header line in a part's header: refused after GMime parsed it; memory <= 4 S + 32 MiB" {
	if sanitised; then
		skip "GMime grows a header by small reallocs: minutes under ASan"
	fi
	gen part-header-60mb
	# measured: 248.8 MiB (GMime holds the line about three times over)
	mx part --no-data "$IN/part-header-60mb.eml"
	[ "$rc" = 1 ]
	rss_le "$OUT/part.rss" $((4 * $(kib "$IN/part-header-60mb.eml") + 32 * MiB))
	run cat "$OUT/part.err"
	assert_output "mime-extract: $IN/part-header-60mb.eml: a part's header block is larger than 256 KiB"
	run q '[.type, .attachments, .error]' "$OUT/part"
	assert_output '["message",0,"a part'"'"'s header block is larger than 256 KiB"]'
}

@test "NUL bytes in headers, a filename, a boundary line, bodies: no NUL out, the PDFs whole" {
	gen nul
	mx nul "$IN/nul.eml"
	[ "$rc" = 0 ]
	! grep -q '\\u0000' "$OUT/nul"
	iconv -f UTF-8 -t UTF-8 "$OUT/nul" >/dev/null
	run q 'select(.type == "message") | [.subject, .attachments]' "$OUT/nul"
	assert_output '["nul",2]'
	# GMime's strings end at the NUL: the name is what comes before it
	run q 'select(.type == "attachment") | [.part, .filename, .size, .sha256, .defect]' "$OUT/nul"
	assert_output - <<EOF
["2","\"in",26,"$(pdf_sum 'nul name')",null]
["3","raw.pdf",34,"$(pdf_sum 'binary\0with\0nuls')",null]
EOF
	pipe nul "$IN/nul.eml"
	[ "$me_rc" = 0 ]
	[ "$rs_rc" = 0 ]
	run q 'select(.type == "attachment_result") | [.outcome, .storage_path]' "$OUT/nul.rs"
	assert_output - <<'EOF'
["stored","incoming/2026-11-16/\"in.pdf"]
["stored","incoming/2026-11-16/raw.pdf"]
EOF
	cmp <(python3 "$TESTS_DIR/hostile/gen.py" --pdf 'binary\0with\0nuls') "$DAY/raw.pdf"
}

@test "invalid UTF-8 and bidi overrides in filenames: kept as given by mime-extract, filed sanitised by receipt-store" {
	gen names
	mx names --no-data "$IN/names.eml"
	[ "$rc" = 0 ]
	iconv -f UTF-8 -t UTF-8 "$OUT/names" >/dev/null
	# raw 8-bit bytes read as Latin-1 (GMime's fallback), bad UTF-8 in
	# RFC 2231 as U+FFFD, the RFC 2047 word decoded, a quoted '\' dropped
	run q 'select(.type == "attachment") | [.part, .filename]' "$OUT/names"
	assert_output - <<'EOF'
["1","bad\u00ff\u00feutf8\u00c3.pdf"]
["2","invoice\u202efdp.exe"]
["3","receipt\u202efdp.js\ufffd\ufffd"]
["4","../../etc/\u202egnp.pdf"]
["5","/abs/pathwinx.pdf"]
["6","\u200f\u2066..\u0001\u007f.pdf"]
EOF
	before=$(listing)
	pipe names "$IN/names.eml"
	[ "$me_rc" = 0 ]
	[ "$rs_rc" = 0 ]
	run q 'select(.type == "attachment_result") | [.outcome, .storage_path]' "$OUT/names.rs"
	assert_output - <<'EOF'
["stored","incoming/2026-11-16/bad\u00ff\u00feutf8\u00c3.pdf"]
["stored","incoming/2026-11-16/invoicefdp.exe.pdf"]
["stored","incoming/2026-11-16/receiptfdp.js\ufffd\ufffd.pdf"]
["stored","incoming/2026-11-16/gnp.pdf"]
["stored","incoming/2026-11-16/pathwinx.pdf"]
["stored","incoming/2026-11-16/pdf.pdf"]
EOF
	# on disk: six files in the date directory, each name valid UTF-8,
	# without a control, bidi or invisible formatting character
	[ "$(find var/incoming -type f | wc -l)" = 6 ]
	[ "$(find var/incoming -mindepth 2 -type f -printf '%h\n' | sort -u)" = "$DAY" ]
	run unclean_names var/incoming
	assert_success
	assert_output ''
	# the original names are kept in the receipts
	run bash -c "receipt-store list | jq -ac '.original_filename'"
	assert_line --index 1 '"invoice\u202efdp.exe"'
	[ "$(listing)" = "$before" ]
}

@test "a boundary that never closes, one that never comes: the parts before the end found whole, nothing invented" {
	gen unclosed no-boundary
	mx open --no-data "$IN/unclosed.eml" "$IN/no-boundary.eml"
	[ "$rc" = 0 ]
	run q 'select(.type == "message") | [.subject, .attachments, .error]' "$OUT/open"
	assert_output - <<'EOF'
["unclosed",1,null]
["no boundary",0,null]
EOF
	run q 'select(.type == "attachment") | [.part, .filename, .sha256, .defect]' "$OUT/open"
	assert_output "[\"2\",\"open.pdf\",\"$(pdf_sum open)\",null]"
}

@test "base64 with garbage: junk between the characters skipped, the PDF whole; a body broken by '=' flagged by its defect" {
	gen b64-garbage
	mx junk --no-data "$IN/b64-garbage.eml"
	[ "$rc" = 0 ]
	run q 'select(.type == "attachment") | [.filename, .size, .sha256, .sniffed_type, .defect]' "$OUT/junk"
	assert_line --index 0 "[\"junk.pdf\",25,\"$(pdf_sum garbage)\",\"application/pdf\",null]"
	assert_line --index 1 --regexp '^\["cut.pdf",[0-9]+,"[0-9a-f]{64}","application/pdf","PDF without %%EOF"\]$'
	pipe junk "$IN/b64-garbage.eml"
	[ "$me_rc" = 0 ]
	[ "$rs_rc" = 0 ]
	run q 'select(.type == "attachment_result") | [.outcome, .reason, .storage_path]' "$OUT/junk.rs"
	assert_output - <<'EOF'
["stored",null,"incoming/2026-11-16/junk.pdf"]
["quarantined","corrupt: PDF without %%EOF","quarantine/2026-11-16/cut.pdf"]
EOF
}

@test "a 30 MB attachment: streamed to the spool and the store; memory <= S + 32 MiB, 16 MiB for receipt-store" {
	gen attach-30mb
	sum=$(pdf_sum '30 MB' 31457280)
	S=$(kib "$IN/attach-30mb.eml")
	before=$(listing)
	# measured: 49.5 MiB for mime-extract (S = 40.5 MiB), 6.0 MiB for
	# receipt-store
	pipe big "$IN/attach-30mb.eml"
	[ "$me_rc" = 0 ]
	[ "$rs_rc" = 0 ]
	rss_le "$OUT/big.me.rss" $((S + 32 * MiB))
	rss_le "$OUT/big.rs.rss" $((16 * MiB))
	run q 'select(.type == "attachment") | [.filename, .size, .sha256, .defect]' "$OUT/big.me"
	assert_output "[\"big.pdf\",31457280,\"$sum\",null]"
	# MAX_SIZE_BYTES is 20M: quarantined whole, the spool file gone
	run q 'select(.type == "attachment_result") | [.outcome, .reason, .storage_path]' "$OUT/big.rs"
	assert_output '["quarantined","too large: 31457280 bytes, MAX_SIZE_BYTES is 20971520","quarantine/2026-11-16/big.pdf"]'
	[ "$(sha256sum var/quarantine/2026-11-16/big.pdf | cut -d' ' -f1)" = "$sum" ]
	[ -z "$(ls -A "$SPOOL")" ]
	[ "$(listing)" = "$before" ]
}

@test "a 30 MB attachment as gmail-fetch's record, and inline: memory <= 3 S + 32 MiB; receipt-store <= 3 L + 16 MiB" {
	gen attach-30mb
	sum=$(pdf_sum '30 MB' 31457280)
	S=$(kib "$IN/attach-30mb.eml")
	python3 "$TESTS_DIR/hostile/gen.py" --record big1 "$IN/attach-30mb.eml" >"$IN/big.ndjson"
	# measured: 114.2 MiB (a record of 54.0 MiB)
	mx rec --spool "$SPOOL" "$IN/big.ndjson"
	[ "$rc" = 0 ]
	rss_le "$OUT/rec.rss" $((3 * S + 32 * MiB))
	run q 'select(.type == "attachment") | [.id, .size, .sha256]' "$OUT/rec"
	assert_output "[\"big1\",31457280,\"$sum\"]"
	rm -f "$SPOOL"/.spool-*
	# the bytes inline, as base64 in the record (measured: 129.5 MiB);
	# receipt-store reads that 40 MiB line (measured: 83.6 MiB)
	mx data "$IN/attach-30mb.eml"
	[ "$rc" = 0 ]
	rss_le "$OUT/data.rss" $((3 * S + 32 * MiB))
	L=$(kib "$OUT/data")
	/usr/bin/time -f %M -o "$OUT/rs.rss" receipt-store ingest <"$OUT/data" >"$OUT/rs"
	rss_le "$OUT/rs.rss" $((3 * L + 16 * MiB))
	run q 'select(.type == "attachment_result") | [.outcome, .sha256]' "$OUT/rs"
	assert_output "[\"quarantined\",\"$sum\"]"
}

@test "every hostile message in one run: memory <= 4 x 64 MiB + 32 MiB; then the pipeline writes nothing outside var/" {
	gen
	errors=6
	if sanitised; then	# see the part's 60 MB header line above
		rm "$IN/part-header-60mb.eml"
		errors=5
	fi
	# measured: 252.7 MiB, the 60 MB part header line's
	mx all --no-data "$IN"/*.eml
	[ "$rc" = 1 ]
	rss_le "$OUT/all.rss" $((4 * 64 * MiB + 32 * MiB))
	[ "$(q 'select(.type == "message")' "$OUT/all" | wc -l)" = $((errors + 6)) ]
	[ "$(wc -l <"$OUT/all.err")" = "$errors" ]
	before=$(listing)
	pipe all "$IN"/*.eml
	[ "$me_rc" = 1 ]
	[ "$rs_rc" = 0 ]
	[ "$(listing)" = "$before" ]
	[ -z "$(ls -A "$TMPDIR")" ]
	[ -z "$(ls -A "$SPOOL")" ]
	run jq -r 'select(.type == "message_result") | .verdict' "$OUT/all.rs"
	[ "$(sort <<<"$output" | uniq -c | awk '{print $2 "=" $1}' | paste -sd' ')" = \
	    "error=$errors imported=3 mixed=1 no_attachment=1 quarantined=1" ]
	# and every stored name is clean
	run unclean_names var
	assert_success
	assert_output ''
	run receipt-store verify
	assert_success
}
