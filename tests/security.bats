#!/usr/bin/env bats
# Security of the collection job, end to end through collect-from-gmail.
# Covered elsewhere, not repeated here:
#   auth.bats      secrets not in gmail-api's stderr or debug log; a
#                  group-readable token.json refused by gmail-auth;
#                  token.json 0600 after login and after a refresh
#   gmail-check.bats  token or client secret readable by others, a token
#                  that is a symlink, an open credentials directory, a
#                  symlinked var/incoming: each a FAIL
#   receipt-store.bats  a date directory planted as a symlink (ingest)
#   log.bats       a log file planted as a symlink
#   http.bats      a bearer token over plain http to another host (gmail-api)
#   collect.bats   the lock against a flock holder (75), the event log
#                  without token or subject
#   tls.bats       an https server with an unknown CA

load helpers
bats_require_minimum_version 1.5.0

setup_file() {
	python3 "$BATS_TEST_DIRNAME/robust/gen-mailbox.py" "$BATS_FILE_TMPDIR/mailbox" 30
}

setup() {
	setup_base
	export PATH="$TOP/scripts:$PATH"
	export OPS_GMAIL_COLLECT_ENABLED=true
	export OPS_GMAIL_COLLECT_ALLOWED_SENDERS="billing@shop.example,@cafe.example,@rail.example"
	export OPS_GMAIL_COLLECT_APPLY_LABELS=true
	export OPS_GMAIL_COLLECT_QUOTA_REGIME=legacy
	fake_start --mailbox "$BATS_FILE_TMPDIR/mailbox" --quota-regime legacy
	login_user
	gmail-check --fix >/dev/null
	PIDS=()
}

teardown() {
	local p
	for p in "${PIDS[@]}"; do
		kill "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	fake_stop
}

# The secrets of this login and every access token the fake saw, one per
# line in a file: grep -F -f reads them from there, never from its argv.
secrets() {
	{
		jq -r '.token, .refresh_token, .client_secret' "$CREDS/token.json"
		jq -r '.installed.client_secret' "$CREDS/client_secret.json"
		jq -r '.headers.authorization // empty | sub("^Bearer "; "")' "$FAKE_LOG"
		jq -r 'select(.endpoint == "oauth.token") | .body' "$FAKE_LOG" |
		    tr '&' '\n' | sed -n 's/^\(refresh_token\|client_secret\|code\|code_verifier\)=//p'
	} | grep -v -e '^null$' -e '^$' | sort -u >"$BATS_TEST_TMPDIR/secrets"
	[ "$(wc -l <"$BATS_TEST_TMPDIR/secrets")" -ge 4 ]
}

# leaks FILE...: the lines of the files that hold a secret.
leaks() {
	grep -a -F -f "$BATS_TEST_TMPDIR/secrets" "$@" || true
}

@test "a run leaks no secret: argv and environment of every process, stderr, the logs, the store" {
	fake_ctl POST config '{"latency_ms": 40, "jitter_ms": 20}' >/dev/null
	expire_token_file			# a refresh at the start
	: >"$BATS_TEST_TMPDIR/argv"
	: >"$BATS_TEST_TMPDIR/environ"
	GMAIL_OPS_DEBUG=1 collect-from-gmail --force --json \
	    >"$BATS_TEST_TMPDIR/out" 2>"$BATS_TEST_TMPDIR/err" &
	driver=$!
	PIDS+=("$driver")
	(sleep 0.6; fake_ctl POST expire-tokens) >/dev/null &	# and mid-run
	expirer=$!
	PIDS+=("$expirer")
	samples=0
	while kill -0 "$driver" 2>/dev/null; do
		# every process's arguments, one a line, as ps shows them to
		# anyone on the machine; their environments every fifth time
		cat /proc/[0-9]*/cmdline 2>/dev/null | tr '\0' '\n' \
		    >>"$BATS_TEST_TMPDIR/argv"
		[ $((samples % 5)) != 0 ] || cat /proc/[0-9]*/environ 2>/dev/null |
		    tr '\0' '\n' >>"$BATS_TEST_TMPDIR/environ"
		samples=$((samples + 1))
		sleep 0.01
	done
	wait "$driver"
	wait "$expirer"
	PIDS=()
	[ "$(jq -r .status "$BATS_TEST_TMPDIR/out")" = success ]
	secrets
	# the sampling saw the pipeline at work, and tokens were refreshed
	grep -qx 'gmail-fetch' "$BATS_TEST_TMPDIR/argv"
	grep -qx 'ingest' "$BATS_TEST_TMPDIR/argv"
	[ "$(fake_count oauth.token)" -ge 3 ]	# login, start, mid-run
	grep -q 'http: GET /gmail/v1/users/me/messages' "$BATS_TEST_TMPDIR/err"
	echo "# $samples samples of /proc; $(wc -l <"$BATS_TEST_TMPDIR/secrets") secrets looked for" >&3
	[ -z "$(leaks "$BATS_TEST_TMPDIR/argv" "$BATS_TEST_TMPDIR/environ")" ]
	[ -z "$(leaks "$BATS_TEST_TMPDIR/out" "$BATS_TEST_TMPDIR/err")" ]
	[ -z "$(leaks -r var/logs)" ]
	[ -z "$(leaks -r --exclude-dir=credentials var)" ]
	[ -z "$(receipt-store jobs | leaks -)" ]
	# Google's side may hold them: the check itself finds them there
	[ -n "$(leaks "$FAKE_LOG")" ]
}

