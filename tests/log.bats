#!/usr/bin/env bats
# The JSONL event log: var/logs/ops/<job>-YYYY-MM-DD.jsonl, append-only,
# one write per line, so concurrent writers never mix their lines.

load helpers

setup() {
	setup_base
}

@test "events go to var/logs/ops/<job>-<UTC date>.jsonl with ts and event" {
	run "$UNITS/log-append" collect_from_gmail 3
	assert_success
	f="$BASE/var/logs/ops/collect_from_gmail-$(date -u +%F).jsonl"
	assert_output "$f"
	[ "$(wc -l <"$f")" = 3 ]
	jq -e -s 'all(.[]; (.ts | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z$")) and .event == "test")' "$f"
	# appended, never truncated
	"$UNITS/log-append" collect_from_gmail 2 >/dev/null
	[ "$(wc -l <"$f")" = 5 ]
}

@test "four concurrent writers: every line whole, none lost" {
	pids=
	for i in 1 2 3 4; do
		"$UNITS/log-append" race 500 >/dev/null &
		pids="$pids $!"
	done
	# shellcheck disable=SC2086
	wait $pids	# not a bare wait: bats' own timeout watcher is a child too
	f="$BASE/var/logs/ops/race-$(date -u +%F).jsonl"
	[ "$(wc -l <"$f")" = 2000 ]
	# every line parses and each writer's sequence is complete
	run jq -s 'group_by(.pid) | map(length) | . == [500, 500, 500, 500]' "$f"
	assert_output true
}

@test "a log path planted as a symlink is not followed" {
	mkdir -p var/logs/ops
	ln -s "$BATS_TEST_TMPDIR/elsewhere" "var/logs/ops/evil-$(date -u +%F).jsonl"
	run "$UNITS/log-append" evil 1
	assert_failure 74
	[ ! -e "$BATS_TEST_TMPDIR/elsewhere" ]
}

@test "with GMAIL_OPS_LOG set, a tool's warnings are logged as events too" {
	printf 'not json\n' | GMAIL_OPS_LOG=collect_from_gmail GMAIL_API_URL=http://127.0.0.1:9 gmail-api || true
	f="$BASE/var/logs/ops/collect_from_gmail-$(date -u +%F).jsonl"
	run jq -c 'select(.event == "warning") | [.prog, (.message | startswith("line 1: "))]' "$f"
	assert_output '["gmail-api",true]'
}
