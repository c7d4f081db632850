#!/usr/bin/env bats
# The configuration: file < environment < flag, syntax, errors (exit 78).

load helpers

setup() {
	setup_base
}

show() {
	gmail-check --show-config "$@"
}

@test "defaults apply when there is no file" {
	run show
	assert_success
	assert_line "QUERY='is:unread has:attachment' # default"
	assert_line "MAX_SIZE_BYTES='20M' # default"
	assert_line "QUOTA_REGIME='2026' # default"
	assert_line "STORAGE_INCOMING_DIR='$BASE/var/incoming' # default"
}

@test "precedence: file < environment < flag" {
	mkdir etc
	printf 'MAX_ATTACH_PER_RUN=10\nQUERY=from:file\nDRY_RUN=yes\n' >etc/gmail-ops.conf
	run show
	assert_line "MAX_ATTACH_PER_RUN='10' # file"
	assert_line "QUERY='from:file' # file"
	OPS_GMAIL_COLLECT_MAX_ATTACH_PER_RUN=20 OPS_GMAIL_COLLECT_QUERY=from:env run show
	assert_line "MAX_ATTACH_PER_RUN='20' # env"
	assert_line "QUERY='from:env' # env"
	assert_line "DRY_RUN='yes' # file"
	OPS_GMAIL_COLLECT_MAX_ATTACH_PER_RUN=20 run show -o MAX_ATTACH_PER_RUN=30
	assert_success
	assert_line "MAX_ATTACH_PER_RUN='30' # flag"
}

@test "-c FILE, then GMAIL_OPS_CONFIG, then etc/gmail-ops.conf" {
	mkdir etc
	echo 'QUERY=local' >etc/gmail-ops.conf
	echo 'QUERY=viaenv' >"$BATS_TEST_TMPDIR/env.conf"
	echo 'QUERY=viaflag' >"$BATS_TEST_TMPDIR/flag.conf"
	GMAIL_OPS_CONFIG="$BATS_TEST_TMPDIR/env.conf" run show
	assert_line "QUERY='viaenv' # file"
	GMAIL_OPS_CONFIG="$BATS_TEST_TMPDIR/env.conf" run show -c "$BATS_TEST_TMPDIR/flag.conf"
	assert_line "QUERY='viaflag' # file"
	run show
	assert_line "QUERY='local' # file"
}

@test "syntax: comments, quotes, export, lists, size suffixes" {
	cat >my.conf <<'CONF'
# a comment line
   # an indented one

export ENABLED=on
QUERY = "has:attachment  # not a comment"   # a comment
ALLOWED_SENDERS= a@example.com , @shop.example ,, b@example.org
MAX_SIZE_BYTES=5M
LABEL_IMPORTED="say \"hi\" \\ there"
CONF
	run show -c my.conf
	assert_success
	assert_line "ENABLED='on' # file"
	assert_line "QUERY='has:attachment  # not a comment' # file"
	assert_line "MAX_SIZE_BYTES='5M' # file"
	assert_line "LABEL_IMPORTED='say \"hi\" \\ there' # file"
	# the list is split and trimmed: the checks see three senders
	run gmail-check -c my.conf
	assert_line "ALLOWED_SENDERS: ok"
}

@test "a bad value names the file and line, exit 78" {
	printf 'QUERY=x\nMAX_SIZE_BYTES=lots\n' >bad.conf
	run show -c bad.conf
	assert_failure 78
	assert_output "gmail-check: bad.conf:2: MAX_SIZE_BYTES: not a non-negative whole number"
	printf 'DRY_RUN=maybe\n' >bad.conf
	run show -c bad.conf
	assert_failure 78
	assert_output "gmail-check: bad.conf:1: DRY_RUN: not a boolean (true or false)"
	printf 'QUOTA_REGIME=2030\n' >bad.conf
	run show -c bad.conf
	assert_failure 78
	assert_output --partial "bad.conf:1: QUOTA_REGIME: must be 2026 or legacy"
}

@test "syntax errors: no '=', unbalanced quote, exit 78" {
	printf 'QUERY=x\njust words\n' >bad.conf
	run show -c bad.conf
	assert_failure 78
	assert_output "gmail-check: bad.conf:2: expected KEY=value"
	printf 'QUERY="open\n' >bad.conf
	run show -c bad.conf
	assert_failure 78
	assert_output "gmail-check: bad.conf:1: QUERY: unbalanced quote"
}

@test "an unknown key warns and is ignored" {
	printf 'NO_SUCH_KEY=1\nQUERY=ok\n' >my.conf
	run show -c my.conf
	assert_success
	assert_line "gmail-check: my.conf:1: unknown key NO_SUCH_KEY, ignored"
	assert_line "QUERY='ok' # file"
}

@test "a bad environment value names the variable, exit 78" {
	OPS_GMAIL_COLLECT_MARK_AS_READ=perhaps run show
	assert_failure 78
	assert_output "gmail-check: OPS_GMAIL_COLLECT_MARK_AS_READ: not a boolean (true or false)"
}

@test "a bad flag value or an unknown flag key exits 78" {
	run show -o MAX_ATTACH_PER_RUN=-3
	assert_failure 78
	assert_output "gmail-check: MAX_ATTACH_PER_RUN: not a non-negative whole number"
	run show -o NOPE=1
	assert_failure 78
	run show -o novalue
	assert_failure 2
}

@test "a missing -c file exits 78 with the reason" {
	run show -c /nonexistent/gmail-ops.conf
	assert_failure 78
	assert_output "gmail-check: /nonexistent/gmail-ops.conf: No such file or directory"
}

@test "paths are relative to BASE_DIR, BASE_DIR to the working directory" {
	printf 'BASE_DIR=sub\nCREDENTIALS_DIR=secrets\nSTORAGE_INCOMING_DIR=/abs/in\n' >my.conf
	unset OPS_GMAIL_COLLECT_BASE_DIR
	run show -c my.conf
	assert_line "BASE_DIR='$BASE/sub' # file"
	assert_line "CREDENTIALS_DIR='$BASE/sub/secrets' # file"
	assert_line "STORAGE_INCOMING_DIR='/abs/in' # file"
}

@test "--show-config output is safe to eval in sh" {
	printf "QUERY=\"it's \$(touch pwned) here\"\n" >my.conf
	out=$(gmail-check --show-config -c my.conf)
	eval "$out"
	[ "$QUERY" = "it's \$(touch pwned) here" ]
	[ ! -e pwned ]
}

@test "the seed's plain variables work; the prefixed name wins" {
	GMAIL_USER=alice@example.com SEND_MODE=send run show
	assert_line "GMAIL_USER='alice@example.com' # env"
	assert_line "SEND_MODE='send' # env"
	GMAIL_USER=alice@example.com OPS_GMAIL_COLLECT_GMAIL_USER=bob@example.com run show
	assert_line "GMAIL_USER='bob@example.com' # env"
	# collection keys have no plain alias
	QUERY=nope run show
	assert_line "QUERY='is:unread has:attachment' # default"
}
