#!/usr/bin/env bats
# mail-send against the fake Google: the raw message Gmail received
# (headers, RFC 2047 subject, both alternatives, signature, pixel), the
# three ways to a token, drafts held for review and sent exactly once,
# refusals before anything is stored or sent, sends that broke off.

load helpers

FIX="$TESTS_DIR/fixtures/mail-send"
SA=robot@test-project.iam.gserviceaccount.com

setup() {
	setup_base
}

teardown() {
	fake_stop
}

# ms_login [scopes]: the fake, and an OAuth user whose token has scopes.
ms_login() {
	fake_start
	login_user --scopes "${1:-gmail.send,gmail.settings.basic}"
	: >"$FAKE_LOG"
}

# summary [index]: the JSON summary of a message the fake's Gmail got.
summary() {
	fake_ctl GET sent | jq -r ".sent[${1:--1}].raw" |
	    python3 "$FIX/mime-summary.py"
}

sent_count() {
	fake_ctl GET sent | jq '.sent | length'
}

# part TYPE: the decoded text of that part of the summary on stdin.
part() {
	jq -r --arg t "$1" '.parts[] | select(.type == $t) | .text'
}

# occurrences NEEDLE: how many times NEEDLE is in stdin.
occurrences() {
	python3 -c 'import sys; print(sys.stdin.read().count(sys.argv[1]))' "$1"
}

# new_draft JSON: stores a draft, prints its id.
new_draft() {
	mail-send <<<"$1" | jq -er .draft_id
}

draft_field() {
	mail-send --list | jq -r --arg id "$1" "select(.draft_id == \$id) | .$2"
}

@test "send: the raw message Gmail received: every header, the RFC 2047 subject, both alternatives, the signature once" {
	ms_login
	run mail-send <<'JSON'
{"to":"Zoé Martin <zoe@example.fr>, bob@example.com","cc":["carol@example.org"],"bcc":"dave@example.net","subject":"Héllo wörld ✓","message":"Line 1\nLine <2> & \"more\"","reply_to":"replies@example.com","mode":"send"}
JSON
	assert_success
	id=$(fake_ctl GET sent | jq -r '.sent[-1].id')
	assert_output "{\"status\":\"ok\",\"mode\":\"send\",\"id\":\"$id\",\"pixel_id\":null}"
	[ "$(sent_count)" = 1 ]
	s=$(summary)
	[ "$(jq -r '.headers.From[0]' <<<"$s")" = "Test User <user@example.com>" ]
	[ "$(jq -r '.headers.To[0]' <<<"$s")" = "Zoé Martin <zoe@example.fr>, bob@example.com" ]
	[ "$(jq -r '.headers.Cc[0]' <<<"$s")" = "carol@example.org" ]
	[ "$(jq -r '.headers.Bcc[0]' <<<"$s")" = "dave@example.net" ]
	[ "$(jq -r '.headers["Reply-To"][0]' <<<"$s")" = "replies@example.com" ]
	# the subject travels as RFC 2047 encoded words, and decodes back
	[[ "$(jq -r '.raw_headers.Subject[0]' <<<"$s")" =~ ^=\?(UTF|utf)-8\?[BbQq]\? ]]
	[ "$(jq -r '.headers.Subject[0]' <<<"$s")" = "Héllo wörld ✓" ]
	[[ "$(jq -r '.raw_headers.To[0]' <<<"$s")" == *"=?"* ]]	# the name too
	[[ "$(jq -r '.headers["Message-Id"][0]' <<<"$s")" =~ ^\<[0-9a-f]{32}\.mail-send@example\.com\>$ ]]
	[ "$(jq -r '.headers["MIME-Version"][0]' <<<"$s")" = 1.0 ]
	date=$(jq -r '.headers.Date[0]' <<<"$s")
	[ $(( $(date -d "$date" +%s) - $(date +%s) )) -le 5 ]
	[ "$(jq -r '.headers | keys | length' <<<"$s")" = 10 ]
	[ "$(jq -r .crlf <<<"$s")" = true ]
	[ "$(jq -r .type <<<"$s")" = multipart/alternative ]
	[ "$(jq -r '[.parts[].type] | join(",")' <<<"$s")" = text/plain,text/html ]
	[ "$(jq -r '[.parts[].charset] | join(",")' <<<"$s")" = utf-8,utf-8 ]
	text=$(part text/plain <<<"$s")
	html=$(part text/html <<<"$s")
	[[ "$text" == "Line 1"$'\r\n''Line <2> & "more"'$'\r\n\r\n''-- '$'\r\n''Test User'* ]]
	# the HTML part is the text, escaped, then the signature
	[[ "$html" == *'Line 1<br>'*'Line &lt;2&gt; &amp; &quot;more&quot;'* ]]
	[ "$(occurrences 'Test User' <<<"$text")" = 1 ]
	[ "$(occurrences '<b>Test User</b>' <<<"$html")" = 1 ]
	[ "$(occurrences 'Test User' <<<"$html")" = 1 ]
	# tracking is off: no pixel anywhere
	[ "$(occurrences '<img' <<<"$html")" = 0 ]
	[ "$(occurrences '.gif' <<<"$text$html")" = 0 ]
	# what mail-send asked of Gmail: the send-as settings, then one send
	[ "$(fake_count gmail.users.settings.sendAs.list)" = 1 ]
	send=$(fake_requests gmail.users.messages.send)
	[ "$(jq -r .path <<<"$send")" = /gmail/v1/users/me/messages/send ]
	[ "$(jq -r '.headers["content-type"]' <<<"$send")" = application/json ]
	[ "$(jq -r '.body | fromjson | keys | join(",")' <<<"$send")" = raw ]
	# no tracking record either
	run mail-send --opens
	assert_success
	assert_output ""
}