@test "failing runs leak no secret in their messages: refused refresh, wrong client secret, plain-http token URI" {
	secrets
	expire_token_file
	fake_ctl POST revoke-refresh >/dev/null
	GMAIL_OPS_DEBUG=1 run --separate-stderr collect-from-gmail --force
	assert_failure 77
	[[ "$stderr" == *invalid_grant* ]]
	[ -z "$(leaks - <<<"$stderr$output")" ]
	# a client secret Google refuses
	login_user
	secrets
	jq -c '.client_secret = "wrong-secret"' "$CREDS/token.json" >"$CREDS/t"
	chmod 600 "$CREDS/t"
	mv "$CREDS/t" "$CREDS/token.json"
	echo wrong-secret >>"$BATS_TEST_TMPDIR/secrets"
	expire_token_file
	GMAIL_OPS_DEBUG=1 run --separate-stderr collect-from-gmail --force
	assert_failure 77
	[[ "$stderr" == *invalid_client* ]]
	[ -z "$(leaks - <<<"$stderr$output")" ]
	[ -z "$(leaks -r var/logs)" ]
	# a token URI over plain http to another host: nothing is sent
	jq -c '.client_secret = "test-secret" | .token_uri = "http://oauth.example.invalid/token"' \
	    "$CREDS/token.json" >"$CREDS/t"
	chmod 600 "$CREDS/t"
	mv "$CREDS/t" "$CREDS/token.json"
	run --separate-stderr collect-from-gmail --force
	assert_failure 78
	[[ "$stderr" == *"refusing plain http to oauth.example.invalid"* ]]
	[ -z "$(leaks - <<<"$stderr$output")" ]
}

@test "token files are 0600 whatever the umask; a group- or world-readable one stops the run before any request" {
	rm "$CREDS/token.json"
	(umask 000 && login_user)
	[ "$(stat -c %a "$CREDS/token.json")" = 600 ]
	[ "$(stat -c %a "$CREDS")" = 700 ]
	expire_token_file
	(umask 000 && gmail-auth token >/dev/null)
	[ "$(stat -c %a "$CREDS/token.json")" = 600 ]
	for mode in 604 640 644; do
		chmod "$mode" "$CREDS/token.json"
		: >"$FAKE_LOG"
		run --separate-stderr collect-from-gmail --force
		assert_failure 77
		[[ "$stderr" == *"$CREDS/token.json"*"group or world can read it (chmod 600)"* ]]
		[ ! -s "$FAKE_LOG" ]	# no request at all: no token left the file
	done
	chmod 600 "$CREDS/token.json"
	run collect-from-gmail --force
	assert_success
}

# plant LINK TARGET: a symbolic link under var/ to a canary directory (or
# a file in it) outside var/.
plant() {
	OUT="$BATS_TEST_TMPDIR/outside"
	rm -rf "$OUT"
	mkdir -p "$OUT/collect_from_gmail"
	echo canary >"$OUT/collect_from_gmail/keep"
	echo canary >"$OUT/file"
	rm -rf "var/$1"
	mkdir -p "$(dirname "var/$1")"
	ln -s "$OUT${2:+/$2}" "var/$1"
	(cd "$OUT" && find . -printf '%p %s %T@\n' | sort) >"$BATS_TEST_TMPDIR/canary"
}

untouched() {
	diff <(cd "$OUT" && find . -printf '%p %s %T@\n' | sort) "$BATS_TEST_TMPDIR/canary"
}

