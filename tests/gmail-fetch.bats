#!/usr/bin/env bats
# gmail-fetch against the fake: one messages.get format=raw per id, several
# in flight, input order kept, 404 skipped, retries, bad and hostile input.

load helpers
bats_require_minimum_version 1.5.0

setup() {
	setup_base
	fake_start
	login_user
	: >"$FAKE_LOG"
}

teardown() {
	fake_stop
}

# insert N: N messages in the fake; their ids, one per line, in ./ids.
insert() {
	local i
	: >ids
	for i in $(seq "$1"); do
		fake_ctl POST messages "$(jq -nc --arg t "$(printf 'From: shop%s@shop.example\r\nSubject: receipt %s\r\nContent-Type: text/plain\r\n\r\nbody %s\r\n' "$i" "$i" "$i")" '{text: $t}')" | jq -r .id >>ids
	done
}

refs() {
	jq -Rc '{type: "ref", id: ., threadId: .}' ids
}

# The ids messages.get was asked for, in the order the fake answered.
got_ids() {
	fake_requests gmail.users.messages.get | jq -r '.path | split("/") | .[-1]'
}

faults() {
	fake_ctl POST faults "{\"rules\": [$1]}" >/dev/null
}

@test "each message is fetched once with format=raw; records equal the fake's raw, in input order" {
	insert 6
	refs >in
	run --separate-stderr gmail-fetch <in
	assert_success
	[ -z "$stderr" ]
	[ "$(echo "$output" | jq -r .id)" = "$(cat ids)" ]
	[ "$(fake_count gmail.users.messages.get)" = 6 ]
	[ "$(fake_requests gmail.users.messages.get | jq -r .query.format | sort -u)" = raw ]
	[ "$(got_ids | sort)" = "$(sort ids)" ]
	[ "$(fake_requests gmail.users.messages.attachments.get | wc -l)" = 0 ]
	while read -r id; do
		fake_ctl GET "messages/$id" >want
		rec=$(echo "$output" | jq -c --arg id "$id" 'select(.id == $id)')
		[ "$(jq -r .raw <<<"$rec")" = "$(jq -r .raw want)" ]
		[ "$(jq -r .type <<<"$rec")" = raw ]
		[ "$(jq -c .labelIds <<<"$rec")" = "$(jq -c .labelIds want)" ]
		[ "$(jq -r .internalDate <<<"$rec")" = "$(jq -r .internalDate want)" ]
		[ "$(jq -r '.internalDate | type' <<<"$rec")" = string ]
		[ "$(jq -r .historyId <<<"$rec")" = "$(jq -r .historyId want)" ]
		[ "$(jq -r '.sizeEstimate | type' <<<"$rec")" = number ]
		[ "$(jq -r .threadId <<<"$rec")" = "$(jq -r .threadId want)" ]
	done <ids
	# exactly the contract's fields, in its order
	[ "$(echo "$output" | head -1 | jq -c keys_unsorted)" = '["type","id","threadId","labelIds","internalDate","historyId","sizeEstimate","raw"]' ]
}

@test "{\"id\":\"x\"} by hand works, whatever the type; records without an id (or a null one) pass through unchanged and in place" {
	insert 3
	a=$(sed -n 1p ids) b=$(sed -n 2p ids) c=$(sed -n 3p ids)
	printf '{"id":"%s"}\n{"type":"note","n":1.50,"s":"caf\\u00e9"}\n{"type":"message","id":null}\n{"type":"ref","id":"%s"}\n{"type":"whatever","id":"%s"}\n' "$a" "$b" "$c" >in
	run gmail-fetch <in
	assert_success
	[ "$(echo "$output" | jq -r '.type + ":" + (.id // "-")' | tr '\n' ' ')" = "raw:$a note:- message:- raw:$b raw:$c " ]
	[ "$(sed -n 2p <<<"$output")" = '{"type":"note","n":1.50,"s":"café"}' ]
	[ "$(fake_count gmail.users.messages.get)" = 3 ]
}

@test "a message_result (receipt-store filter's, for gmail-label) passes through, never fetched" {
	insert 1
	a=$(sed -n 1p ids)
	printf '{"type":"message_result","id":"%s","msg_key":"%s","verdict":"imported"}\n{"type":"ref","id":"%s"}\n' "$a" "$a" "$a" >in
	run gmail-fetch <in
	assert_success
	[ "$(sed -n 1p <<<"$output")" = "$(sed -n 1p in)" ]
	[ "$(sed -n 2p <<<"$output" | jq -r .type)" = raw ]
	[ "$(fake_count gmail.users.messages.get)" = 1 ]
}