@test "send: an ASCII subject is left as it is; the signature setting is used as Gmail has it" {
	ms_login
	fake_ctl POST config '{"send_as":{"displayName":"Ann Example","signature":"<div>Ann &amp; Co<br><i>Sales</i></div>"}}' >/dev/null
	run mail-send --mode send --to ann.client@example.com --subject "Plain subject" --message "Hello"
	assert_success
	s=$(summary)
	[ "$(jq -r '.raw_headers.Subject[0]' <<<"$s")" = "Plain subject" ]
	[ "$(jq -r '.headers.From[0]' <<<"$s")" = "Ann Example <user@example.com>" ]
	[ "$(part text/plain <<<"$s")" = "Hello"$'\r\n\r\n''Ann & Co'$'\r\n''Sales'$'\r' ]
	[ "$(part text/html <<<"$s" | occurrences '<div>Ann &amp; Co<br><i>Sales</i></div>')" = 1 ]
}

@test "send: an HTML request gets a derived text part; signature and pixel go before </body>" {
	ms_login
	export ENABLE_TRACKING=true PIXEL_TRACKER_BASE_URL=https://track.example.com/o/
	run mail-send <<'JSON'
{"to":"a@example.com","subject":"Offer","html":"<html><head><style>p{}</style></head><body><p>Dear &lt;client&gt;,</p><p>50&#8364; off</p></body></html>","mode":"send"}
JSON
	assert_success
	pixel=$(jq -r .pixel_id <<<"$output")
	s=$(summary)
	text=$(part text/plain <<<"$s")
	html=$(part text/html <<<"$s")
	[ "$text" = 'Dear <client>,'$'\r\n''50€ off'$'\r\n\r\n''-- '$'\r\n''Test User'$'\r' ]
	[[ "$html" == *'<p>50&#8364; off</p><br>'*'<b>Test User</b></div></div>'*"<img src=\"https://track.example.com/o/$pixel.gif\" width=\"1\" height=\"1\" alt=\"\">"*'</body></html>'* ]]
}

@test "tracking: the pixel is in the HTML part only, its URL is the stored pixel_id; --opens shows the record" {
	ms_login
	export ENABLE_TRACKING=true PIXEL_TRACKER_BASE_URL=https://pixel.example.com
	run mail-send --mode send --to client@example.com --subject "Suivi" --message "Bonjour"
	assert_success
	pixel=$(jq -r .pixel_id <<<"$output")
	id=$(jq -r .id <<<"$output")
	[[ "$pixel" =~ ^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$ ]]
	s=$(summary)
	[ "$(part text/html <<<"$s" | occurrences "<img src=\"https://pixel.example.com/$pixel.gif\" width=\"1\" height=\"1\" alt=\"\">")" = 1 ]
	[ "$(part text/html <<<"$s" | occurrences '<img')" = 1 ]
	[ "$(part text/plain <<<"$s" | occurrences 'pixel.example.com')" = 0 ]
	run mail-send --opens
	assert_success
	[ "${#lines[@]}" = 1 ]
	[ "$(jq -r .pixel_id <<<"$output")" = "$pixel" ]
	[ "$(jq -r .to <<<"$output")" = client@example.com ]
	[ "$(jq -r .subject <<<"$output")" = Suivi ]
	[ "$(jq -r .message_id <<<"$output")" = "$id" ]
	[ "$(jq -r .open_count <<<"$output")" = 0 ]
	[ "$(jq -r '.first_opened_at, .last_opened_at' <<<"$output" | sort -u)" = null ]
	[[ "$(jq -r .created_at <<<"$output")" =~ ^20[0-9-]+T[0-9:.]+Z$ ]]
	run mail-send --opens "$pixel"
	assert_success
	[ "$(jq -r .pixel_id <<<"$output")" = "$pixel" ]
	run mail-send --opens 00000000-0000-4000-8000-000000000000
	assert_failure 1
	assert_output --partial '"status":"error"'
}

@test "tracking: ENABLE_TRACKING without a usable PIXEL_TRACKER_BASE_URL is a configuration error" {
	export ENABLE_TRACKING=true
	run mail-send --mode draft --to a@example.com --subject s --message m
	assert_failure 78
	assert_output --partial "PIXEL_TRACKER_BASE_URL is not set"
	PIXEL_TRACKER_BASE_URL=http://tracker.example.com run mail-send --to a@example.com --subject s --message m
	assert_failure 78
	assert_output --partial "must be https"
	PIXEL_TRACKER_BASE_URL='https://t.example.com/"onload="x' run mail-send --to a@example.com --subject s --message m
	assert_failure 78
	# listing needs no tracking settings
	run mail-send --list
	assert_success
}

