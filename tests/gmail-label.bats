#!/usr/bin/env bats
# gmail-label against the fake: labels made by name (parents first, 409
# race), one batchModify per change set and per 1000 ids, MARK_AS_READ,
# what is left alone, dry run, pass-through, bad and hostile records.

load helpers
bats_require_minimum_version 1.5.0

setup() {
	setup_base
	export OPS_GMAIL_COLLECT_APPLY_LABELS=true
	fake_start
	login_user
	: >"$FAKE_LOG"
}

teardown() {
	fake_stop
}

insert() {
	fake_ctl POST messages "$(jq -nc --arg t "$(printf 'From: billing@shop.example\r\nSubject: r\r\n\r\nx\r\n')" '{text: $t}')" | jq -r .id
}

# result ID VERDICT STORED DUPLICATES QUARANTINED [DRY_RUN]: a message_result.
result() {
	jq -nc --arg id "$1" --arg v "$2" --argjson s "$3" --argjson d "$4" \
	    --argjson q "$5" --argjson dry "${6:-false}" \
	    '{type: "message_result", id: $id, msg_key: $id, verdict: $v,
	      stored: $s, duplicates: $d, quarantined: $q, skipped: 0, dry_run: $dry}'
}

labels_of() {
	fake_ctl GET "messages/$1" | jq -c '.labelIds | sort'
}

label_id() {
	fake_ctl GET state | jq -r --arg n "$1" '.mailboxes[].labels[] | select(.name == $n) | .id'
}

batch_bodies() {
	fake_requests gmail.users.messages.batchModify | jq -c '.body | fromjson'
}

