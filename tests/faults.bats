#!/usr/bin/env bats
# Faults end to end: the fake answers 10% of Gmail calls with 500, 503,
# 429 or a rate-limit 403, resets connections and truncates bodies, and
# the access token expires mid-run. The collection must end, in two runs
# at most, with exactly the receipts and labels of a fault-free run on the
# same mailbox (tests/robust/gen-mailbox.py), and a run must say partial
# (exit 1, JobRun partial) whenever it left something for later. The
# retry rules themselves are in http.bats and gmail-fetch.bats; kill -9
# in collect.bats and crash.bats.

load helpers
bats_require_minimum_version 1.5.0

# The fault mix, each picked with equal odds when a call is faulted.
MIX='[500, 503, 429, {"status": 403, "reason": "userRateLimitExceeded"},
    {"status": 403, "reason": "rateLimitExceeded"}, {"kind": "reset"},
    {"kind": "truncate"}]'

setup_file() {
	python3 "$BATS_TEST_DIRNAME/robust/gen-mailbox.py" "$BATS_FILE_TMPDIR/mailbox" 40
}

setup() {
	setup_base
	export PATH="$TOP/scripts:$PATH"
	export OPS_GMAIL_COLLECT_ENABLED=true
	export OPS_GMAIL_COLLECT_ALLOWED_SENDERS="billing@shop.example,@cafe.example,@rail.example"
	export OPS_GMAIL_COLLECT_APPLY_LABELS=true
	# the legacy regime's quota lets 55 messages.get go without pacing
	export OPS_GMAIL_COLLECT_QUOTA_REGIME=legacy
	fake_start --mailbox "$BATS_FILE_TMPDIR/mailbox" --quota-regime legacy
	EXPIRER=
}

teardown() {
	if [ -n "$EXPIRER" ]; then
		kill "$EXPIRER" 2>/dev/null || true
		wait "$EXPIRER" 2>/dev/null || true
	fi
	fake_stop
}

# fresh DIR (emptied first), digest, labels: helpers.bash's fresh_base,
# receipts_digest, mailbox_labels.
fresh() {
	rm -rf "$1"
	fresh_base "$1"
}
digest() { receipts_digest; }
labels() { mailbox_labels; }

# The fault-free reference, then a fresh start for the faulted runs.
reference() {
	fresh "$BATS_TEST_TMPDIR/ref"
	run collect-from-gmail --force
	assert_success
	digest >"$BATS_TEST_TMPDIR/ref.digest"
	labels >"$BATS_TEST_TMPDIR/ref.labels"
	[ "$(wc -l <"$BATS_TEST_TMPDIR/ref.digest")" -ge 55 ]
	[ "$(grep -c gmail-ops/ "$BATS_TEST_TMPDIR/ref.labels")" -ge 50 ]
	fresh "$BATS_TEST_TMPDIR/faulted"
}

converged() {
	cmp -s <(digest) "$BATS_TEST_TMPDIR/ref.digest" &&
	    cmp -s <(labels) "$BATS_TEST_TMPDIR/ref.labels"
}

# faulted_run SEED: one run with the 10% mix, the access token expired
# twice meanwhile; sets $code and $jobstatus, checks what they say.
faulted_run() {
	fake_ctl POST config "{\"fail_rate\": 0.1, \"fail_statuses\": $MIX,
	    \"seed\": $1, \"latency_ms\": 30, \"jitter_ms\": 20}" >/dev/null
	(sleep 0.15; fake_ctl POST expire-tokens; sleep 0.3
	    fake_ctl POST expire-tokens) >/dev/null 2>&1 &
	EXPIRER=$!
	run --separate-stderr collect-from-gmail --force --json
	code=$status
	wait "$EXPIRER" || true
	EXPIRER=
	jobstatus=$(receipt-store jobs --last | jq -r .status)
	[ "$(jq -r .status <<<"$output")" = "$jobstatus" ]
	receipt-store verify >/dev/null
	[ "$(receipt-store list | jq -r .sha256 | sort | uniq -d | wc -l)" = 0 ]
	# success means nothing was left for later; partial says exit 1
	case $jobstatus in
	success) [ "$code" = 0 ]; converged ;;
	partial) [ "$code" = 1 ] ;;
	*) echo "run: exit $code, JobRun $jobstatus: $stderr"; false ;;
	esac
}

# What the fake did: faults by kind, 401s, token refreshes.
fault_figures() {
	jq -rs '[(map(select(.fault != null) |
	    if .fault == "random" then (.status | tostring) else .fault end) |
	    group_by(.) | map("\(.[0]) \(length)") | join(", ")),
	    "401: \(map(select(.status == 401)) | length)",
	    "refreshes: \(map(select(.endpoint == "oauth.token")) | length)"] |
	    join("; ")' "$FAKE_LOG"
}

@test "10% faults of every kind and an expiring token: two runs give the fault-free receipts and labels" {
	for seed in 11 12 13; do
		reference
		: >"$FAKE_LOG"
		faulted_run "$seed"
		first="exit $code $jobstatus"
		runs=1
		if ! converged; then
			[ "$jobstatus" = partial ]
			faulted_run "$seed$seed"
			runs=2
			[ "$jobstatus" = success ]
		fi
		converged
		figures=$(fault_figures)
		echo "# seed $seed: run 1 $first; converged after $runs run(s); $figures" >&3
		[[ "$figures" == *"401: "[1-9]* ]]
		[[ "$figures" == *[0-9]" "[0-9]* ]]
	done
}

@test "a message that still fails and a label change that gives up: partial, then the next run completes" {
	reference
	plain=$(fake_ctl GET state | jq -r '.mailboxes["user@example.com"].messages |
	    to_entries[] | select(.value.subject | startswith("Plain")) | .key')
	[ -n "$plain" ]
	: >"$FAKE_LOG"
	# the plain message's fetch fails every try; the first label change too
	fake_ctl POST faults "{\"rules\": [
	    {\"match\": \"messages/$plain\", \"status\": 503, \"times\": 100},
	    {\"match\": \"batchModify\", \"status\": 500, \"times\": 6}]}" >/dev/null
	faulted_run 21
	[ "$code" = 1 ]
	[ "$jobstatus" = partial ]
	if converged; then false; fi
	# the message left for later has no receipt and no label
	[ "$(receipt-store list | jq -r --arg p "$plain" 'select(.gmail_message_id == $p)')" = "" ]
	[ "$(labels | grep -c "\"$plain\".*gmail-ops/")" = 0 ]
	first="exit $code $jobstatus"
	fake_ctl DELETE faults >/dev/null
	faulted_run 22
	[ "$code" = 0 ]
	[ "$jobstatus" = success ]
	converged
	echo "# forced: run 1 $first, run 2 exit $code $jobstatus; $(fault_figures)" >&3
}