@test "service-account key: the JWT the fake verified has sub = GMAIL_USER, the scopes and aud; it wins over a user token.json" {
	gen_rsa_key "$BATS_TEST_TMPDIR/sa.pem"
	FAKE=http://127.0.0.1:0
	make_sa_key "$BATS_TEST_TMPDIR/sa.json" "$BATS_TEST_TMPDIR/sa.pem" "$SA"
	fake_start --sa-key "$BATS_TEST_TMPDIR/sa.json"
	make_sa_key "$BATS_TEST_TMPDIR/sa.json" "$BATS_TEST_TMPDIR/sa.pem" "$SA"
	login_user --scopes gmail.send,gmail.settings.basic	# a token.json for user@example.com
	export GOOGLE_APPLICATION_CREDENTIALS="$BATS_TEST_TMPDIR/sa.json" GMAIL_USER=bob@example.com
	run mail-send --mode send --to client@example.com --subject "Delegated" --message "Hi"
	assert_success
	claims=$(fake_ctl GET state | jq -c '.jwt_claims[-1]')
	[ "$(jq -r .iss <<<"$claims")" = "$SA" ]
	[ "$(jq -r .sub <<<"$claims")" = bob@example.com ]
	[ "$(jq -r .aud <<<"$claims")" = "$FAKE/token" ]
	[ "$(jq -r .scope <<<"$claims")" = "https://www.googleapis.com/auth/gmail.send https://www.googleapis.com/auth/gmail.settings.basic" ]
	# sent as bob, not as the token.json user
	[ "$(fake_ctl GET sent | jq -r '.sent[-1].user')" = bob@example.com ]
	[ "$(summary | jq -r '.headers.From[0]')" = "Test User <bob@example.com>" ]
	[[ "$(summary | jq -r '.headers["Message-Id"][0]')" == *.mail-send@example.com\> ]]
}

@test "keyless: metadata server, IAM signJwt for GMAIL_USER; -v traces each step with tokens and JWTs redacted" {
	gen_rsa_key "$BATS_TEST_TMPDIR/iam.pem"
	fake_start --iam-key "$BATS_TEST_TMPDIR/iam.pem"
	export GOOGLE_SERVICE_ACCOUNT_EMAIL="$SA" GMAIL_USER=bob@example.com
	mail-send -v --mode send --to client@example.com --subject "Keyless" --message "Hi" \
	    >"$BATS_TEST_TMPDIR/out" 2>"$BATS_TEST_TMPDIR/err"
	[ "$(jq -r .status "$BATS_TEST_TMPDIR/out")" = ok ]
	payload=$(fake_requests iam.signJwt | jq -r .body | jq -r .payload)
	[ "$(jq -r .sub <<<"$payload")" = bob@example.com ]
	[ "$(jq -r .iss <<<"$payload")" = "$SA" ]
	[ "$(jq -r .scope <<<"$payload")" = "https://www.googleapis.com/auth/gmail.send https://www.googleapis.com/auth/gmail.settings.basic" ]
	[ "$(fake_ctl GET state | jq -r '.jwt_claims[-1].sub')" = bob@example.com ]
	[ "$(fake_ctl GET sent | jq -r '.sent[-1].user')" = bob@example.com ]
	run cat "$BATS_TEST_TMPDIR/err"
	assert_line --partial "auth: domain-wide delegation, keyless"
	assert_line --regexp "computeMetadata/.*/token: 200"
	assert_line --regexp "serviceAccounts/.*:signJwt: 200"
	assert_line --regexp "POST /token: 200"
	assert_line --regexp "settings/sendAs: 200"
	assert_line --regexp "messages/send: 200"
	# no secret in the trace: access tokens, the runtime token, the JWT
	for tok in $(jq -r '.headers.authorization // empty' "$FAKE_LOG" | sed 's/^Bearer //' | sort -u); do
		refute_output --partial "$tok"
	done
	refute_output --partial "eyJ"
	refute_output --partial "ya29."
}

