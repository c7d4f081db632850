#!/usr/bin/env bats
# ops-httpd, the private admin pages and the send API, driven with curl on
# loopback against the fake Google: credentials (401s, Django-format
# hashes, bearer), every route, CSRF, the collection card and its launch
# (refused while the lock is held), logs confined to var/logs/ops, the
# seed's JSON API answering as mail-send does, and a real headless
# Chromium reading the page.

load helpers
bats_require_minimum_version 1.5.0

MAILBOX="$TOP/etc/demo/mailbox"
TOKEN=tok-0123456789abcdef-0123456789abcdef
ARTIFACTS="$TOP/build/artifacts"

setup() {
	setup_base
	export PATH="$TOP/scripts:$PATH"
	HS_PID=
	LOCK_PID=
	mkdir -p etc
	chmod 700 etc
	# Alice's hash made by Python's hashlib in Django's layout, so the
	# format is checked against an implementation that is not ours.
	python3 - >etc/users <<'PY'
import base64, hashlib
def h(pw, salt, it=1000):
    dk = hashlib.pbkdf2_hmac("sha256", pw.encode(), salt.encode(), it)
    return "pbkdf2_sha256$%d$%s$%s" % (it, salt, base64.b64encode(dk).decode())
print("# ops-httpd users")
print("alice:" + h("s3cret pass", "Nq1yV6cV0aDf3KxUq2Rr9a"))
print("bob:" + h("hunter2", "Zb8eS2kL0pQw7XyT5mNa1c", 1200))
PY
	printf '%s\n' "$TOKEN" >etc/token
	chmod 600 etc/users etc/token
	export OPS_GMAIL_COLLECT_HTTPD_USERS_FILE="$BASE/etc/users"
	export OPS_GMAIL_COLLECT_HTTPD_TOKEN_FILE="$BASE/etc/token"
}

teardown() {
	if [ -n "$HS_PID" ]; then
		kill "$HS_PID" 2>/dev/null || true
		wait "$HS_PID" 2>/dev/null || true
	fi
	if [ -n "$LOCK_PID" ]; then
		kill "$LOCK_PID" 2>/dev/null || true
		wait "$LOCK_PID" 2>/dev/null || true
	fi
	fake_stop
}

# hs_start [options]: ops-httpd on a free loopback port; $HS is its URL.
hs_start() {
	HS_OUT="$BATS_TEST_TMPDIR/hs.out"
	HS_ERR="$BATS_TEST_TMPDIR/hs.err"
	: >"$HS_OUT"
	ops-httpd -l 127.0.0.1:0 "$@" >"$HS_OUT" 2>"$HS_ERR" 3>&- &
	HS_PID=$!
	local i=0
	while [ ! -s "$HS_OUT" ]; do
		i=$((i + 1))
		if [ $i -gt 200 ] || ! kill -0 "$HS_PID" 2>/dev/null; then
			cat "$HS_ERR" >&2
			return 1
		fi
		sleep 0.05
	done
	HS_ADDR=$(head -1 "$HS_OUT" | jq -r .address)
	HS="http://$HS_ADDR"
}

# The collection set-up of collect.bats, and a user who may also send.
with_google() {
	export OPS_GMAIL_COLLECT_ENABLED=true
	export OPS_GMAIL_COLLECT_ALLOWED_SENDERS="billing@shop.example,@cafe.example"
	export OPS_GMAIL_COLLECT_APPLY_LABELS=true
	fake_start --mailbox "$MAILBOX"
	login_user --scopes gmail.modify,gmail.send,gmail.settings.basic
	gmail-check --fix >/dev/null
}

# alice PATH [curl options]: the body of PATH fetched as alice.
alice() {
	local p=$1
	shift
	curl -s -u 'alice:s3cret pass' "$@" "$HS$p"
}

code() {
	curl -s -o /dev/null -w '%{http_code}' "$@"
}

# The CSRF token of the first form of a page.
csrf_of() {
	alice "$1" | grep -o 'name="csrf" value="[^"]*"' | head -1 |
	    sed 's/.*value="//; s/"$//'
}