@test "-j 4 keeps four requests in flight (latency 300 ms, 8 messages), output still in input order" {
	insert 8
	refs >in
	fake_ctl POST config '{"latency_ms": 300, "latency_match": "^gmail\\."}' >/dev/null
	run gmail-fetch -j 4 <in
	assert_success
	[ "$(echo "$output" | jq -r .id)" = "$(cat ids)" ]
	# request i+1 arrived while request i was still being answered, and
	# at most four were ever in flight together
	fake_requests gmail.users.messages.get | jq -s '[.[].t] | sort' >ts
	jq -e '[range(1; length) as $i | select(.[$i] - .[$i - 1] < 0.25)] | length >= 5' ts
	jq -e '[range(4; length) as $i | select(.[$i] - .[$i - 4] < 0.25)] | length == 0' ts
	# one at a time, the eighth would arrive 7 x 300 ms after the first
	jq -e '.[-1] - .[0] < 1.0' ts
}

@test "over verified https (the fake's ALPN says HTTP/1.1): requests still overlap" {
	fake_stop
	d=$BATS_TEST_TMPDIR
	openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=test-ca \
	    -keyout "$d/ca.key" -out "$d/ca.pem" 2>/dev/null
	openssl req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 \
	    -keyout "$d/srv.key" -out "$d/srv.csr" 2>/dev/null
	printf 'subjectAltName=IP:127.0.0.1\n' >"$d/ext"
	openssl x509 -req -in "$d/srv.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" \
	    -CAcreateserial -days 2 -extfile "$d/ext" -out "$d/srv.pem" 2>/dev/null
	FAKE_SCHEME=https
	FAKE_CTL_CURL_OPTS="--cacert $d/ca.pem"
	fake_start --tls-cert "$d/srv.pem" --tls-key "$d/srv.key"
	export CURL_CA_BUNDLE="$d/ca.pem"
	rm -rf "$CREDS"
	SCRIPTED_BROWSER_CURL_OPTS="--cacert $d/ca.pem" login_user
	insert 6
	refs >in
	fake_ctl POST config '{"latency_ms": 300, "latency_match": "^gmail\\."}' >/dev/null
	: >"$FAKE_LOG"
	run --separate-stderr gmail-fetch -j 3 <in
	assert_success
	[ "$(echo "$output" | jq -r .id)" = "$(cat ids)" ]
	fake_requests gmail.users.messages.get | jq -s '[.[].t] | sort' >ts
	jq -e '[range(1; length) as $i | select(.[$i] - .[$i - 1] < 0.25)] | length >= 3' ts
}

@test "-j 1 makes one request at a time" {
	insert 3
	refs >in
	fake_ctl POST config '{"latency_ms": 200, "latency_match": "^gmail\\."}' >/dev/null
	run gmail-fetch -j 1 <in
	assert_success
	fake_requests gmail.users.messages.get | jq -s '[.[].t] | sort' >ts
	jq -e '[range(1; length) as $i | select(.[$i] - .[$i - 1] < 0.19)] | length == 0' ts
}

@test "a message gone (404) in the middle: warned, no record, not an error" {
	insert 2
	{ sed -n 1p ids; echo 0123456789abcdef; sed -n 2p ids; } | jq -Rc '{id: .}' >in
	run --separate-stderr gmail-fetch <in
	assert_success
	[ "$stderr" = "gmail-fetch: 0123456789abcdef: gone (404), skipped" ]
	[ "$(echo "$output" | jq -r .id)" = "$(cat ids)" ]
	[ "$(fake_count gmail.users.messages.get)" = 3 ]
}

@test "503 and 429 are retried per message, and the record still comes" {
	insert 3
	refs >in
	b=$(sed -n 2p ids) c=$(sed -n 3p ids)
	faults "{\"match\": \"$b\", \"status\": 503, \"times\": 2}, {\"match\": \"$c\", \"status\": 429, \"times\": 1}"
	run gmail-fetch -j 2 <in
	assert_success
	[ "$(echo "$output" | jq -r .id)" = "$(cat ids)" ]
	[ "$(fake_requests gmail.users.messages.get | jq -r --arg id "$b" 'select(.path | endswith($id)) | .status' | tr '\n' ' ')" = "503 503 200 " ]
	[ "$(fake_requests gmail.users.messages.get | jq -r --arg id "$c" 'select(.path | endswith($id)) | .status' | tr '\n' ' ')" = "429 200 " ]
}