@test "missing labels are created, the parent first; a second run reuses them" {
	a=$(insert)
	result "$a" imported 1 0 0 >in
	run --separate-stderr gmail-label <in
	assert_success
	[ "$(fake_requests gmail.users.labels.create | jq -c '.body | fromjson')" = '{"name":"gmail-ops","labelListVisibility":"labelShow","messageListVisibility":"show"}
{"name":"gmail-ops/imported","labelListVisibility":"labelShow","messageListVisibility":"show"}' ]
	[ "$(fake_count gmail.users.labels.list)" = 1 ]
	imported=$(label_id gmail-ops/imported)
	[ -n "$imported" ]
	[ "$(labels_of "$a")" = "$(jq -nc --arg l "$imported" '["INBOX", "UNREAD", $l] | sort')" ]
	: >"$FAKE_LOG"
	b=$(insert)
	result "$b" imported 0 1 0 >in
	run --separate-stderr gmail-label <in
	assert_success
	[ "$(fake_count gmail.users.labels.list)" = 1 ]
	[ "$(fake_count gmail.users.labels.create)" = 0 ]
	[ "$(batch_bodies)" = "{\"ids\":[\"$b\"],\"addLabelIds\":[\"$imported\"],\"removeLabelIds\":[]}" ]
}

@test "three messages with the same change: one batchModify; every record passed on, a label_result each" {
	a=$(insert) b=$(insert) c=$(insert)
	{ result "$a" imported 1 0 0; result "$b" imported 2 1 0; result "$c" imported 0 3 0; } >in
	run --separate-stderr gmail-label <in
	assert_success
	[ "$(fake_count gmail.users.messages.batchModify)" = 1 ]
	imported=$(label_id gmail-ops/imported)
	[ "$(batch_bodies)" = "{\"ids\":[\"$a\",\"$b\",\"$c\"],\"addLabelIds\":[\"$imported\"],\"removeLabelIds\":[]}" ]
	[ "$(echo "$output" | head -3)" = "$(cat in)" ]
	[ "$(echo "$output" | sed -n 4p)" = "{\"type\":\"label_result\",\"id\":\"$a\",\"added\":[\"gmail-ops/imported\"],\"removed\":[],\"dry_run\":false}" ]
	[ "$(echo "$output" | jq -r 'select(.type == "label_result") | .id' | tr '\n' ' ')" = "$a $b $c " ]
}

@test "two change sets (imported, and imported + quarantine): two calls" {
	a=$(insert) b=$(insert) c=$(insert)
	{ result "$a" imported 1 0 0; result "$b" mixed 1 0 1; result "$c" imported 1 0 0; } >in
	run --separate-stderr gmail-label <in
	assert_success
	[ "$(fake_count gmail.users.messages.batchModify)" = 2 ]
	imported=$(label_id gmail-ops/imported) quarantine=$(label_id gmail-ops/quarantine)
	batch_bodies >bodies
	grep -qxF "{\"ids\":[\"$a\",\"$c\"],\"addLabelIds\":[\"$imported\"],\"removeLabelIds\":[]}" bodies
	grep -qxF "{\"ids\":[\"$b\"],\"addLabelIds\":[\"$imported\",\"$quarantine\"],\"removeLabelIds\":[]}" bodies
	# gmail-ops is made once, for both children
	[ "$(fake_requests gmail.users.labels.create | jq -r '.body | fromjson | .name' | tr '\n' ' ')" = "gmail-ops gmail-ops/imported gmail-ops/quarantine " ]
	[ "$(echo "$output" | jq -c 'select(.id == "'"$b"'" and .type == "label_result") | .added')" = '["gmail-ops/imported","gmail-ops/quarantine"]' ]
	[ "$(labels_of "$b")" = "$(jq -nc --arg i "$imported" --arg q "$quarantine" '["INBOX", "UNREAD", $i, $q] | sort')" ]
}

@test "a quarantined-only message gets the quarantine label only" {
	a=$(insert)
	result "$a" quarantined 0 0 2 >in
	run gmail-label <in
	assert_success
	quarantine=$(label_id gmail-ops/quarantine)
	[ "$(batch_bodies)" = "{\"ids\":[\"$a\"],\"addLabelIds\":[\"$quarantine\"],\"removeLabelIds\":[]}" ]
	[ -z "$(label_id gmail-ops/imported)" ]
}

@test "1500 ids with one change: two calls, 1000 then 500" {
	for i in $(seq 1500); do result "$(printf '%016x' "$i")" imported 1 0 0; done >in
	run --separate-stderr gmail-label <in
	assert_success
	[ "$(fake_count gmail.users.messages.batchModify)" = 2 ]
	[ "$(batch_bodies | jq -r '.ids | length' | tr '\n' ' ')" = "1000 500 " ]
	[ "$(batch_bodies | jq -r '.ids[]' | sort -u | wc -l)" = 1500 ]
	[ "$(echo "$output" | jq -r 'select(.type == "label_result") | .id' | wc -l)" = 1500 ]
}

@test "skipped, error and no_attachment messages, and other records, are left alone and passed on" {
	a=$(insert) b=$(insert) c=$(insert)
	before=$(fake_ctl GET state | jq -c '.mailboxes')
	{
		result "$a" skipped 0 0 0
		result "$b" error 0 0 0
		result "$c" no_attachment 0 0 0
		echo '{"type":"attachment_result","id":"'"$a"'","outcome":"skipped"}'
		echo '{"type":"error","id":"'"$b"'","stage":"gmail-fetch","error":"x"}'
		echo '{"type":"message_result","id":null,"msg_key":"sha256:ab","verdict":"imported","stored":1,"duplicates":0,"quarantined":0,"dry_run":false}'
	} >in
	run --separate-stderr gmail-label <in
	assert_success
	[ "$output" = "$(cat in)" ]
	[ ! -s "$FAKE_LOG" ]
	[ "$(fake_ctl GET state | jq -c '.mailboxes')" = "$before" ]
}

@test "a dry run's results (dry_run: true) are never labelled" {
	a=$(insert)
	result "$a" imported 1 0 0 true >in
	run --separate-stderr gmail-label <in
	assert_success
	[ "$output" = "$(cat in)" ]
	[ ! -s "$FAKE_LOG" ]
}

@test "MARK_AS_READ removes UNREAD (the fake's state says so)" {
	a=$(insert) b=$(insert)
	{ result "$a" imported 1 0 0; result "$b" skipped 0 0 0; } >in
	run --separate-stderr gmail-label -o MARK_AS_READ=true <in
	assert_success
	imported=$(label_id gmail-ops/imported)
	[ "$(batch_bodies)" = "{\"ids\":[\"$a\"],\"addLabelIds\":[\"$imported\"],\"removeLabelIds\":[\"UNREAD\"]}" ]
	[ "$(labels_of "$a")" = "$(jq -nc --arg l "$imported" '["INBOX", $l] | sort')" ]
	[ "$(labels_of "$b")" = '["INBOX","UNREAD"]' ]
	[ "$(echo "$output" | jq -c 'select(.type == "label_result") | .removed')" = '["UNREAD"]' ]
}

@test "--dry-run and DRY_RUN=true: no call at all, what it would do with dry_run: true" {
	a=$(insert) b=$(insert)
	{ result "$a" imported 1 0 0 true; result "$b" mixed 1 0 1 true; } >in
	for how in --dry-run "-o DRY_RUN=true"; do
		# shellcheck disable=SC2086
		run --separate-stderr gmail-label $how -o MARK_AS_READ=yes <in
		assert_success
		# each record, then at once what would be done to it
		[ "$(echo "$output" | sed -n '1p;3p')" = "$(cat in)" ]
		[ "$(echo "$output" | sed -n 2p)" = "{\"type\":\"label_result\",\"id\":\"$a\",\"added\":[\"gmail-ops/imported\"],\"removed\":[\"UNREAD\"],\"dry_run\":true}" ]
		[ "$(echo "$output" | sed -n 4p | jq -c .added)" = '["gmail-ops/imported","gmail-ops/quarantine"]' ]
	done
	[ ! -s "$FAKE_LOG" ]
	[ "$(labels_of "$a")" = '["INBOX","UNREAD"]' ]
}

@test "APPLY_LABELS=false: no call, no label_result, every record passed on" {
	a=$(insert)
	{ result "$a" imported 1 0 0; echo '{"type":"other"}'; } >in
	run --separate-stderr gmail-label -o APPLY_LABELS=false <in
	assert_success
	[ "$output" = "$(cat in)" ]
	[ ! -s "$FAKE_LOG" ]
}

@test "a label made meanwhile by someone else (409 on create) is found by listing again" {
	a=$(insert)
	gmail-api -d '{"name":"gmail-ops"}' users/me/labels >/dev/null
	gmail-api -d '{"name":"gmail-ops/imported"}' users/me/labels >/dev/null
	imported=$(label_id gmail-ops/imported)
	: >"$FAKE_LOG"
	# the first list does not show them yet: the race
	fake_ctl POST faults '{"rules": [{"match": "labels.list", "status": 200, "times": 1, "body": {"labels": [{"id": "INBOX", "name": "INBOX", "type": "system"}]}}]}' >/dev/null
	result "$a" imported 1 0 0 >in
	run --separate-stderr gmail-label <in
	assert_success
	[ "$(fake_requests gmail.users.labels.create | jq -r .status)" = 409 ]
	[ "$(fake_count gmail.users.labels.list)" = 2 ]
	[ "$(batch_bodies)" = "{\"ids\":[\"$a\"],\"addLabelIds\":[\"$imported\"],\"removeLabelIds\":[]}" ]
}

@test "a bad record in the middle: warned with its line, skipped, the rest labelled, exit 1" {
	a=$(insert) b=$(insert)
	{ result "$a" imported 1 0 0; echo '{"type":"message_result",'; echo '{"type":"message_result","id":"'"$a"'"}'; result "$b" imported 1 0 0; } >in
	run --separate-stderr gmail-label <in
	assert_failure 1
	[[ "$stderr" == *"gmail-label: line 2: "* ]]
	[[ "$stderr" == *"gmail-label: line 3: message_result without a \"verdict\", skipped"* ]]
	[ "$(batch_bodies | jq -c .ids)" = "[\"$a\",\"$b\"]" ]
}

@test "hostile ids are refused: never in a request" {
	a=$(insert)
	{
		result "../../labels" imported 1 0 0
		result "$a?x=1" imported 1 0 0
		result "$a/modify" imported 1 0 0
		echo '{"type":"message_result","id":7,"verdict":"imported","stored":1,"duplicates":0,"quarantined":0}'
		result "$a" imported 1 0 0
	} >in
	run --separate-stderr gmail-label <in
	assert_failure 1
	[ "$(echo "$stderr" | grep -c 'is not a Gmail message id, skipped')" = 4 ]
	[ "$(batch_bodies | jq -c .ids)" = "[\"$a\"]" ]
	[ "$(jq -r .path "$FAKE_LOG" | sort -u | tr '\n' ' ')" = "/gmail/v1/users/me/labels /gmail/v1/users/me/messages/batchModify " ]
}

@test "a batchModify that fails: warned, no label_result, exit 1; an authorisation failure: 77" {
	a=$(insert)
	result "$a" imported 1 0 0 >in
	fake_ctl POST faults '{"rules": [{"match": "batchModify", "status": 400, "times": 1}]}' >/dev/null
	run --separate-stderr gmail-label <in
	assert_failure 1
	[[ "$stderr" == *"gmail-label: 1 messages not labelled: POST /gmail/v1/users/me/messages/batchModify: 400 INVALID_ARGUMENT"* ]]
	[ "$output" = "$(cat in)" ]
	fake_ctl POST faults '{"rules": [{"match": "batchModify", "status": 503, "times": 1}]}' >/dev/null
	run --separate-stderr gmail-label <in
	assert_success
	fake_ctl POST expire-tokens >/dev/null
	fake_ctl POST revoke-refresh >/dev/null
	run gmail-label <in
	assert_failure 77
}

@test "the read-only scope cannot label: 77 with Google's reason" {
	rm -rf "$CREDS"
	login_user -o APPLY_LABELS=false
	: >"$FAKE_LOG"
	a=$(insert)
	result "$a" imported 1 0 0 >in
	run gmail-label <in
	assert_failure 77
	assert_output --partial "insufficientPermissions"
}

@test "--stats and the labels_applied log events" {
	a=$(insert) b=$(insert)
	{ result "$a" imported 1 0 0; result "$b" quarantined 0 0 1; echo bad; } >in
	GMAIL_OPS_LOG=collect_from_gmail run --separate-stderr gmail-label -o MARK_AS_READ=true --stats "$BASE/stats.json" <in
	assert_failure 1
	jq -e '.prog == "gmail-label" and .calls == 6 and .errors == 1 and
	    .by_method["labels.list"].calls == 1 and .by_method["labels.create"].calls == 3 and
	    .by_method["messages.batchModify"] == {"calls": 2, "units": 100} and .units == 1 + 15 + 100' stats.json
	log=$(ls var/logs/ops/collect_from_gmail-*.jsonl)
	[ "$(jq -c 'select(.event == "labels_applied") | [.label, .op, .count]' "$log" | sort | tr '\n' ' ')" = '["UNREAD","remove",1] ["UNREAD","remove",1] ["gmail-ops/imported","add",1] ["gmail-ops/quarantine","add",1] ' ]
	! grep -q ya29 "$log"
}

@test "usage: -h, --version, stray arguments" {
	run gmail-label -h
	assert_success
	assert_output "usage: gmail-label [-c file] [-o key=value] [--dry-run] [--stats file]"
	# the man page's SYNOPSIS says the same
	[ "$(mandoc -Tascii -O width=200 "$TOP/man/gmail-label.1" | col -b | sed -n '/^SYNOPSIS/{n;p;}' | sed 's/^ *//')" = "${output#usage: }" ]
	run gmail-label --version
	assert_output --partial "gmail-label "
	run gmail-label extra
	assert_failure 2
}