@test "drafts: created offline, listed, shown (with the real signature and the hash), rejected, sent once" {
	fake_start
	# no credentials yet: drafts need none
	printf '%s\n' \
	    '{"to":"client@example.com","subject":"Proposal","message":"Here is our offer."}' \
	    '{"to":"other@example.com","subject":"Second","message":"Maybe not."}' |
	    mail-send >"$BATS_TEST_TMPDIR/out"
	[ "$(jq -r .mode "$BATS_TEST_TMPDIR/out" | sort -u)" = draft ]
	d1=$(sed -n 1p "$BATS_TEST_TMPDIR/out" | jq -r .draft_id)
	d2=$(sed -n 2p "$BATS_TEST_TMPDIR/out" | jq -r .draft_id)
	[[ "$d1" =~ ^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$ ]]
	[ ! -s "$FAKE_LOG" ]
	run mail-send --list --status pending
	assert_success
	[ "${#lines[@]}" = 2 ]
	[ "$(jq -r .draft_id <<<"${lines[0]}")" = "$d1" ]	# oldest first
	[ "$(jq -r '.to, .subject, .body, .status' <<<"${lines[0]}" | paste -sd'|')" = "client@example.com|Proposal|Here is our offer.|pending" ]
	sha=$(jq -r .sha256 <<<"${lines[0]}")
	[[ "$sha" =~ ^[0-9a-f]{64}$ ]]
	[[ "$(jq -r .created_at <<<"${lines[0]}")" =~ ^20[0-9-]+T[0-9:.]+Z$ ]]
	login_user --scopes gmail.send,gmail.settings.basic
	: >"$FAKE_LOG"
	run mail-send --show "$d1"
	assert_success
	[ "$(jq -r .sha256 <<<"$output")" = "$sha" ]
	[ "$(jq -r .status <<<"$output")" = pending ]
	[[ "$(jq -r .text <<<"$output")" == "Here is our offer."$'\n\n''-- '$'\n''Test User'* ]]
	[[ "$(jq -r .message <<<"$output")" == *"From: Test User <user@example.com>"* ]]
	[[ "$(jq -r .message <<<"$output")" == *"Subject: Proposal"* ]]
	[ "$(sent_count)" = 0 ]
	run mail-send --reject "$d2"
	assert_success
	assert_output "{\"status\":\"ok\",\"draft_id\":\"$d2\",\"draft_status\":\"rejected\"}"
	[ "$(mail-send --list --status rejected | jq -r .draft_id)" = "$d2" ]
	[[ "$(draft_field "$d2" rejected_at)" =~ ^20 ]]
	run mail-send --send-draft "$d2"
	assert_failure 1
	assert_output --partial "not pending (rejected)"
	run mail-send --send-draft "$d1" --expect-sha256 "$sha"
	assert_success
	mid=$(fake_ctl GET sent | jq -r '.sent[-1].id')
	assert_output "{\"status\":\"ok\",\"message_id\":\"$mid\",\"pixel_id\":null}"
	[ "$(sent_count)" = 1 ]
	[ "$(summary | jq -r '.headers.Subject[0]')" = Proposal ]
	[ "$(draft_field "$d1" status)" = sent ]
	[ "$(draft_field "$d1" message_id)" = "$mid" ]
	[[ "$(draft_field "$d1" sent_at)" =~ ^20 ]]
	# the Message-ID the draft recorded is the one Gmail received
	[ "<$(draft_field "$d1" rfc822msgid)>" = "$(summary | jq -r '.headers["Message-Id"][0]')" ]
	# a sent draft is not sent again, nor rejected
	run mail-send --send-draft "$d1"
	assert_failure 1
	assert_output --partial "not pending (sent)"
	run mail-send --reject "$d1"
	assert_failure 1
	[ "$(sent_count)" = 1 ]
	run mail-send --send-draft 00000000-0000-4000-8000-000000000000
	assert_failure 1
	assert_output --partial "no such draft"
	run mail-send --show ../../etc/passwd
	assert_failure 1
	assert_output --partial "not a draft id"
}