# The text of the element with id $1 in the HTML on stdin.
dom_text() {
	python3 -c '
import sys, html.parser
want = sys.argv[1]
class P(html.parser.HTMLParser):
    def __init__(s):
        super().__init__(); s.depth = 0; s.out = []
    def handle_starttag(s, tag, attrs):
        if s.depth: s.depth += 1
        elif dict(attrs).get("id") == want: s.depth = 1
    def handle_endtag(s, tag):
        if s.depth: s.depth -= 1
    def handle_data(s, d):
        if s.depth: s.out.append(d)
p = P(); p.feed(sys.stdin.read()); print("".join(p.out).strip())
' "$1"
}

# The attributes of the element with id $1, as JSON.
dom_attrs() {
	python3 -c '
import sys, json, html.parser
want = sys.argv[1]
class P(html.parser.HTMLParser):
    found = None
    def handle_starttag(s, tag, attrs):
        if dict(attrs).get("id") == want and s.found is None:
            s.found = dict(attrs)
p = P(); p.feed(sys.stdin.read()); print(json.dumps(p.found))
' "$1"
}

jobruns() {
	receipt-store stats | jq .jobruns
}

# hold_lock: another run holds the driver's lock until the test ends.
hold_lock() {
	mkdir -p var/locks
	# The holder is the sleep itself: killing it frees the lock. It
	# waits for the lock, so the probe below cannot make it give up.
	(exec 8>>var/locks/collect_from_gmail.lock && flock 8 && exec sleep 600) 3>&- &
	LOCK_PID=$!
	local i=0
	while flock -n var/locks/collect_from_gmail.lock true; do
		i=$((i + 1))
		[ $i -lt 100 ] || return 1
		sleep 0.05
	done
}

# wait_launch: until the page no longer shows the launched run running.
wait_launch() {
	local i=0
	while alice /admin/receipts | grep -q 'data-state="running"'; do
		i=$((i + 1))
		[ $i -lt 600 ] || return 1
		sleep 0.1
	done
}

@test "usage: -h prints the synopsis of ops-httpd(8); bad options exit 2" {
	run ops-httpd -h
	assert_success
	assert_line --index 0 "usage: ops-httpd [-c file] [-o key=value] [-l addr:port]"
	assert_line --index 1 "       ops-httpd --hash-password [--iterations n]"
	run ops-httpd --version
	assert_success
	assert_output --regexp '^ops-httpd [0-9]+\.[0-9]+\.[0-9]+$'
	run ops-httpd -x
	assert_failure 2
	run ops-httpd extra
	assert_failure 2
	run ops-httpd --hash-password -l 127.0.0.1:0
	assert_failure 2
	run ops-httpd --iterations 5000
	assert_failure 2
	run ops-httpd --hash-password --iterations 10 </dev/null
	assert_failure 2
	man_synopsis=$(mandoc -Tascii "$TOP/man/ops-httpd.8" | col -b |
	    awk '/^SYNOPSIS/ { s = 1; next } /^[A-Z]/ { s = 0 } s' |
	    tr -s ' \t\n' '   ' | sed 's/^ *//; s/ *$//')
	usage=$(ops-httpd -h | sed 's/^usage: //' | tr -s ' \t\n' '   ' | sed 's/^ *//; s/ *$//')
	[ "$man_synopsis" = "$usage" ]
}

@test "refuses to start without a credential file, or with one others can read" {
	unset OPS_GMAIL_COLLECT_HTTPD_USERS_FILE OPS_GMAIL_COLLECT_HTTPD_TOKEN_FILE
	run ops-httpd -l 127.0.0.1:0
	assert_failure 78
	assert_output --partial "neither HTTPD_USERS_FILE nor HTTPD_TOKEN_FILE is set"
	chmod 640 etc/users
	run ops-httpd -l 127.0.0.1:0 -o HTTPD_USERS_FILE="$BASE/etc/users"
	assert_failure 78
	assert_output --partial "group or world can read it"
	chmod 604 etc/token
	run ops-httpd -l 127.0.0.1:0 -o HTTPD_TOKEN_FILE="$BASE/etc/token"
	assert_failure 78
	assert_output --partial "HTTPD_TOKEN_FILE"
	chmod 600 etc/users etc/token
	ln -s "$BASE/etc/token" etc/token-link
	run ops-httpd -l 127.0.0.1:0 -o HTTPD_TOKEN_FILE="$BASE/etc/token-link"
	assert_failure 78
	assert_output --partial "symbolic link"
	printf 'short\n' >etc/short
	chmod 600 etc/short
	run ops-httpd -l 127.0.0.1:0 -o HTTPD_TOKEN_FILE="$BASE/etc/short"
	assert_failure 78
	assert_output --partial "at least 16 characters"
	printf 'carol:plaintext\n' >etc/bad
	chmod 600 etc/bad
	run ops-httpd -l 127.0.0.1:0 -o HTTPD_USERS_FILE="$BASE/etc/bad"
	assert_failure 78
	assert_output --partial "etc/bad:1: expected name:pbkdf2_sha256"
	# Nothing of the secrets in what it says.
	refute_output --partial plaintext
}