@test "a Retry-After on one message holds that message only" {
	insert 4
	refs >in
	a=$(sed -n 1p ids)
	faults "{\"match\": \"$a\", \"status\": 503, \"times\": 1, \"retry_after\": 1}"
	run gmail-fetch -j 4 <in
	assert_success
	[ "$(echo "$output" | jq -r .id)" = "$(cat ids)" ]
	fake_requests gmail.users.messages.get | jq -s --arg id "$a" '
	    (map(select(.path | endswith($id))) | .[1].t - .[0].t) as $gap |
	    (map(select(.path | endswith($id) | not)) | map(.t) | max) as $others |
	    $gap >= 0.9 and $others < (map(.t) | min) + 0.5' | grep -qx true
}

@test "a message that keeps failing: warning, error record in its place, exit 1; the others go on" {
	insert 3
	refs >in
	b=$(sed -n 2p ids)
	faults "{\"match\": \"$b\", \"status\": 500, \"times\": -1}"
	run --separate-stderr gmail-fetch -o HTTP_MAX_TRIES=2 <in
	assert_failure 1
	[ "$(echo "$output" | jq -r .type | tr '\n' ' ')" = "raw error raw " ]
	sed -n 2p <<<"$output" | jq -e --arg id "$b" '.id == $id and .stage == "gmail-fetch" and (.error | test("500 INTERNAL"))'
	[[ "$stderr" == "gmail-fetch: $b: GET /gmail/v1/users/me/messages/$b: 500 INTERNAL"*"(gave up after retries)" ]]
	[ "$(fake_requests gmail.users.messages.get | jq -r --arg id "$b" 'select(.path | endswith($id)) | .status' | wc -l)" = 2 ]
}

@test "400 is not retried: one request, an error record" {
	insert 1
	refs >in
	faults '{"match": "messages.get", "status": 400, "times": -1}'
	run --separate-stderr gmail-fetch <in
	assert_failure 1
	[ "$(jq -r .type <<<"$output")" = error ]
	[ "$(fake_count gmail.users.messages.get)" = 1 ]
}

@test "a bad input line in the middle: warned with its number, skipped, the rest fetched, exit 1" {
	insert 2
	{ sed -n 1p ids | jq -Rc '{id: .}'; echo '{"id": '; echo '[1,2]'; sed -n 2p ids | jq -Rc '{id: .}'; } >in
	run --separate-stderr gmail-fetch <in
	assert_failure 1
	[ "$(echo "$output" | jq -r .id)" = "$(cat ids)" ]
	[[ "$stderr" == *"gmail-fetch: line 2: "* ]]
	[[ "$stderr" == *"gmail-fetch: line 3: not a JSON object"* ]]
}

@test "hostile ids (/, ?, .., %2F, #, too long, not a string) are refused and never reach a request path" {
	insert 1
	good=$(cat ids)
	for id in "../../profile" "$good?format=full" "$good/modify" ".." "." "%2e%2e" "a#b" "a b" "$(printf 'a%.0s' $(seq 80))"; do
		jq -nc --arg id "$id" '{id: $id}'
	done >in
	printf '{"id": 12}\n{"id": ["x"]}\n{"id": "%s"}\n' "$good" >>in
	run --separate-stderr gmail-fetch <in
	assert_failure 1
	[ "$(echo "$output" | jq -r .id)" = "$good" ]
	[ "$(echo "$stderr" | grep -c 'is not a Gmail message id, skipped')" = 11 ]
	# the one request made is the good one, format raw, nothing else
	[ "$(jq -r '.endpoint + " " + .path + " " + (.query | tostring)' "$FAKE_LOG")" = "gmail.users.messages.get /gmail/v1/users/me/messages/$good {\"format\":\"raw\"}" ]
}

@test "a forged answer (another message, not raw, not JSON) becomes an error record" {
	insert 3
	refs >in
	a=$(sed -n 1p ids) b=$(sed -n 2p ids) c=$(sed -n 3p ids)
	faults "{\"match\": \"$a\", \"status\": 200, \"body\": {\"id\": \"$b\", \"raw\": \"eA==\"}}, {\"match\": \"$b\", \"status\": 200, \"body\": {\"id\": \"$b\", \"payload\": {}}}, {\"match\": \"$c\", \"status\": 200, \"body\": \"<html>\", \"content_type\": \"text/html\"}"
	run --separate-stderr gmail-fetch <in
	assert_failure 1
	[ "$(echo "$output" | jq -r '.type + ":" + .id' | tr '\n' ' ')" = "error:$a error:$b error:$c " ]
}

