#!/usr/bin/env bats
# gmail-list against the fake: the exact query sent (whitelist, labels,
# --since), paging, --print-query, --estimate, errors and hostile input.

load helpers
bats_require_minimum_version 1.5.0

DEFAULT_Q='is:unread has:attachment from:(billing@shop.example OR @invoices.example) -label:"gmail-ops/imported" -label:"gmail-ops/quarantine"'

setup() {
	setup_base
	export OPS_GMAIL_COLLECT_ALLOWED_SENDERS="billing@shop.example, @invoices.example"
	fake_start
	login_user -o APPLY_LABELS=true
	: >"$FAKE_LOG"
}

teardown() {
	fake_stop
}

# A message body for POST /_fake/messages: FROM, with an attachment or not.
message_json() {
	local from=$1 attach=${2:-yes} date=${3:-Mon, 02 Feb 2026 10:00:00 +0000} text
	if [ "$attach" = yes ]; then
		text=$(printf 'From: %s\r\nTo: user@example.com\r\nDate: %s\r\nSubject: Your receipt\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nThanks\r\n--b\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=receipt.pdf\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQKJSVFT0YK\r\n--b--\r\n' "$from" "$date")
	else
		text=$(printf 'From: %s\r\nTo: user@example.com\r\nDate: %s\r\nSubject: hello\r\n\r\nno attachment\r\n' "$from" "$date")
	fi
	jq -nc --arg t "$text" '{text: $t}'
}

# insert_many N JSONFILE: N copies of one message, in one curl process.
insert_many() {
	local i
	for i in $(seq "$1"); do echo "url = \"$FAKE/_fake/messages\""; done >curl.cfg
	curl -sf -H 'Content-Type: application/json' --data-binary "@$2" -K curl.cfg >/dev/null
}

insert() {
	fake_ctl POST messages "$(message_json "$@")" | jq -r .id
}

list_queries() {
	fake_requests gmail.users.messages.list | jq -r .query.q
}

@test "the query sent: QUERY, the whitelist as from:(a OR @domain), the handled labels excluded" {
	run --separate-stderr gmail-list
	assert_success
	[ -z "$output" ]
	[ "$(fake_count gmail.users.messages.list)" = 1 ]
	[ "$(list_queries)" = "$DEFAULT_Q" ]
	fake_requests gmail.users.messages.list | jq -e '.query.maxResults == "500" and (.query | has("pageToken") | not)'
}

@test "only whitelisted senders' unread mail with attachments, not yet labelled, is listed" {
	# (from: is Gmail's fuzzy match, a substring in the fake: receipt-store
	# checks the exact sender again)
	a=$(insert billing@shop.example)
	b=$(insert "Invoices <noreply@invoices.example>")
	insert billing@shop.example no >/dev/null
	insert someone@else.example >/dev/null
	imported=$(insert billing@shop.example)
	gmail-api -d '{"name":"gmail-ops/imported"}' users/me/labels >label.json
	gmail-api -d "{\"addLabelIds\":[\"$(jq -r .id label.json)\"]}" "users/me/messages/$imported/modify" >/dev/null
	read_id=$(insert billing@shop.example)
	gmail-api -d '{"removeLabelIds":["UNREAD"]}' "users/me/messages/$read_id/modify" >/dev/null
	run --separate-stderr gmail-list
	assert_success
	[ "$(echo "$output" | jq -r .id | sort)" = "$(printf '%s\n' "$a" "$b" | sort)" ]
	echo "$output" | jq -e 'select(.type == "ref" and (.threadId | type) == "string")' >/dev/null
	[ "$(echo "$output" | head -1 | jq -c keys_unsorted)" = '["type","id","threadId"]' ]
}

@test "--since adds after:YYYY/MM/DD; a bad date is a usage error" {
	run gmail-list --since 2026-01-31
	assert_success
	[ "$(list_queries)" = "$DEFAULT_Q after:2026/01/31" ]
	for d in 2026-02-30 2026-1-31 31-01-2026 2026/01/31 2026-01-31x ""; do
		run gmail-list --since "$d"
		assert_failure 2
		assert_output "gmail-list: --since $d: not a date (YYYY-MM-DD)"
	done
	[ "$(fake_count gmail.users.messages.list)" = 1 ]
}