@test "401 on every route without a credential, with a wrong one, or an unknown user" {
	hs_start
	for r in "GET /" "POST /" "POST /send-draft" "GET /admin/receipts" \
	    "POST /admin/receipts/collect" "GET /admin/logs/x.jsonl" \
	    "GET /drafts" "POST /drafts/send" "POST /drafts/reject" "GET /nowhere"; do
		set -- $r
		[ "$(code -X "$1" "$HS$2")" = 401 ]
		[ "$(code -X "$1" -u 'alice:wrong' "$HS$2")" = 401 ]
		[ "$(code -X "$1" -u 'mallory:s3cret pass' "$HS$2")" = 401 ]
		[ "$(code -X "$1" -H "Authorization: Bearer ${TOKEN}x" "$HS$2")" = 401 ]
		[ "$(code -X "$1" -H "Authorization: Bearer " "$HS$2")" = 401 ]
		[ "$(code -X "$1" -H "Authorization: Basic !!!" "$HS$2")" = 401 ]
	done
	run curl -s -D - -o /dev/null "$HS/admin/receipts"
	assert_output --partial 'WWW-Authenticate: Basic realm="gmail-ops", charset="UTF-8"'
	assert_output --partial 'WWW-Authenticate: Bearer realm="gmail-ops"'
	# Bob's hash has its own iteration count; both schemes let in.
	[ "$(code -u bob:hunter2 "$HS/admin/receipts")" = 200 ]
	[ "$(code -H "Authorization: Bearer $TOKEN" "$HS/admin/receipts")" = 200 ]
	[ "$(code -u 'alice:s3cret pass' "$HS/nowhere")" = 404 ]
	[ "$(code -X DELETE -u 'alice:s3cret pass' "$HS/admin/receipts")" = 405 ]
	run curl -s -o /dev/null -D - -u 'alice:s3cret pass' "$HS/"
	assert_output --partial "303"
	assert_output --partial "Location: /admin/receipts"
	# Only the token file: Basic is not offered.
	kill "$HS_PID"; wait "$HS_PID" || true; HS_PID=
	unset OPS_GMAIL_COLLECT_HTTPD_USERS_FILE
	hs_start
	[ "$(code -u 'alice:s3cret pass' "$HS/admin/receipts")" = 401 ]
	[ "$(code -H "Authorization: Bearer $TOKEN" "$HS/admin/receipts")" = 200 ]
	run curl -s -D - -o /dev/null "$HS/admin/receipts"
	refute_output --partial 'Basic realm'
}

@test "--hash-password reads standard input and makes a hash Python's hashlib verifies" {
	run ops-httpd --hash-password --iterations 2000 <<<"correct horse"
	assert_success
	h=$output
	[[ "$h" =~ ^pbkdf2_sha256\$2000\$[A-Za-z0-9]{22}\$[A-Za-z0-9+/]{43}=$ ]]
	python3 - "$h" <<'PY'
import base64, hashlib, sys
_, it, salt, b64 = sys.argv[1].split("$")
dk = hashlib.pbkdf2_hmac("sha256", b"correct horse", salt.encode(), int(it))
assert base64.b64encode(dk).decode() == b64
PY
	# Salted: the same password twice gives two hashes.
	[ "$(ops-httpd --hash-password --iterations 2000 <<<"correct horse")" != "$h" ]
	printf 'dave:%s\n' "$h" >etc/users
	hs_start
	[ "$(code -u 'dave:correct horse' "$HS/admin/receipts")" = 200 ]
	[ "$(code -u 'dave:correct horsE' "$HS/admin/receipts")" = 401 ]
	run ops-httpd --hash-password </dev/null
	assert_failure 65
}