@test "symbolic links planted in var/ are not followed, and the error names them" {
	day=$(date -u +%F)
	# a storage date directory: that message fails, the others go on
	for link in incoming/2026-11-12 quarantine/2026-11-08; do
		fake_ctl POST reset >/dev/null
		login_user
		rm -rf var/db var/incoming var/quarantine var/logs
		plant "$link"
		run --separate-stderr collect-from-gmail --force --json
		assert_failure 1
		[ "$(jq -r .status <<<"$output")" = partial ]
		[[ "$stderr" == *"${link}: a symbolic link, refused"* ]]
		untouched
		[ "$(jq -r .created <<<"$output")" -ge 20 ]
		run receipt-store verify
		assert_output --partial "$link"
	done
	# the driver's own paths, the log and the database: nothing done
	for spec in spool: locks: locks/collect_from_gmail.lock:newlock logs: \
	    logs/ops: "logs/ops/collect_from_gmail-$day.jsonl:file" db:; do
		link=${spec%%:*}
		fake_ctl POST reset >/dev/null
		login_user
		rm -rf var/db var/incoming var/quarantine var/logs var/spool var/locks
		plant "$link" "${spec#*:}"
		: >"$FAKE_LOG"
		run --separate-stderr collect-from-gmail --force
		echo "# var/$link: exit $status: $(tr "\n" " " <<<"$stderr")" >&3
		assert_failure 74
		[[ "$stderr" == *"$BASE/var/$link: "*"symbolic link"* ]]
		untouched
		[ "$(fake_count gmail.users.messages.get)" = 0 ]
		[ -z "$(find var/incoming var/quarantine -type f 2>/dev/null)" ]
	done
}

@test "a bearer token over plain http to a host not loopback is refused, and nothing reaches it" {
	host=$(hostname -I 2>/dev/null | tr ' ' '\n' | grep -v '^127\.' | grep -m1 '^[0-9.]*$' || true)
	[ -n "$host" ] || skip "no address but loopback to listen on"
	# a listener on that address: it must get no byte
	python3 -c '
import socket, sys
s = socket.socket(); s.bind((sys.argv[1], 0)); s.listen(8)
print(s.getsockname()[1], flush=True)
with open(sys.argv[2], "ab") as log:
    while True:
        c, _ = s.accept()
        log.write(c.recv(65536) or b"(connect)\n"); log.flush(); c.close()
' "$host" "$BATS_TEST_TMPDIR/heard" >"$BATS_TEST_TMPDIR/port" &
	PIDS+=("$!")
	while [ ! -s "$BATS_TEST_TMPDIR/port" ]; do sleep 0.05; done
	: >"$BATS_TEST_TMPDIR/heard"
	url="http://$host:$(cat "$BATS_TEST_TMPDIR/port")"
	GMAIL_API_URL=$url run --separate-stderr collect-from-gmail --force
	assert_failure 78
	[[ "$stderr" == *"refusing to send a bearer token over plain http to $host (https, or a loopback host)"* ]]
	expire_token_file
	jq -c --arg u "$url/token" '.token_uri = $u' "$CREDS/token.json" >"$CREDS/t"
	chmod 600 "$CREDS/t"
	mv "$CREDS/t" "$CREDS/token.json"
	run --separate-stderr collect-from-gmail --force
	assert_failure 78
	[[ "$stderr" == *"refusing plain http to $host"* ]]
	sleep 0.2
	[ ! -s "$BATS_TEST_TMPDIR/heard" ]
}

@test "two drivers at once: the second exits 75 at once, the first runs to the end" {
	fake_ctl POST config '{"latency_ms": 60}' >/dev/null
	collect-from-gmail --force --json >"$BATS_TEST_TMPDIR/first" 2>&1 &
	first=$!
	PIDS+=("$first")
	# the first holds the lock once its JobRun is open
	for _ in $(seq 100); do
		[ -z "$(receipt-store jobs --last 2>/dev/null)" ] || break
		sleep 0.05
	done
	[ "$(receipt-store jobs --last | jq -r .status)" = running ]
	start=$(date +%s%N)
	run --separate-stderr collect-from-gmail --force --json
	took=$((($(date +%s%N) - start) / 1000000))
	assert_failure 75
	[ "$stderr" = "collect-from-gmail: a run is in progress (lock $BASE/var/locks/collect_from_gmail.lock held)" ]
	[ -z "$output" ]
	[ "$took" -lt 3000 ]
	kill -0 "$first"			# still going when refused
	wait "$first"
	PIDS=()
	[ "$(jq -r .status "$BATS_TEST_TMPDIR/first")" = success ]
	[ "$(receipt-store jobs | wc -l)" = 1 ]	# the second opened none
	run receipt-store verify
	assert_success
	[ "$(receipt-store list | jq -r .sha256 | sort | uniq -d | wc -l)" = 0 ]
}