@test "-q replaces QUERY (a query with OR is grouped); QUERY from the config too" {
	run gmail-list -q 'subject:receipt'
	assert_success
	run gmail-list -q 'subject:receipt OR subject:invoice'
	assert_success
	run gmail-list -o 'QUERY=in:inbox'
	assert_success
	[ "$(list_queries | sed -n 1p)" = 'subject:receipt from:(billing@shop.example OR @invoices.example) -label:"gmail-ops/imported" -label:"gmail-ops/quarantine"' ]
	[ "$(list_queries | sed -n 2p)" = '(subject:receipt OR subject:invoice) from:(billing@shop.example OR @invoices.example) -label:"gmail-ops/imported" -label:"gmail-ops/quarantine"' ]
	[ "$(list_queries | sed -n 3p)" = 'in:inbox from:(billing@shop.example OR @invoices.example) -label:"gmail-ops/imported" -label:"gmail-ops/quarantine"' ]
}

@test "the label names come from LABEL_IMPORTED and LABEL_QUARANTINE" {
	run gmail-list -o LABEL_IMPORTED=Receipts/Done -o 'LABEL_QUARANTINE=Receipts/Bad ones'
	assert_success
	[ "$(list_queries)" = 'is:unread has:attachment from:(billing@shop.example OR @invoices.example) -label:"Receipts/Done" -label:"Receipts/Bad ones"' ]
}

@test "--print-query prints the final query and makes no call, even without credentials" {
	rm -rf "$CREDS"
	run gmail-list --print-query --since 2026-03-01
	assert_success
	assert_output "$DEFAULT_Q after:2026/03/01"
	[ ! -s "$FAKE_LOG" ]
}

@test "an empty whitelist is refused: exit 78, no call" {
	export OPS_GMAIL_COLLECT_ALLOWED_SENDERS=
	run gmail-list
	assert_failure 78
	assert_output --partial "gmail-list: ALLOWED_SENDERS is empty"
	run gmail-list --print-query
	assert_failure 78
	[ ! -s "$FAKE_LOG" ]
}

@test "hostile config: a sender or label name that would change the query is refused (78)" {
	for s in 'a@b.example) OR (is:read' 'a@b.example OR x@y.example' 'nobody' '@b.example"' '{a@b.example x@y.example}' 'a@b.example|is:read'; do
		OPS_GMAIL_COLLECT_ALLOWED_SENDERS=$s run gmail-list
		assert_failure 78
		assert_output --partial "ALLOWED_SENDERS: "
	done
	run gmail-list -o 'LABEL_IMPORTED=x" OR "y'
	assert_failure 78
	assert_output "gmail-list: LABEL_IMPORTED: not a usable label name"
	[ ! -s "$FAKE_LOG" ]
}

@test "hostile -q: & # + = %20 and quotes reach Gmail inside q, never as other parameters" {
	run gmail-list -q '"a&maxResults=1#x" y=z%20+'
	[ "$(list_queries)" = '"a&maxResults=1#x" y=z%20+ from:(billing@shop.example OR @invoices.example) -label:"gmail-ops/imported" -label:"gmail-ops/quarantine"' ]
	fake_requests gmail.users.messages.list | jq -e '.query | keys == ["maxResults", "q"] and .maxResults == "500"'
}

@test "pages over 520 messages: maxResults=500, then pageToken; every id once" {
	message_json billing@shop.example >msg.json
	insert_many 520 msg.json
	run --separate-stderr gmail-list
	assert_success
	[ "$(echo "$output" | wc -l)" = 520 ]
	[ "$(echo "$output" | jq -r .id | sort -u | wc -l)" = 520 ]
	[ "$(fake_count gmail.users.messages.list)" = 2 ]
	fake_requests gmail.users.messages.list | jq -s -e --arg q "$DEFAULT_Q" '
	    (.[0].query | has("pageToken") | not) and (.[1].query.pageToken | length > 0) and
	    all(.[]; .query.q == $q and .query.maxResults == "500")'
}