@test "401: one token refresh for all requests in flight" {
	insert 6
	refs >in
	fake_ctl POST expire-tokens >/dev/null
	run gmail-fetch -j 4 <in
	assert_success
	[ "$(echo "$output" | jq -r .id)" = "$(cat ids)" ]
	[ "$(fake_count oauth.token)" = 1 ]
}

@test "an authorisation failure stops the run: exit 77" {
	insert 2
	refs >in
	fake_ctl POST expire-tokens >/dev/null
	fake_ctl POST revoke-refresh >/dev/null
	run gmail-fetch <in
	assert_failure 77
}

@test "Gmail failing for every message: gives up after ten in a row, exit 69" {
	for i in $(seq 30); do printf '{"id":"%016x"}\n' "$i"; done >in
	faults '{"match": "messages.get", "status": 503, "times": -1}'
	run gmail-fetch -o HTTP_MAX_TRIES=1 <in
	assert_failure 69
	assert_line --partial "in a row could not be fetched: giving up"
	[ "$(fake_count gmail.users.messages.get)" -lt 20 ]
}

@test "--stats: calls, units (messages.get costs 20, 5 in the legacy regime), errors, by method" {
	insert 3
	{ refs; echo '{"id":"0123456789abcdef"}'; echo 'bad'; } >in
	run gmail-fetch --stats "$BASE/stats.json" <in
	assert_failure 1
	jq -e '.prog == "gmail-fetch" and .calls == 4 and .units == 80 and .errors == 1 and .by_method["messages.get"].calls == 4' stats.json
	run gmail-fetch -o QUOTA_REGIME=legacy --stats "$BASE/stats.json" <in
	jq -e '.units == 20' stats.json
}

@test "the quota bucket paces the requests in flight: QUOTA_LIMIT=600 is a burst of 3 messages.get, then one per 2.2 s" {
	insert 5
	refs >in
	run gmail-fetch -j 8 -o QUOTA_LIMIT=600 <in
	assert_success
	[ "$(echo "$output" | jq -r .id)" = "$(cat ids)" ]
	# a 60-unit burst, then 9 units a second: 2 more gets take 2 x 20 / 9 s
	fake_requests gmail.users.messages.get | jq -s 'map(.t) | sort | (.[2] - .[0] < 0.5) and (.[4] - .[0] >= 4)' | grep -qx true
}

@test "a fetch error is logged with id and error, never message content" {
	insert 2
	refs >in
	b=$(sed -n 2p ids)
	faults "{\"match\": \"$b\", \"status\": 400, \"times\": -1}"
	GMAIL_OPS_LOG=collect_from_gmail run gmail-fetch <in
	assert_failure 1
	log=$(ls var/logs/ops/collect_from_gmail-*.jsonl)
	jq -e --arg id "$b" 'select(.event == "fetch_error") | .id == $id and (.error | test("400"))' "$log"
	! grep -q 'receipt\|body 1\|ya29' "$log"
}

@test "progress on a terminal: done/total, rate and ETA on stderr; none when stderr is not a terminal" {
	insert 3
	refs >in
	echo '{"id":"0123456789abcdef"}' >>in
	fake_ctl POST config '{"latency_ms": 300, "latency_match": "^gmail\\."}' >/dev/null
	script -qec "gmail-fetch -j 1 <in >out" /dev/null >tty.txt
	grep -q 'gmail-fetch: [12]/4 fetched, [0-9.]* msg/s, ETA 0:0[0-9]' tty.txt
	grep -q 'gmail-fetch: 4/4 fetched, [0-9.]* msg/s (1 gone, 0 failed)' tty.txt
	# the warning is not glued to a progress line
	grep -q '^.*gmail-fetch: 0123456789abcdef: gone (404), skipped' tty.txt
	[ "$(wc -l <out)" = 3 ]
	refs >in
	run --separate-stderr gmail-fetch <in
	assert_success
	[ -z "$stderr" ]
}

@test "usage: -h, --version, bad -j" {
	run gmail-fetch -h
	assert_success
	assert_output "usage: gmail-fetch [-c file] [-o key=value] [-j N] [--stats file]"
	# the man page's SYNOPSIS says the same
	[ "$(mandoc -Tascii -O width=200 "$TOP/man/gmail-fetch.1" | col -b | sed -n '/^SYNOPSIS/{n;p;}' | sed 's/^ *//')" = "${output#usage: }" ]
	run gmail-fetch --version
	assert_output --partial "gmail-fetch "
	run gmail-fetch -j 0 </dev/null
	assert_failure 2
	run gmail-fetch -j 65 </dev/null
	assert_failure 2
	run gmail-fetch extra
	assert_failure 2
}