@test "drafts: sent with tracking, the draft and the tracking record share the pixel id" {
	ms_login
	export ENABLE_TRACKING=true PIXEL_TRACKER_BASE_URL=https://pixel.example.com/p
	d=$(new_draft '{"to":"client@example.com","subject":"Tracked","message":"Hi"}')
	run mail-send --send-draft "$d"
	assert_success
	pixel=$(jq -r .pixel_id <<<"$output")
	[ "$(draft_field "$d" pixel_id)" = "$pixel" ]
	[ "$(mail-send --opens "$pixel" | jq -r '.draft_id, .message_id' | paste -sd' ')" = "$d $(jq -r .message_id <<<"$output")" ]
	[ "$(summary | part text/html | occurrences "https://pixel.example.com/p/$pixel.gif")" = 1 ]
}

@test "drafts: a hash that is not the approved one is refused and nothing is sent" {
	ms_login
	d=$(new_draft '{"to":"client@example.com","subject":"Approve me","message":"v1"}')
	run mail-send --send-draft "$d" --expect-sha256 "$(printf '0%.0s' $(seq 64))"
	assert_failure 1
	assert_output --partial "not the approved"
	run mail-send --send-draft "$d" --expect-sha256 nothex
	assert_failure 1
	assert_output --partial "not a sha256"
	[ "$(sent_count)" = 0 ]
	[ "$(fake_count gmail.users.messages.send)" = 0 ]
	[ "$(draft_field "$d" status)" = pending ]
}

@test "drafts: the hash is the documented canonical form, so a reviewer can recompute it" {
	d=$(new_draft '{"to":["Ann <ann@example.com>","bob@example.com"],"subject":"Ré: offre","message":"a\r\nb","in_reply_to":"orig@example.com","thread_id":"18c2f0a1b2c3d4e5"}')
	rec=$(mail-send --list)
	want=$(jq -j '. as $d | "mail-send draft v1\n" + ([ "to","cc","bcc","subject","body","html","reply_to","thread_id","in_reply_to" ] | map(. as $k | if $d[$k] == null then $k + "\n" else $k + ":" + ($d[$k] | utf8bytelength | tostring) + ":" + $d[$k] + "\n" end) | join(""))' <<<"$rec" | sha256sum | cut -d' ' -f1)
	[ "$(jq -r .sha256 <<<"$rec")" = "$want" ]
	[ "$(jq -r .body <<<"$rec")" = $'a\nb' ]
	[ "$(jq -r .in_reply_to <<<"$rec")" = "<orig@example.com>" ]
	[ "$(jq -r .to <<<"$rec")" = "Ann <ann@example.com>, bob@example.com" ]
}

@test "drafts: NDJSON send-draft requests ({draft_id, expect_sha256}) answer in order" {
	ms_login
	d1=$(new_draft '{"to":"a@example.com","subject":"One","message":"1"}')
	d2=$(new_draft '{"to":"b@example.com","subject":"Two","message":"2"}')
	mail-send --list --status pending | jq -r '"\(.draft_id) \(.sha256)"' >"$BATS_TEST_TMPDIR/approved"
	awk '{ printf "{\"draft_id\":\"%s\",\"expect_sha256\":\"%s\"}\n", $1, $2 }' \
	    "$BATS_TEST_TMPDIR/approved" >"$BATS_TEST_TMPDIR/requests"
	run mail-send <"$BATS_TEST_TMPDIR/requests"
	assert_success
	[ "${#lines[@]}" = 2 ]
	[ "$(jq -r .status <<<"${lines[0]}")" = ok ]
	[ "$(jq -r .message_id <<<"${lines[1]}")" = "$(draft_field "$d2" message_id)" ]
	[ "$(sent_count)" = 2 ]
	[ "$(draft_field "$d1" status)" = sent ]
	run mail-send <<<"{\"draft_id\":\"$d1\",\"mode\":\"send\"}"
	assert_failure 1
	assert_output --partial 'unknown field \"mode\"'
}

@test "the man page's pipelines: a CSV into drafts, then the cron line sends the approved ones once" {
	ms_login
	printf 'email,name\nann@example.com,Ann\nbob@example.com,Bob\n' >contacts.csv
	tail -n +2 contacts.csv |
	    jq -Rc 'split(",") | {to: .[0], subject: "Our offer",
	        message: ("Dear " + .[1] + ",\n\nHere is our offer.")}' |
	    mail-send --mode draft >drafts.ndjson
	[ "$(jq -r .status drafts.ndjson | sort -u)" = ok ]
	[ "$(mail-send --list --status pending | jq -r .body | head -n 1)" = "Dear Ann," ]
	ann=$(sed -n 1p drafts.ndjson | jq -r .draft_id)
	# the reviewer approves Ann's draft only
	mail-send --show "$ann" >draft.json
	jq -r '"\(.draft_id) \(.sha256)"' draft.json >>approved.txt
	cron() {
		mail-send --list --status pending | jq -r '"\(.draft_id) \(.sha256)"' |
		    grep -Fxf approved.txt |
		    jq -Rc 'split(" ") | {draft_id: .[0], expect_sha256: .[1]}' |
		    mail-send >>mail-sent.ndjson
	}
	cron
	cron
	[ "$(sent_count)" = 1 ]
	[ "$(summary | jq -r '.headers.To[0]')" = ann@example.com ]
	[ "$(jq -r .status mail-sent.ndjson)" = ok ]
	[ "$(draft_field "$ann" status)" = sent ]
	[ "$(mail-send --list --status pending | jq -r .to)" = bob@example.com ]
}

@test "drafts: two concurrent --send-draft of one draft send it exactly once" {
	ms_login
	# each send takes 0.6 s at Gmail: the two runs overlap
	fake_ctl POST config '{"latency_ms":600,"latency_match":"messages\\.send"}' >/dev/null
	for round in 1 2 3; do
		d=$(new_draft "{\"to\":\"client@example.com\",\"subject\":\"Race $round\",\"message\":\"Once\"}")
		mail-send --send-draft "$d" >"$BATS_TEST_TMPDIR/a" 2>&1 &
		a=$!
		mail-send --send-draft "$d" >"$BATS_TEST_TMPDIR/b" 2>&1 &
		b=$!
		sa=0 sb=0
		wait $a || sa=$?
		wait $b || sb=$?
		# one sent it, the other refused (busy: 75, or no longer pending: 1)
		[ "$(cat "$BATS_TEST_TMPDIR/a" "$BATS_TEST_TMPDIR/b" | grep -c '"status":"ok"')" = 1 ]
		[ $sa = 0 ] || [ $sb = 0 ]
		[ $sa != 0 ] || [ $sb != 0 ]
		[ "$(sent_count)" = "$round" ]
		[ "$(draft_field "$d" status)" = sent ]
	done
	[ "$(sent_count)" = 3 ]
}