@test "admin page: counters and the Collecte Gmail card with '—' before any run" {
	hs_start
	run alice /admin/receipts
	assert_success
	assert_output --partial '<h2>Collecte Gmail</h2>'
	assert_output --partial 'name="viewport"'
	refute_output --partial '<script'
	[ "$(dom_text count-receipts <<<"$output")" = "0reçus" ]
	for f in run-date run-status run-duration run-emails_scanned run-downloaded \
	    run-created run-duplicates_skipped run-quarantined run-errors_count estimate; do
		[ "$(dom_text $f <<<"$output")" = "—" ]
	done
	[ "$(dom_attrs launch-button <<<"$output" | jq -r 'has("disabled")')" = false ]
	[ "$(dom_attrs dry-run <<<"$output" | jq -r 'has("checked")')" = true ]
	[ "$(dom_attrs max <<<"$output" | jq -r .value)" = 200 ]
	run curl -s -D - -o /dev/null -u 'alice:s3cret pass' "$HS/admin/receipts"
	assert_output --partial "Content-Security-Policy: default-src 'none'"
	assert_output --partial "X-Frame-Options: DENY"
	assert_output --partial "Cache-Control: no-store"
}

@test "launch from the page: a dry run then a real one; the summary and its log link; the card shows the last run" {
	with_google
	hs_start
	[ "$(fake_count gmail.users.messages.list)" = 0 ]
	page=$(alice /admin/receipts)
	# The estimate of matching unread mails, asked once and cached.
	[ "$(dom_text estimate <<<"$page")" = 5 ]
	alice /admin/receipts >/dev/null
	[ "$(fake_count gmail.users.messages.list)" = 1 ]
	tok=$(csrf_of /admin/receipts)
	run curl -s -D - -o /dev/null -u 'alice:s3cret pass' \
	    --data-urlencode "csrf=$tok" -d dry_run=1 -d max=50 "$HS/admin/receipts/collect"
	assert_output --partial "303 See Other"
	assert_output --partial "Location: /admin/receipts"
	wait_launch
	page=$(alice /admin/receipts)
	[ "$(dom_attrs launch <<<"$page" | jq -r '."data-status"')" = 0 ]
	[[ "$(dom_text launch <<<"$page")" == *"success"*"2 reçus créés"* ]]
	[ "$(receipt-store jobs --last | jq -r .dry_run)" = true ]
	[ "$(receipt-store stats | jq .receipts)" = 0 ]
	# The real run (the dry run of this configuration is done).
	tok=$(csrf_of /admin/receipts)
	[ "$(code -u 'alice:s3cret pass' --data-urlencode "csrf=$tok" -d max=50 "$HS/admin/receipts/collect")" = 303 ]
	wait_launch
	page=$(alice /admin/receipts)
	last=$(receipt-store jobs --last)
	[ "$(jq -r .dry_run <<<"$last")" = false ]
	[ "$(dom_text run-created <<<"$page")" = "$(jq -r .created <<<"$last")" ]
	[ "$(dom_text run-created <<<"$page")" = 2 ]
	[ "$(dom_text run-quarantined <<<"$page")" = "$(jq -r .quarantined <<<"$last")" ]
	[ "$(dom_text run-emails_scanned <<<"$page")" = "$(jq -r .emails_scanned <<<"$last")" ]
	[ "$(dom_text run-status <<<"$page")" = success ]
	[ "$(dom_text count-receipts <<<"$page")" = "$(receipt-store stats | jq .receipts)reçus" ]
	[ "$(dom_text count-ingested <<<"$page")" = "2importés" ]
	# Today's log, read-only, from the link.
	href=$(dom_attrs launch-log <<<"$page" | jq -r .href)
	[ "$href" = "/admin/logs/$(basename "$(jq -r .log_path <<<"$last")")" ]
	run curl -s -D - -u 'alice:s3cret pass' "$HS$href"
	assert_output --partial "Content-Type: text/plain; charset=utf-8"
	assert_output --partial '"event":"run_start"'
	[ "$(code -X POST -u 'alice:s3cret pass' "$HS$href")" = 405 ]
	[ "$(code -X PUT -u 'alice:s3cret pass' -d x "$HS$href")" = 405 ]
}

