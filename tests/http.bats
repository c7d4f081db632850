#!/usr/bin/env bats
# lib/http.c through gmail-api against the fake: retries and backoff,
# what is never retried, Google's errors in words, transport rules, TLS.

load helpers

setup() {
	setup_base
	fake_start
	login_user
	: >"$FAKE_LOG"
}

teardown() {
	fake_stop
}

faults() {
	fake_ctl POST faults "{\"rules\": [$1]}" >/dev/null
}

profile_statuses() {
	fake_requests gmail.users.getProfile | jq -r .status | tr '\n' ' '
}

@test "429 is retried with backoff until it succeeds" {
	faults '{"match": "getProfile", "status": 429, "times": 2}'
	run gmail-api users/me/profile
	assert_success
	[ "$(profile_statuses)" = "429 429 200 " ]
}

@test "503 is retried; 500, 502, 504 too" {
	faults '{"match": "getProfile", "status": 503, "times": 1}, {"match": "getProfile", "status": 500, "times": 1}, {"match": "getProfile", "status": 502, "times": 1}, {"match": "getProfile", "status": 504, "times": 1}'
	run gmail-api users/me/profile
	assert_success
	[ "$(profile_statuses)" = "503 500 502 504 200 " ]
}

@test "403 rateLimitExceeded, userRateLimitExceeded and backendError are retried" {
	faults '{"match": "getProfile", "status": 403, "reason": "rateLimitExceeded", "times": 1}, {"match": "getProfile", "status": 403, "reason": "userRateLimitExceeded", "times": 1}, {"match": "getProfile", "status": 403, "reason": "backendError", "times": 1}'
	run gmail-api users/me/profile
	assert_success
	[ "$(profile_statuses)" = "403 403 403 200 " ]
}

@test "tries are bounded: HTTP_MAX_TRIES then exit 69 with Google's message" {
	faults '{"match": "getProfile", "status": 503, "times": 50}'
	run gmail-api -o HTTP_MAX_TRIES=4 users/me/profile
	assert_failure 69
	[ "$(fake_count gmail.users.getProfile)" = 4 ]
	assert_output --partial "GET /gmail/v1/users/me/profile: 503 UNAVAILABLE (backendError): The service is currently unavailable. (gave up after retries)"
}

@test "400 and 404 are not retried, and say why" {
	faults '{"match": "getProfile", "status": 400, "times": 5}'
	run gmail-api users/me/profile
	assert_failure 65
	[ "$(fake_count gmail.users.getProfile)" = 1 ]
	run gmail-api users/me/messages/0123456789abcdef
	assert_failure 65
	assert_output --partial "404 NOT_FOUND (notFound): Requested entity was not found."
	[ "$(fake_count gmail.users.messages.get)" = 1 ]
}

@test "other 403s (insufficient scope) are not retried: exit 77" {
	run gmail-api -X POST -d '{"addLabelIds":["STARRED"]}' users/me/messages/0123456789abcdef/modify
	assert_failure 77
	assert_output --partial "403 PERMISSION_DENIED (insufficientPermissions): Request had insufficient authentication scopes."
	[ "$(fake_count gmail.users.messages.modify)" = 1 ]
}

@test "the first backoff wait is at least one second" {
	export GMAIL_OPS_BACKOFF_BASE_MS=1000
	faults '{"match": "getProfile", "status": 503, "times": 1}'
	run gmail-api users/me/profile
	assert_success
	gap=$(fake_requests gmail.users.getProfile | jq -s '.[1].t - .[0].t')
	jq -e --argjson g "$gap" -n '$g >= 1.0 and $g < 3.5'
}

@test "a Retry-After header is honoured" {
	faults '{"match": "getProfile", "status": 503, "times": 1, "retry_after": 2}'
	run gmail-api users/me/profile
	assert_success
	gap=$(fake_requests gmail.users.getProfile | jq -s '.[1].t - .[0].t')
	jq -e --argjson g "$gap" -n '$g >= 1.9'
}

@test "\"Retry after <RFC 3339>\" in error.message is honoured" {
	faults '{"match": "getProfile", "status": 429, "times": 1, "retry_after_message": 2}'
	run gmail-api users/me/profile
	assert_success
	gap=$(fake_requests gmail.users.getProfile | jq -s '.[1].t - .[0].t')
	jq -e --argjson g "$gap" -n '$g >= 1.8'
}

@test "a server asking for a wait over 64 s is not sat out: exit 69" {
	faults '{"match": "getProfile", "status": 429, "times": 1, "retry_after_message": 600}'
	run gmail-api users/me/profile
	assert_failure 69
	assert_output --partial "asked to wait"
	[ "$(fake_count gmail.users.getProfile)" = 1 ]
}

@test "a connection reset and a truncated body are retried" {
	faults '{"match": "getProfile", "kind": "reset", "times": 1}, {"match": "getProfile", "kind": "truncate", "times": 1}'
	run gmail-api users/me/profile
	assert_success
	[ "$(jq -r .emailAddress <<<"$output")" = user@example.com ]
}

@test "the fake's per-user quota answer is retried at the time it names" {
	fake_ctl POST config '{"quota_limit": 3, "quota_window": 3}' >/dev/null
	printf '{"path":"users/me/profile"}\n%.0s' 1 2 3 4 >req
	run gmail-api -o QUOTA_LIMIT=100000 <req
	assert_success
	[ "$(echo "$output" | grep -c emailAddress)" = 4 ]
	[[ "$(profile_statuses)" == *429* ]]
}

@test "the client bucket paces calls past its burst (the window rule: units.bats)" {
	# QUOTA_LIMIT=600/min: a burst of 60 units, then 9 units a second
	# 150 calls need (150 - 60) / 9 = 10 s; unpaced they take about 2 s
	for i in $(seq 150); do echo '{"path":"users/me/profile"}'; done >req
	run gmail-api -v -o QUOTA_LIMIT=600 <req
	assert_success
	assert_line "gmail-api: 150 calls, 150 quota units"
	span=$(fake_requests gmail.users.getProfile | jq -s '.[-1].t - .[0].t')
	jq -e --argjson s "$span" -n '$s >= 8.5'
	[ "$(profile_statuses | grep -o 429 | wc -l)" = 0 ]
}

@test "quota units are counted per method, by regime" {
	id=$(fake_ctl POST messages "{\"raw\": \"$(printf 'From: a@b.example\r\nSubject: x\r\n\r\nhi\r\n' | base64 -w0 | tr '+/' '-_' | tr -d '=')\"}" | jq -r .id)
	printf '{"path":"users/me/messages/%s?format=minimal"}\n{"path":"users/me/profile"}\n' "$id" >req
	run gmail-api -v <req
	assert_success
	assert_line "gmail-api: 2 calls, 21 quota units"
	run gmail-api -v -o QUOTA_REGIME=legacy <req
	assert_line "gmail-api: 2 calls, 6 quota units"
}

@test "a bearer token is refused over plain http to a non-loopback host" {
	GMAIL_API_URL=http://gmail.example.invalid run gmail-api users/me/profile
	assert_failure 78
	assert_output "gmail-api: refusing to send a bearer token over plain http to gmail.example.invalid (https, or a loopback host)"
}

@test "a bad NDJSON request in the middle: warned, skipped, the rest run, exit 1" {
	printf '{"path":"users/me/profile"}\nnot json\n{"nopath":1}\n{"path":"users/me/profile"}\n' >req
	run gmail-api <req
	assert_failure 1
	assert_line --partial "gmail-api: line 2: "
	assert_line "gmail-api: line 3: no \"path\""
	[ "$(echo "$output" | grep -c emailAddress)" = 2 ]
}
