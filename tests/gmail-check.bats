#!/usr/bin/env bats
# gmail-check: one line per check, ok or FAIL: why; exit 1 on any FAIL.

load helpers

setup() {
	setup_base
	FAKE=http://127.0.0.1:9
}

# A complete, coherent set-up: directories, secrets, parameters.
good_setup() {
	gmail-check --fix >/dev/null || true
	make_client_secret
	cat >"$CREDS/token.json" <<'JSON'
{"token":"ya29.x","refresh_token":"1//r","token_uri":"http://127.0.0.1:9/token","client_id":"c","client_secret":"s","scopes":["https://www.googleapis.com/auth/gmail.modify"],"expiry":"2030-01-01T00:00:00.000000Z"}
JSON
	chmod 600 "$CREDS/token.json"
	export OPS_GMAIL_COLLECT_ENABLED=true
	export OPS_GMAIL_COLLECT_ALLOWED_SENDERS=billing@shop.example
	export OPS_GMAIL_COLLECT_APPLY_LABELS=true
}

@test "a fresh base directory: every directory FAILs, exit 1" {
	run gmail-check
	assert_failure 1
	assert_line "incoming directory $BASE/var/incoming: FAIL: No such file or directory (gmail-check --fix creates it)"
	assert_line --partial "quarantine directory $BASE/var/quarantine: FAIL: No such file"
	assert_line --partial "logs directory $BASE/var/logs/ops: FAIL: No such file"
	assert_line --partial "locks directory $BASE/var/locks: FAIL: No such file"
	assert_line --partial "credentials directory $BASE/var/credentials/gmail: FAIL: No such file"
	assert_line "base directory $BASE: ok"
}

@test "--fix creates the directories, credentials 0700; then all ok" {
	run gmail-check --fix
	assert_success
	refute_output --partial FAIL
	[ "$(stat -c %a "$CREDS")" = 700 ]
	[ -d var/incoming ] && [ -d var/quarantine ] && [ -d var/logs/ops ] && [ -d var/locks ]
	run gmail-check
	assert_success
}

@test "a complete set-up passes every check" {
	good_setup
	run gmail-check
	assert_success
	refute_output --partial FAIL
	assert_line "client secret $CREDS/client_secret.json: ok"
	assert_line "token $CREDS/token.json: ok"
	assert_line "granted scopes: ok"
}

@test "ENABLED without client_secret.json and token.json FAILs" {
	gmail-check --fix >/dev/null
	OPS_GMAIL_COLLECT_ENABLED=true OPS_GMAIL_COLLECT_ALLOWED_SENDERS=a@b.example run gmail-check
	assert_failure 1
	assert_line --partial "client secret $CREDS/client_secret.json: FAIL: missing"
	assert_line "token $CREDS/token.json: FAIL: missing (run gmail-auth login)"
}

@test "a group- or world-readable token file FAILs" {
	good_setup
	chmod 644 "$CREDS/token.json"
	run gmail-check
	assert_failure 1
	assert_line "token $CREDS/token.json: FAIL: group or world can read it (chmod 600)"
	chmod 640 "$CREDS/client_secret.json"
	run gmail-check
	assert_line "client secret $CREDS/client_secret.json: FAIL: group or world can read it (chmod 600)"
}

@test "a token file that is a symlink FAILs" {
	good_setup
	mv "$CREDS/token.json" "$BATS_TEST_TMPDIR/elsewhere.json"
	ln -s "$BATS_TEST_TMPDIR/elsewhere.json" "$CREDS/token.json"
	run gmail-check
	assert_failure 1
	assert_line "token $CREDS/token.json: FAIL: is a symbolic link"
}

@test "an open credentials directory FAILs; --fix tightens it" {
	good_setup
	chmod 755 "$CREDS"
	run gmail-check
	assert_failure 1
	assert_line "credentials directory $CREDS: FAIL: mode 755: group or others can enter (chmod 700; --fix does it)"
	run gmail-check --fix
	assert_success
	[ "$(stat -c %a "$CREDS")" = 700 ]
}

@test "a symlinked storage directory is not followed" {
	good_setup
	rmdir var/incoming
	ln -s /etc var/incoming
	run gmail-check
	assert_failure 1
	assert_line "incoming directory $BASE/var/incoming: FAIL: is a symbolic link (not followed)"
}