@test "refused before anything is stored or sent: header injection, bad addresses, a missing field" {
	ms_login
	while IFS= read -r line; do
		for mode in draft send; do
			run mail-send <<<"$(jq -c --arg m $mode '. + {mode: $m}' <<<"$line")"
			assert_failure 1
			[ "$(jq -r .status <<<"${lines[-1]}")" = error ]
		done
	done <"$FIX/refused.ndjson"
	run mail-send --list
	assert_output ""
	[ "$(sent_count)" = 0 ]
	[ "$(fake_count gmail.users.messages.send)" = 0 ]
	# the reasons
	run mail-send <"$FIX/refused.ndjson"
	assert_failure 1
	assert_output --partial 'header injection refused: CR or LF in subject'
	assert_output --partial 'header injection refused: CR or LF in to'
	assert_output --partial 'header injection refused: CR or LF in reply_to'
	assert_output --partial 'header injection refused: CR or LF in in_reply_to'
	assert_output --partial 'header injection refused: CR or LF in thread_id'
	assert_output --partial 'header injection refused: CR or LF in cc'
	assert_output --partial 'invalid address \"bob\": not exactly one @'
	assert_output --partial 'the domain needs a dot'
	assert_output --partial 'missing address in to'
	assert_output --partial 'use commas between addresses'
	assert_output --partial 'unknown field \"attachments\"'
	[ "$(grep -c . "$FIX/refused.ndjson")" = "$(grep -c '"status":"error"' <<<"$output")" ]
}

@test "more than 500 recipients is refused; 500 is Gmail's limit and passes" {
	ms_login
	to=$(seq 1 300 | sed 's/.*/r&@example.com/' | paste -sd,)
	cc=$(seq 301 500 | sed 's/.*/r&@example.com/' | jq -Rnc '[inputs]')
	run mail-send <<<"$(jq -nc --arg to "$to" --argjson cc "$cc" '{to:$to, cc:$cc, subject:"s", message:"m"}')"
	assert_success
	run mail-send <<<"$(jq -nc --arg to "$to" --argjson cc "$cc" '{to:$to, cc:$cc, bcc:"one.more@example.com", subject:"s", message:"m", mode:"send"}')"
	assert_failure 1
	assert_output --partial "too many recipients: more than 500"
	[ "$(sent_count)" = 0 ]
	[ "$(mail-send --list | wc -l)" = 1 ]
}

@test "size: a message over 35 MB is refused; over 5 MB it goes through the media upload" {
	ms_login
	python3 -c 'import json; print(json.dumps({"to":"a@example.com","subject":"Big","message":("x" * 99 + "\n") * 190000,"mode":"send"}))' >"$BATS_TEST_TMPDIR/big"
	run mail-send <"$BATS_TEST_TMPDIR/big"
	assert_failure 1
	assert_output --partial "message too large"
	[ "$(fake_count gmail.users.messages.send)" = 0 ]
	python3 -c 'import json; print(json.dumps({"to":"a@example.com","subject":"Large","message":("y" * 99 + "\n") * 30000,"mode":"send"}))' >"$BATS_TEST_TMPDIR/large"
	run mail-send <"$BATS_TEST_TMPDIR/large"
	assert_success
	send=$(fake_requests gmail.users.messages.send)
	[ "$(jq -r .path <<<"$send")" = /upload/gmail/v1/users/me/messages/send ]
	[ "$(jq -r .query.uploadType <<<"$send")" = media ]
	[ "$(jq -r '.headers["content-type"]' <<<"$send")" = message/rfc822 ]
	[ "$(jq -r .body_len <<<"$send")" -gt $((5 << 20)) ]
	[ "$(summary | jq -r '.headers.Subject[0]')" = Large ]
	[ "$(summary | part text/plain | occurrences 'Test User')" = 1 ]
}

@test "a token without gmail.settings.basic is refused: an error naming the scope, nothing sent" {
	ms_login gmail.send
	run mail-send --mode send --to client@example.com --subject s --message m
	assert_failure 77
	assert_output --partial "gmail.settings.basic"
	assert_output --partial '"status":"error"'
	[ "$(fake_count gmail.users.messages.send)" = 0 ]
	d=$(new_draft '{"to":"client@example.com","subject":"s","message":"m"}')
	run mail-send --send-draft "$d"
	assert_failure 77
	assert_output --partial "gmail.settings.basic"
	[ "$(draft_field "$d" status)" = pending ]
	[ "$(sent_count)" = 0 ]
}

@test "replies: thread_id and in_reply_to give In-Reply-To, References and threadId" {
	ms_login
	orig=$(fake_ctl POST messages '{"text":"From: client@example.com\nTo: user@example.com\nSubject: Question\nMessage-ID: <q1@client.example.com>\n\nHello?\n"}')
	thread=$(jq -r .threadId <<<"$orig")
	run mail-send <<<"{\"to\":\"client@example.com\",\"subject\":\"Re: Question\",\"message\":\"Answer.\",\"thread_id\":\"$thread\",\"in_reply_to\":\"q1@client.example.com\",\"mode\":\"send\"}"
	assert_success
	s=$(summary)
	[ "$(jq -r '.headers["In-Reply-To"][0]' <<<"$s")" = "<q1@client.example.com>" ]
	[ "$(jq -r '.headers.References[0]' <<<"$s")" = "<q1@client.example.com>" ]
	[ "$(fake_requests gmail.users.messages.send | jq -r '.body | fromjson | .threadId')" = "$thread" ]
	[ "$(fake_ctl GET sent | jq -r '.sent[-1].threadId')" = "$thread" ]
}