@test "a forged page token is URL-encoded: it cannot add parameters" {
	fake_ctl POST faults '{"rules": [{"match": "messages.list", "status": 200, "times": 1, "body": {"messages": [{"id": "0123456789abcdef", "threadId": "0123456789abcdef"}], "nextPageToken": "x&q=in:anywhere&maxResults=1"}}]}' >/dev/null
	run --separate-stderr gmail-list
	[ "$(echo "$output" | jq -r .id)" = 0123456789abcdef ]
	fake_requests gmail.users.messages.list | jq -s -e --arg q "$DEFAULT_Q" '
	    .[1].query.pageToken == "x&q=in:anywhere&maxResults=1" and .[1].query.q == $q and .[1].query.maxResults == "500"'
}

@test "a bad entry in the middle of a page: warned, skipped, the rest listed, exit 1" {
	fake_ctl POST faults '{"rules": [{"match": "messages.list", "status": 200, "times": 1, "body": {"messages": [{"id": "0000000000000001", "threadId": "t1"}, {"threadId": "t2"}, {"id": 3}, {"id": "0000000000000004", "threadId": "t4"}], "resultSizeEstimate": 4}}]}' >/dev/null
	run --separate-stderr gmail-list
	assert_failure 1
	[ "$(echo "$output" | jq -r .id | tr '\n' ' ')" = "0000000000000001 0000000000000004 " ]
	[ "$(echo "$stderr" | grep -c 'an entry without an id, skipped')" = 2 ]
}

@test "a page token that repeats stops the loop" {
	fake_ctl POST faults '{"rules": [{"match": "messages.list", "status": 200, "times": -1, "body": {"messages": [{"id": "0000000000000001", "threadId": "t1"}], "nextPageToken": "same"}}]}' >/dev/null
	run --separate-stderr gmail-list
	assert_failure 1
	[ "$(fake_count gmail.users.messages.list)" = 2 ]
	[[ "$stderr" == *"the same page token twice, stopped"* ]]
}

@test "--estimate: one call with maxResults=1 and the estimate as a record" {
	insert billing@shop.example >/dev/null
	insert billing@shop.example >/dev/null
	insert other@else.example >/dev/null
	run --separate-stderr gmail-list --estimate
	assert_success
	[ "$output" = "$(jq -nc --arg q "$DEFAULT_Q" '{type: "estimate", query: $q, resultSizeEstimate: 2}')" ]
	[ "$(fake_count gmail.users.messages.list)" = 1 ]
	fake_requests gmail.users.messages.list | jq -e '.query.maxResults == "1"'
}

@test "errors: 503 is retried; an invalid query is 65; no login is 77" {
	fake_ctl POST faults '{"rules": [{"match": "messages.list", "status": 503, "times": 1}]}' >/dev/null
	run gmail-list
	assert_success
	[ "$(fake_requests gmail.users.messages.list | jq -r .status | tr '\n' ' ')" = "503 200 " ]
	run gmail-list -q 'nosuchoperator:x'
	assert_failure 65
	assert_output --partial "400 INVALID_ARGUMENT"
	rm -rf "$CREDS"
	run gmail-list
	assert_failure 77
}

@test "--stats and the \"listed\" log event" {
	message_json billing@shop.example >msg.json
	insert_many 3 msg.json
	GMAIL_OPS_LOG=collect_from_gmail run --separate-stderr gmail-list --stats "$BASE/stats.json"
	assert_success
	jq -e '.prog == "gmail-list" and .calls == 1 and .units == 5 and .errors == 0 and .by_method["messages.list"] == {"calls": 1, "units": 5}' stats.json
	log=$(ls var/logs/ops/collect_from_gmail-*.jsonl)
	jq -e --arg q "$DEFAULT_Q" 'select(.event == "listed") | .count == 3 and .query == $q' "$log"
	! grep -q ya29 "$log"
}