@test "a failing launch shows the driver's reason" {
	export OPS_GMAIL_COLLECT_ENABLED=true
	hs_start
	tok=$(csrf_of /admin/receipts)
	# A real run of a configuration never dry-run: the driver refuses.
	[ "$(code -u 'alice:s3cret pass' --data-urlencode "csrf=$tok" -d max=3 "$HS/admin/receipts/collect")" = 303 ]
	wait_launch
	page=$(alice /admin/receipts)
	[ "$(dom_attrs launch <<<"$page" | jq -r '."data-status"')" = 78 ]
	[[ "$(dom_text launch <<<"$page")" == *"never completed a dry run"* ]]
	# A bad max is refused before anything starts.
	tok=$(csrf_of /admin/receipts)
	for m in 0 -1 x 1000001 '1 2'; do
		[ "$(code -u 'alice:s3cret pass' --data-urlencode "csrf=$tok" --data-urlencode "max=$m" "$HS/admin/receipts/collect")" = 400 ]
	done
}

@test "CSRF: a missing, forged, stale, other user's token or a foreign Origin is refused, nothing starts" {
	with_google
	hs_start
	before=$(jobruns)
	good=$(csrf_of /admin/receipts)
	ts=${good%%.*}
	mac=${good#*.}
	forged="$ts.$(printf '%064d' 0)"
	stale="$((ts - 9 * 3600)).$mac"
	bobs=$(curl -s -u bob:hunter2 "$HS/admin/receipts" | grep -o 'name="csrf" value="[^"]*"' | head -1 | sed 's/.*value="//; s/"$//')
	for t in "" "$forged" "$stale" "$bobs" "garbage" "$ts.$mac$mac"; do
		run curl -s -w '\n%{http_code}' -u 'alice:s3cret pass' \
		    --data-urlencode "csrf=$t" -d dry_run=1 "$HS/admin/receipts/collect"
		[ "${lines[-1]}" = 403 ]
		[[ "$output" == *"Jeton CSRF"* ]]
	done
	[ "$(code -u 'alice:s3cret pass' -d dry_run=1 "$HS/admin/receipts/collect")" = 403 ]
	[ "$(code -u 'alice:s3cret pass' -H 'Origin: http://evil.example' --data-urlencode "csrf=$good" -d dry_run=1 "$HS/admin/receipts/collect")" = 403 ]
	sleep 1
	[ "$(jobruns)" = "$before" ]
	[ ! -e var/run/ops-httpd/launch.json ]
	# The same token from the right origin works.
	[ "$(code -u 'alice:s3cret pass' -H "Origin: $HS" --data-urlencode "csrf=$good" -d dry_run=1 "$HS/admin/receipts/collect")" = 303 ]
	wait_launch
	[ "$(jobruns)" = "$((before + 1))" ]
}

@test "while a run holds the lock: the button is disabled and the POST is refused" {
	with_google
	hs_start
	tok=$(csrf_of /admin/receipts)
	hold_lock
	page=$(alice /admin/receipts)
	[ "$(dom_attrs launch-button <<<"$page" | jq -r 'has("disabled")')" = true ]
	[ "$(dom_attrs collect-card <<<"$page" | jq -r '."data-locked"')" = true ]
	[[ "$(dom_text lock-state <<<"$page")" == *"verrou pris"* ]]
	before=$(jobruns)
	run curl -s -w '\n%{http_code}' -u 'alice:s3cret pass' --data-urlencode "csrf=$tok" -d dry_run=1 "$HS/admin/receipts/collect"
	[ "${lines[-1]}" = 409 ]
	[ "$(jobruns)" = "$before" ]
	[ "$(fake_count gmail.users.messages.list)" = 1 ]	# the estimate only
	# Looking at the lock never took it: the holder is still alone.
	! flock -n var/locks/collect_from_gmail.lock true
	kill "$LOCK_PID"; wait "$LOCK_PID" || true; LOCK_PID=
	page=$(alice /admin/receipts)
	[ "$(dom_attrs launch-button <<<"$page" | jq -r 'has("disabled")')" = false ]
	# The run started here shows as in progress and disables the button
	# until it ends (a slow Gmail keeps it running).
	fake_ctl POST config '{"latency_ms": 1500, "latency_match": "^gmail\\.users\\.messages\\.list"}' >/dev/null
	[ "$(code -u 'alice:s3cret pass' --data-urlencode "csrf=$tok" -d dry_run=1 "$HS/admin/receipts/collect")" = 303 ]
	page=$(alice /admin/receipts)
	[ "$(dom_attrs launch <<<"$page" | jq -r '."data-state"')" = running ]
	[ "$(dom_attrs launch-button <<<"$page" | jq -r 'has("disabled")')" = true ]
	[[ "$page" == *'http-equiv="refresh"'* ]]
	[ "$(code -u 'alice:s3cret pass' --data-urlencode "csrf=$tok" -d dry_run=1 "$HS/admin/receipts/collect")" = 409 ]
	wait_launch
	[ "$(jobruns)" = "$((before + 1))" ]
	page=$(alice /admin/receipts)
	[ "$(dom_attrs launch-button <<<"$page" | jq -r 'has("disabled")')" = false ]
}

@test "logs: only files in var/logs/ops; traversal, symlinks and other names are refused" {
	hs_start
	mkdir -p var/logs/ops var/logs/other
	printf '{"event":"x"}\n' >var/logs/ops/collect_from_gmail-2026-11-21.jsonl
	printf 'secret\n' >var/logs/other/private.jsonl
	printf 'secret\n' >var/secret.txt
	ln -s ../../secret.txt var/logs/ops/link.jsonl
	mkdir var/logs/ops/sub.jsonl
	[ "$(code -u 'alice:s3cret pass' "$HS/admin/logs/collect_from_gmail-2026-11-21.jsonl")" = 200 ]
	for p in "../other/private.jsonl" "..%2fother%2fprivate.jsonl" "..%2F..%2Fsecret.txt" \
	    "%2e%2e/%2e%2e/secret.txt" "link.jsonl" "sub.jsonl" ".." "." "" \
	    "..%252fsecret.txt" "collect_from_gmail-2026-11-21.jsonl%00.txt" \
	    "/etc/passwd" "%2fetc%2fpasswd" ".hidden"; do
		run curl -s --path-as-is -w '\n%{http_code}' -u 'alice:s3cret pass' "$HS/admin/logs/$p"
		[ "${lines[-1]}" = 404 ]
		refute_output --partial secret
		refute_output --partial root:
	done
	run curl -s --path-as-is -u 'alice:s3cret pass' "$HS/admin/../secret.txt"
	refute_output --partial secret
}

@test "the JSON API: POST / and POST /send-draft answer exactly as mail-send" {
	with_google
	hs_start
	req='{"to":"client@example.com","subject":"Hello","message":"Ceci est un message","mode":"draft"}'
	run curl -s -w '\n%{http_code}' -u 'alice:s3cret pass' -H 'Content-Type: application/json' --data "$req" "$HS/"
	[ "${lines[-1]}" = 200 ]
	a=${lines[0]}
	[ "$(jq -r .status <<<"$a")" = ok ]
	[ "$(jq -r .mode <<<"$a")" = draft ]
	[ "$(jq -c 'keys' <<<"$a")" = "$(mail-send <<<"$req" | jq -c keys)" ]
	id=$(jq -r .draft_id <<<"$a")
	[ "$(mail-send --list | jq -r "select(.draft_id == \"$id\") | .status")" = pending ]
	# Pretty-printed JSON is one request all the same.
	[ "$(printf '{\n "to": "x@example.com",\n "subject": "S",\n "message": "M"\n}' |
	    curl -s -u 'alice:s3cret pass' -H 'Content-Type: application/json' --data-binary @- "$HS/" | jq -r .status)" = ok ]
	# Send it, with the bearer token this time.
	run curl -s -w '\n%{http_code}' -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
	    --data "{\"draft_id\":\"$id\"}" "$HS/send-draft"
	[ "${lines[-1]}" = 200 ]
	[ "$(jq -r .status <<<"${lines[0]}")" = ok ]
	[ -n "$(jq -r .message_id <<<"${lines[0]}")" ]
	[ "$(fake_count gmail.users.messages.send)" = 1 ]
	# Sent once: again is refused, and nothing more is sent.
	run curl -s -w '\n%{http_code}' -u 'alice:s3cret pass' -H 'Content-Type: application/json' \
	    --data "{\"draft_id\":\"$id\"}" "$HS/send-draft"
	[ "${lines[-1]}" = 422 ]
	[ "$(jq -r .status <<<"${lines[0]}")" = error ]
	[[ "$(jq -r .error <<<"${lines[0]}")" == *"not pending"* ]]
	[ "$(fake_count gmail.users.messages.send)" = 1 ]
	# mode send: sent at once.
	run curl -s -w '\n%{http_code}' -u 'alice:s3cret pass' -H 'Content-Type: application/json' \
	    --data '{"to":"client@example.com","subject":"Direct","message":"Now","mode":"send"}' "$HS/"
	[ "${lines[-1]}" = 200 ]
	[ "$(jq -r .mode <<<"${lines[0]}")" = send ]
	[ "$(fake_count gmail.users.messages.send)" = 2 ]
}

@test "the JSON API refuses what is not a JSON request, and header injection as mail-send does" {
	with_google
	hs_start
	J=(-u 'alice:s3cret pass' -H 'Content-Type: application/json')
	run curl -s -w '\n%{http_code}' -u 'alice:s3cret pass' -H 'Content-Type: text/plain' --data '{"to":"a@example.com"}' "$HS/"
	[ "${lines[-1]}" = 415 ]
	# A cross-site form's content types.
	[ "$(code -u 'alice:s3cret pass' -d 'to=a@example.com' "$HS/")" = 415 ]
	[ "$(code -u 'alice:s3cret pass' -H 'Content-Type: application/jsonx' --data '{}' "$HS/")" = 415 ]
	for body in 'nope' '[1,2]' '"s"' '{"to":'; do
		run curl -s -w '\n%{http_code}' "${J[@]}" --data "$body" "$HS/"
		[ "${lines[-1]}" = 400 ]
		[ "$(jq -r .status <<<"${lines[0]}")" = error ]
	done
	[ "$(code "${J[@]}" -X POST "$HS/")" = 400 ]
	[ "$(code "${J[@]}" --data '{"draft_id":"x"}' "$HS/")" = 400 ]
	[ "$(code "${J[@]}" --data '{"to":"a@example.com"}' "$HS/send-draft")" = 400 ]
	[ "$(code "${J[@]}" "$HS/send-draft")" = 405 ]
	req='{"to":"a@example.com","subject":"Hi\r\nBcc: evil@example.com","message":"m","mode":"send"}'
	run curl -s -w '\n%{http_code}' "${J[@]}" --data "$req" "$HS/"
	[ "${lines[-1]}" = 422 ]
	[ "${lines[0]}" = "$(mail-send <<<"$req" 2>/dev/null)" ]
	[ "$(fake_count gmail.users.messages.send)" = 0 ]
	# Over the cap: refused before it is read.
	[ "$(head -c 42000000 /dev/zero | code "${J[@]}" --data-binary @- "$HS/")" = 413 ]
}

@test "drafts: the review page lists them; Send and Reject from it need the CSRF token" {
	with_google
	hs_start
	d1=$(mail-send --to a@example.com --subject 'Facture <mars>' --message 'Bonjour & merci' | jq -r .draft_id)
	d2=$(mail-send --to b@example.com --subject 'Relance' --message 'Rappel' | jq -r .draft_id)
	page=$(alice /drafts)
	[[ "$(dom_text "draft-$d1" <<<"$page")" == *"Facture <mars>"*"Bonjour & merci"*pending* ]]
	[[ "$page" == *"Facture &lt;mars&gt;"* ]]
	[ "$(alice '/drafts?format=json' | jq -s length)" = 2 ]
	[ "$(alice /drafts -H 'Accept: application/json' | jq -r .draft_id | sort)" = "$(printf '%s\n' "$d1" "$d2" | sort)" ]
	[ "$(code -u 'alice:s3cret pass' "$HS/drafts?status=BAD")" = 400 ]
	tok=$(csrf_of /drafts)
	sha=$(mail-send --list | jq -r "select(.draft_id == \"$d1\") | .sha256")
	# Without the token: nothing sent.
	[ "$(code -u 'alice:s3cret pass' -d "draft_id=$d1" -d "sha256=$sha" "$HS/drafts/send")" = 403 ]
	[ "$(fake_count gmail.users.messages.send)" = 0 ]
	# A hash of other content (the draft changed after review): refused.
	run curl -s -w '\n%{http_code}' -u 'alice:s3cret pass' --data-urlencode "csrf=$tok" -d "draft_id=$d1" -d "sha256=$(printf '%064d' 1)" "$HS/drafts/send"
	[ "${lines[-1]}" = 409 ]
	[ "$(fake_count gmail.users.messages.send)" = 0 ]
	run curl -s -w '\n%{http_code}' -u 'alice:s3cret pass' --data-urlencode "csrf=$tok" -d "draft_id=$d1" -d "sha256=$sha" "$HS/drafts/send"
	[ "${lines[-1]}" = 200 ]
	[[ "$output" == *"envoyé"* ]]
	[ "$(fake_count gmail.users.messages.send)" = 1 ]
	run curl -s -w '\n%{http_code}' -u 'alice:s3cret pass' --data-urlencode "csrf=$tok" -d "draft_id=$d2" "$HS/drafts/reject"
	[ "${lines[-1]}" = 200 ]
	[ "$(mail-send --list --status rejected | jq -r .draft_id)" = "$d2" ]
	page=$(alice '/drafts?status=pending')
	[ "$(dom_text no-drafts <<<"$page")" = "Aucun brouillon." ]
	[ "$(code -u 'alice:s3cret pass' "$HS/drafts/send")" = 405 ]
}

@test "headless Chromium: the card with the last run, and the button disabled while locked (screenshot kept)" {
	command -v chromium >/dev/null || skip "chromium is not installed (scripts/install-deps installs it)"
	with_google
	hs_start
	collect-from-gmail --dry-run >/dev/null
	collect-from-gmail >/dev/null
	last=$(receipt-store jobs --last)
	hold_lock
	mkdir -p "$ARTIFACTS"
	chrome=(chromium --headless --no-sandbox --disable-gpu --disable-dev-shm-usage
	    --disable-background-networking --disable-extensions --no-first-run
	    --disable-sync --hide-scrollbars --user-data-dir="$BATS_TEST_TMPDIR/chromium")
	url="http://alice:s3cret%20pass@$HS_ADDR/admin/receipts"
	timeout 120 "${chrome[@]}" --dump-dom "$url" >"$BATS_TEST_TMPDIR/dom.html" 2>"$BATS_TEST_TMPDIR/chromium.err"
	dom=$(cat "$BATS_TEST_TMPDIR/dom.html")
	[[ "$(dom_text collect-card <<<"$dom")" == "Collecte Gmail"* ]]
	[ "$(dom_text run-created <<<"$dom")" = "$(jq -r .created <<<"$last")" ]
	[ "$(dom_text run-emails_scanned <<<"$dom")" = "$(jq -r .emails_scanned <<<"$last")" ]
	[ "$(dom_text run-status <<<"$dom")" = success ]
	[ "$(dom_attrs launch-button <<<"$dom" | jq -r 'has("disabled")')" = true ]
	rm -f "$ARTIFACTS/ops-httpd-admin.png"
	timeout 120 "${chrome[@]}" --window-size=412,1400 \
	    --screenshot="$ARTIFACTS/ops-httpd-admin.png" "$url" 2>>"$BATS_TEST_TMPDIR/chromium.err"
	[ "$(head -c 8 "$ARTIFACTS/ops-httpd-admin.png" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ]
	[ "$(stat -c %s "$ARTIFACTS/ops-httpd-admin.png")" -gt 10000 ]
	# The page it rendered was the authenticated one.
	[ "$(fake_count gmail.users.messages.list)" -ge 1 ]
}

@test "a clean stop on SIGTERM and SIGINT" {
	hs_start
	kill -TERM "$HS_PID"
	wait "$HS_PID"
	HS_PID=
	[ "$(tail -1 "$HS_OUT" | jq -r .status)" = stopped ]
	hs_start
	kill -INT "$HS_PID"
	wait "$HS_PID"
	HS_PID=
	[ "$(tail -1 "$HS_OUT" | jq -r .signal)" = INT ]
}