@test "a bad NDJSON line in the middle is answered and counted; the others go on" {
	fake_start
	run mail-send <"$FIX/bad-middle.ndjson"
	assert_failure 1
	[ "${#lines[@]}" = 4 ]	# three answers and the warning
	run sh -c "mail-send <'$FIX/bad-middle.ndjson' 2>/dev/null"
	[ "${#lines[@]}" = 3 ]
	[ "$(jq -r .status <<<"${lines[0]}")" = ok ]
	[ "$(jq -r .status <<<"${lines[1]}")" = error ]
	[ "$(jq -r .status <<<"${lines[2]}")" = ok ]
	[ "$(mail-send --list | wc -l)" = 4 ]	# both runs' two drafts
}

@test "a send that timed out but had gone is found by its Message-ID and not sent twice" {
	ms_login gmail.send,gmail.settings.basic,gmail.readonly
	export OPS_GMAIL_COLLECT_HTTP_TIMEOUT=1
	fake_ctl POST faults '{"rules":[{"match":"messages/send","kind":"hang","seconds":12}]}' >/dev/null
	run mail-send -v --mode send --to client@example.com --subject "Timed out" --message m
	assert_success
	[ "$(sent_count)" = 1 ]
	id=$(fake_ctl GET sent | jq -r '.sent[0].id')
	[ "$(jq -r .id <<<"${lines[-1]}")" = "$id" ]
	assert_output --partial "it may have gone; looking for Message-ID"
	assert_output --regexp "messages/send: Operation too slow|messages/send: .*[Tt]imed? ?out"
	q=$(fake_requests gmail.users.messages.list | jq -r .query.q)
	[[ "$q" =~ ^rfc822msgid:[0-9a-f]{32}\.mail-send@example\.com$ ]]
	[ "$(fake_count gmail.users.messages.send)" = 1 ]
}

@test "a draft whose send got a 500 after Gmail stored it is found (gmail.metadata: through SENT) and marked sent" {
	ms_login gmail.send,gmail.settings.basic,gmail.metadata
	fake_ctl POST messages '{"text":"From: user@example.com\nTo: x@example.com\nSubject: older\nMessage-ID: <older@example.com>\n\nold\n","labelIds":["SENT"]}' >/dev/null
	d=$(new_draft '{"to":"client@example.com","subject":"Five hundred","message":"m"}')
	fake_ctl POST faults '{"rules":[{"match":"messages/send","kind":"error","status":500,"after":true}]}' >/dev/null
	run mail-send --send-draft "$d"
	assert_success
	[ "$(sent_count)" = 1 ]
	[ "$(jq -r .message_id <<<"$output")" = "$(fake_ctl GET sent | jq -r '.sent[0].id')" ]
	[ "$(draft_field "$d" status)" = sent ]
	[ "$(fake_count gmail.users.messages.send)" = 1 ]
	# q= is refused with gmail.metadata only; the SENT walk found it
	[ "$(fake_requests gmail.users.messages.list | jq -r '.query.labelIds // empty')" = SENT ]
	[ "$(fake_requests gmail.users.messages.get | jq -r .query.format | sort -u)" = metadata ]
}

@test "a send that broke off before Gmail got it is sent again after the look-up finds nothing" {
	ms_login gmail.send,gmail.settings.basic,gmail.readonly
	fake_ctl POST faults '{"rules":[{"match":"messages/send","kind":"reset"}]}' >/dev/null
	d=$(new_draft '{"to":"client@example.com","subject":"Reset","message":"m"}')
	run mail-send --send-draft "$d"
	assert_success
	[ "$(sent_count)" = 1 ]
	[ "$(fake_count gmail.users.messages.send)" = 2 ]
	[ "$(fake_count gmail.users.messages.list)" = 1 ]
	[ "$(draft_field "$d" status)" = sent ]
}

@test "a send Gmail refused for rate (429) went nowhere: it is sent again without a look-up" {
	ms_login gmail.send,gmail.settings.basic,gmail.readonly
	fake_ctl POST faults '{"rules":[{"match":"messages/send","status":429}]}' >/dev/null
	run mail-send --mode send --to client@example.com --subject "Rate" --message m
	assert_success
	[ "$(sent_count)" = 1 ]
	[ "$(fake_count gmail.users.messages.send)" = 2 ]
	[ "$(fake_count gmail.users.messages.list)" = 0 ]
	# a plain refusal is final: nothing sent, nothing looked for
	fake_ctl POST faults '{"rules":[{"match":"messages/send","status":400}]}' >/dev/null
	d=$(new_draft '{"to":"client@example.com","subject":"Refused","message":"m"}')
	run mail-send --send-draft "$d"
	assert_failure 1
	[ "$(sent_count)" = 1 ]
	[ "$(fake_count gmail.users.messages.list)" = 0 ]
	[ "$(draft_field "$d" status)" = pending ]
	[[ "$(draft_field "$d" last_error)" == *400* ]]
	[ "$(draft_field "$d" rfc822msgid)" = null ]
	run mail-send --send-draft "$d"
	assert_success
	[ "$(sent_count)" = 2 ]
}