@test "usage: -h, --version, stray arguments" {
	run gmail-list -h
	assert_success
	assert_output "usage: gmail-list [-c file] [-o key=value] [--since YYYY-MM-DD] [-q query] [--print-query] [--estimate] [--history file] [--stats file]"
	# the man page's SYNOPSIS says the same
	[ "$(mandoc -Tascii -O width=200 "$TOP/man/gmail-list.1" | col -b | sed -n '/^SYNOPSIS/{n;p;}' | sed 's/^ *//')" = "${output#usage: }" ]
	run gmail-list --version
	assert_output --partial "gmail-list "
	run gmail-list extra
	assert_failure 2
	run gmail-list --print-query --estimate
	assert_failure 2
	run gmail-list --estimate --history h
	assert_failure 2
}

@test "--history: a full listing first (mark from getProfile), then only what was added, filtered by the query" {
	old=$(insert billing@shop.example)
	H=$BASE/var/hist
	run --separate-stderr gmail-list --history "$H" --stats stats.json
	assert_success
	[ "$(jq -r .id <<<"$output")" = "$old" ]
	# The mark is proposed in FILE.next; FILE moves only when the driver says so.
	[ ! -e "$H" ]
	[[ "$(cat "$H.next")" =~ ^[0-9]+$ ]]
	[ "$(fake_count gmail.users.getProfile)" = 1 ]
	[ "$(stat -c %a "$H.next")" = 600 ]
	mv "$H.next" "$H"
	# Nothing new: one history.list call (2 units), no messages.list.
	: >"$FAKE_LOG"
	run --separate-stderr gmail-list --history "$H" --stats stats.json
	assert_success
	assert_output ""
	[ "$(fake_count gmail.users.history.list)" = 1 ]
	[ "$(fake_count gmail.users.messages.list)" = 0 ]
	jq -e '.calls == 1 and .units == 2' stats.json
	mv "$H.next" "$H"
	# Two new messages, one from a stranger: only the one the query keeps.
	new=$(insert billing@shop.example)
	insert stranger@spam.example >/dev/null
	: >"$FAKE_LOG"
	run --separate-stderr gmail-list --history "$H"
	assert_success
	[ "$(jq -r .id <<<"$output")" = "$new" ]
	[ "${#lines[@]}" = 1 ]
	# The old one, still unread and unlabelled, is not listed again.
	refute_output --partial "$old"
	[ "$(cat "$H.next")" -gt "$(cat "$H")" ]
	[ "$(fake_requests gmail.users.history.list | jq -r '.query.startHistoryId')" = "$(cat "$H")" ]
	[ "$(fake_requests gmail.users.history.list | jq -r '.query.historyTypes')" = messageAdded ]
}

@test "--history: an expired mark (404) falls back to the query once, then is incremental again (no full-sync loop)" {
	insert billing@shop.example >/dev/null
	H=$BASE/var/hist
	gmail-list --history "$H" >/dev/null
	mv "$H.next" "$H"
	insert billing@shop.example >/dev/null
	fake_ctl POST expire-history '{}' >/dev/null
	: >"$FAKE_LOG"
	run --separate-stderr gmail-list --history "$H"
	assert_success
	[ "${#lines[@]}" = 2 ]		# everything the query matches
	[[ "$stderr" == *"has expired (404): listing everything"* ]]
	[ "$(fake_count gmail.users.history.list)" = 1 ]
	[ "$(fake_count gmail.users.getProfile)" = 1 ]
	[ "$(fake_count gmail.users.messages.list)" = 1 ]
	mv "$H.next" "$H"
	: >"$FAKE_LOG"
	run --separate-stderr gmail-list --history "$H"
	assert_success
	assert_output ""
	[ "$(fake_count gmail.users.getProfile)" = 0 ]
	[ "$(fake_count gmail.users.messages.list)" = 0 ]
	# A mark that is not a historyId: warned, full listing.
	echo 'garbage' >"$H"
	run --separate-stderr gmail-list --history "$H"
	assert_success
	[[ "$stderr" == *"not a historyId; listing everything"* ]]
	# A failed listing proposes no mark.
	rm -f "$H.next"
	fake_ctl POST faults '{"rules":[{"match":"messages","status":400}]}' >/dev/null
	run --separate-stderr gmail-list --history "$H"
	assert_failure
	[ ! -e "$H.next" ]
}