@test "a directory nobody may write to FAILs" {
	if [ "$(id -u)" -eq 0 ]; then
		# root writes anywhere: check as an unprivileged user, in a
		# base that user can reach (the bats tree is root's alone)
		NOBODY_BASE=$(mktemp -d /tmp/gmail-check-XXXXXX)
		chmod 755 "$NOBODY_BASE"
		cd "$NOBODY_BASE"
		export OPS_GMAIL_COLLECT_BASE_DIR="$NOBODY_BASE"
		gmail-check --fix >/dev/null
		chown -R 65534:65534 "$NOBODY_BASE/var"
		chown 0:0 var/quarantine
		run setpriv --reuid=65534 --regid=65534 --clear-groups \
		    env PATH="$PATH" OPS_GMAIL_COLLECT_BASE_DIR="$NOBODY_BASE" \
		    gmail-check
		cd / && rm -rf "$NOBODY_BASE"
		BASE=$NOBODY_BASE
	else
		gmail-check --fix >/dev/null
		chmod 555 var/quarantine
		run gmail-check
	fi
	assert_failure 1
	assert_line "quarantine directory $BASE/var/quarantine: FAIL: not writable: Permission denied"
	assert_line "incoming directory $BASE/var/incoming: ok"
}

@test "incoherent parameters FAIL one by one" {
	good_setup
	OPS_GMAIL_COLLECT_ALLOWED_MIME_TYPES="" run gmail-check
	assert_failure 1
	assert_line "ALLOWED_MIME_TYPES: FAIL: empty: no attachment could ever be kept"
	OPS_GMAIL_COLLECT_MAX_SIZE_BYTES=0 run gmail-check
	assert_line "MAX_SIZE_BYTES: FAIL: must be greater than 0"
	OPS_GMAIL_COLLECT_MAX_ATTACH_PER_RUN=0 run gmail-check
	assert_line "MAX_ATTACH_PER_RUN: FAIL: must be greater than 0"
	OPS_GMAIL_COLLECT_QUERY="" run gmail-check
	assert_line "QUERY: FAIL: empty"
	OPS_GMAIL_COLLECT_ALLOWED_SENDERS="" run gmail-check
	assert_line "ALLOWED_SENDERS: FAIL: empty: no sender is trusted, nothing would be collected"
	OPS_GMAIL_COLLECT_LABEL_QUARANTINE="" run gmail-check
	assert_failure 1
	assert_line "labels: FAIL: APPLY_LABELS is on but LABEL_IMPORTED or LABEL_QUARANTINE is empty"
}

@test "labels or mark-as-read need gmail.modify in SCOPES and in the token" {
	good_setup
	OPS_GMAIL_COLLECT_SCOPES=gmail.readonly run gmail-check
	assert_failure 1
	assert_line "SCOPES: FAIL: APPLY_LABELS or MARK_AS_READ needs gmail.modify"
	jq -c '.scopes = ["https://www.googleapis.com/auth/gmail.readonly"]' "$CREDS/token.json" >t
	chmod 600 t && mv t "$CREDS/token.json"
	run gmail-check
	assert_failure 1
	assert_line "granted scopes: FAIL: the token lacks gmail.modify, needed by APPLY_LABELS or MARK_AS_READ (run gmail-auth login)"
	OPS_GMAIL_COLLECT_APPLY_LABELS=false run gmail-check
	assert_success
	OPS_GMAIL_COLLECT_APPLY_LABELS=false OPS_GMAIL_COLLECT_MARK_AS_READ=true run gmail-check
	assert_failure 1
	assert_line --partial "granted scopes: FAIL"
}

@test "unreadable secrets: a broken token.json, a client file of the wrong shape" {
	good_setup
	echo '{"token": ' >"$CREDS/token.json"
	echo '{"other":{}}' >"$CREDS/client_secret.json"
	run gmail-check
	assert_failure 1
	assert_line --partial "token $CREDS/token.json: FAIL: $CREDS/token.json: "
	assert_line "client secret $CREDS/client_secret.json: FAIL: $CREDS/client_secret.json: no \"installed\" or \"web\" client with a client_id"
}

@test "usage errors exit 2; --help and --version" {
	run gmail-check extra
	assert_failure 2
	assert_output --partial "usage: gmail-check"
	run gmail-check --bogus
	assert_failure 2
	run gmail-check --version
	assert_success
	assert_output --regexp '^gmail-check [0-9]+\.[0-9]+\.[0-9]+$'
}

@test "--help prints the usage on stdout and exits 0" {
	run gmail-check --help
	assert_success
	assert_output "usage: gmail-check [-c file] [-o key=value] [--fix] [--show-config]"
	run gmail-auth -h
	assert_success
	assert_output --partial "usage: gmail-auth"
	run gmail-api --help
	assert_success
	assert_output --partial "usage: gmail-api"
}

@test "a configuration file reached through a symlink is read" {
	printf 'QUERY=linked\n' >"$BATS_TEST_TMPDIR/real.conf"
	ln -s "$BATS_TEST_TMPDIR/real.conf" link.conf
	run gmail-check --show-config -c link.conf
	assert_success
	assert_line "QUERY='linked' # file"
}