@test "without a scope to look with, a send that may have gone is not resent: the draft stays sending until it can be checked" {
	ms_login gmail.send,gmail.settings.basic
	export OPS_GMAIL_COLLECT_HTTP_TIMEOUT=1
	d=$(new_draft '{"to":"client@example.com","subject":"Unknown","message":"m"}')
	fake_ctl POST faults '{"rules":[{"match":"messages/send","kind":"hang","seconds":3}]}' >/dev/null
	run mail-send --send-draft "$d"
	assert_failure 1
	assert_output --partial "may have been sent"
	assert_output --partial "gmail.metadata"
	[ "$(sent_count)" = 1 ]
	[ "$(draft_field "$d" status)" = sending ]
	[[ "$(draft_field "$d" last_error)" == *"may have been sent"* ]]
	run mail-send --send-draft "$d"
	assert_failure 1
	[ "$(sent_count)" = 1 ]
	# with a scope that can look, the next run finds it and sends nothing
	login_user --scopes gmail.send,gmail.settings.basic,gmail.metadata
	run mail-send --send-draft "$d"
	assert_success
	[ "$(jq -r .message_id <<<"$output")" = "$(fake_ctl GET sent | jq -r '.sent[0].id')" ]
	[ "$(sent_count)" = 1 ]
	[ "$(draft_field "$d" status)" = sent ]
}

@test "a run killed mid-send leaves the draft sending; the next --send-draft finds the message and does not send it again" {
	ms_login gmail.send,gmail.settings.basic,gmail.readonly
	export ENABLE_TRACKING=true PIXEL_TRACKER_BASE_URL=https://pixel.example.com
	d=$(new_draft '{"to":"client@example.com","subject":"Killed","message":"m"}')
	fake_ctl POST faults '{"rules":[{"match":"messages/send","kind":"hang","seconds":30}]}' >/dev/null
	mail-send --send-draft "$d" >/dev/null 2>&1 &
	pid=$!
	for _ in $(seq 100); do [ "$(sent_count)" = 1 ] && break; sleep 0.05; done
	[ "$(sent_count)" = 1 ]
	# while it runs, a second sender is turned away
	run mail-send --send-draft "$d"
	assert_failure 75
	assert_output --partial "being sent by another process"
	kill -9 $pid
	wait $pid || true
	[ "$(draft_field "$d" status)" = sending ]
	pixel=$(draft_field "$d" pixel_id)
	fake_ctl DELETE faults >/dev/null
	run mail-send --send-draft "$d"
	assert_success
	[ "$(jq -r .message_id <<<"$output")" = "$(fake_ctl GET sent | jq -r '.sent[0].id')" ]
	[ "$(jq -r .pixel_id <<<"$output")" = "$pixel" ]
	[ "$(sent_count)" = 1 ]
	[ "$(draft_field "$d" status)" = sent ]
	[ "$(mail-send --opens "$pixel" | jq -r .message_id)" = "$(jq -r .message_id <<<"$output")" ]
}

@test "the store: its own LMDB environment in var/db/mail (0700), sub-databases named by DRAFT_COLLECTION" {
	d=$(new_draft '{"to":"a@example.com","subject":"s","message":"m"}')
	[ "$(stat -c %a "$BASE/var/db/mail")" = 700 ]
	[ -f "$BASE/var/db/mail/data.mdb" ]
	[ "$(stat -c %a "$BASE/var/db/mail/data.mdb")" = 600 ]
	run env DRAFT_COLLECTION=other_drafts mail-send --list
	assert_success
	assert_output ""
	run mail-send --list
	[ "$(jq -r .draft_id <<<"$output")" = "$d" ]
	run env DRAFT_COLLECTION='bad name' mail-send --list
	assert_failure 78
	run env SEND_MODE=later mail-send --list
	assert_failure 78
}

@test "usage: bad options are exit 2; --help and the man page's SYNOPSIS agree" {
	run mail-send --list --status archived
	assert_failure 2
	run mail-send --list --show x
	assert_failure 2
	run mail-send --expect-sha256 abc
	assert_failure 2
	run mail-send --mode later --to a@example.com
	assert_failure 2
	run mail-send extra
	assert_failure 2
	run mail-send --version
	assert_success
	assert_output --regexp '^mail-send [0-9]'
	man_synopsis=$(mandoc -Tascii "$TOP/man/mail-send.1" | col -b |
	    awk '/^SYNOPSIS/ { s = 1; next } /^[A-Z]/ { s = 0 } s' |
	    tr -s ' \t\n' '   ' | sed 's/^ *//; s/ *$//')
	usage=$(mail-send -h | sed 's/^usage: //' | tr -s ' \t\n' '   ' | sed 's/^ *//; s/ *$//')
	[ "$man_synopsis" = "$usage" ]
	run mandoc -Tlint -W warning "$TOP/man/mail-send.1"
	assert_success
	assert_output ""
}
