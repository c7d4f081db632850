#!/usr/bin/env bats
# scripts/collect-from-gmail end to end against the fake Google and the
# demo mailbox: dry run first, the outcomes, labels, idempotence, the lock,
# failing stages, kill -9 at random points, injected faults.

load helpers
bats_require_minimum_version 1.5.0

MAILBOX="$TOP/etc/demo/mailbox"

setup() {
	setup_base
	export PATH="$TOP/scripts:$PATH"
	export OPS_GMAIL_COLLECT_ENABLED=true
	export OPS_GMAIL_COLLECT_ALLOWED_SENDERS="billing@shop.example,@cafe.example"
	export OPS_GMAIL_COLLECT_APPLY_LABELS=true
	fake_start --mailbox "$MAILBOX"
	login_user
	gmail-check --fix >/dev/null
	: >"$FAKE_LOG"
}

teardown() {
	fake_stop
}

collect() {
	collect-from-gmail "$@"
}

store_digest() { receipts_digest; }

# The label names of the demo message whose subject contains WORD.
labels_of() {
	fake_ctl GET state | jq -r --arg w "$1" '.mailboxes["user@example.com"] as $m |
	    ($m.labels | map({(.id): .name}) | add) as $names |
	    $m.messages[] | select(.subject | tostring | contains($w)) |
	    [.labelIds[] | $names[.] // .] | sort | join(",")'
}

@test "a real run before any dry run of the configuration is refused" {
	run collect
	assert_failure 78
	assert_output --partial "has never completed a dry run"
	[ "$(fake_count gmail.users.messages.list)" = 0 ]
	run collect --force --json
	assert_success
}

@test "dry run: every decision reported, nothing written, no label changed" {
	run collect --dry-run --json
	assert_success
	[ "$(jq -r .status <<<"$output")" = success ]
	[ "$(jq -r .dry_run <<<"$output")" = true ]
	[ "$(jq -r .emails_scanned <<<"$output")" = 5 ]
	[ "$(jq -r .created <<<"$output")" = 2 ]
	[ "$(jq -r .duplicates_skipped <<<"$output")" = 1 ]
	[ "$(jq -r .quarantined <<<"$output")" = 1 ]
	[ "$(jq -r .skipped <<<"$output")" = 1 ]
	[ -z "$(find var/incoming var/quarantine -type f)" ]
	[ -z "$(receipt-store list)" ]
	[ "$(fake_count gmail.users.messages.batchModify)" = 0 ]
	[ "$(fake_count gmail.users.labels.create)" = 0 ]
	[ "$(fake_count gmail.users.messages.modify)" = 0 ]
	# and it unlocks real runs of this configuration
	run collect --json
	assert_success
}

@test "real run: stored, duplicate, quarantined, skipped, filed by date, labelled" {
	collect --dry-run >/dev/null
	: >"$FAKE_LOG"
	run collect --json
	assert_success
	[ "$(jq -r .status <<<"$output")" = success ]
	[ "$(jq -r .created <<<"$output")" = 2 ]
	[ "$(jq -r .duplicates_skipped <<<"$output")" = 1 ]
	[ "$(jq -r .quarantined <<<"$output")" = 1 ]
	[ "$(jq -r .skipped <<<"$output")" = 1 ]
	[ "$(jq -r .errors_count <<<"$output")" = 0 ]
	[ "$(jq -r .log_path <<<"$output")" = "$BASE/var/logs/ops/collect_from_gmail-$(date -u +%F).jsonl" ]
	[ "$(find var/incoming -type f | wc -l)" = 2 ]
	[ -f var/incoming/2026-11-17/receipt.png ]
	[ "$(find var/quarantine/2026-11-20 -type f -name 'scan*.pdf' | wc -l)" = 1 ]
	run receipt-store verify
	assert_success
	# labels: imported on the stored and duplicate ones, quarantine on the
	# broken scan, nothing on the spoofed invoice
	[[ "$(labels_of 'Your invoice')" == *gmail-ops/imported* ]]
	[[ "$(labels_of 'Reminder')" == *gmail-ops/imported* ]]
	[[ "$(labels_of 'Scan of')" == *gmail-ops/quarantine* ]]
	[[ "$(labels_of 'Scan of')" != *gmail-ops/imported* ]]
	[[ "$(labels_of 'URGENT')" != *gmail-ops* ]]
	[ "$(fake_count gmail.users.messages.batchModify)" = 2 ]
	[ "$(fake_count gmail.users.messages.get)" = 5 ]
	run receipt-store stats
	assert_success
}

@test "the query keeps other senders and handled mail out; the newsletter is never fetched" {
	collect --dry-run >/dev/null
	q=$(fake_requests gmail.users.messages.list | head -n 1 | jq -r .query.q)
	[[ "$q" == *"is:unread has:attachment"* ]]
	[[ "$q" == *"from:(billing@shop.example OR @cafe.example)"* ]]
	[[ "$q" == *'-label:"gmail-ops/imported"'* ]]
	[[ "$q" == *'-label:"gmail-ops/quarantine"'* ]]
	[ "$(fake_requests gmail.users.messages.get | jq -r .path | grep -c .)" = 5 ]
}

@test "a second run creates nothing and costs at most 2 API calls" {
	collect --dry-run >/dev/null
	collect >/dev/null
	before=$(find var/incoming var/quarantine -type f | sort | xargs sha256sum)
	run collect --json
	assert_success
	[ "$(jq -r .created <<<"$output")" = 0 ]
	[ "$(jq -r .gmail_api_calls <<<"$output")" -le 2 ]
	[ "$(find var/incoming var/quarantine -type f | sort | xargs sha256sum)" = "$before" ]
}

@test "HISTORY_SYNC: the mark moves only after a whole successful run; an idle run is one history.list" {
	export OPS_GMAIL_COLLECT_HISTORY_SYNC=true
	H=var/state/gmail_history_id
	collect --dry-run >/dev/null
	[ ! -e "$H" ]				# dry runs list in full, mark nothing
	# A run cut by --max leaves the mark where it was (here: none).
	run collect --max 1 --json
	assert_success
	[ ! -e "$H" ]
	[ ! -e "$H.next" ]
	run collect --json
	assert_success
	# the rest: the store holds what one uncut run makes
	[ "$(receipt-store stats | jq -c '[.ingested, .quarantined]')" = "[2,1]" ]
	[[ "$(cat "$H")" =~ ^[0-9]+$ ]]
	[ "$(stat -c %a "$H")" = 600 ]
	store=$(store_digest)
	: >"$FAKE_LOG"
	run collect --json
	assert_success
	[ "$(jq -r .gmail_api_calls <<<"$output")" = 1 ]
	[ "$(fake_count gmail.users.history.list)" = 1 ]
	[ "$(fake_count gmail.users.messages.list)" = 0 ]
	[ "$(store_digest)" = "$store" ]
	# New mail: listed from the history, collected, the mark moves on.
	mark=$(cat "$H")
	fake_ctl POST messages "$(jq -nc --rawfile t "$MAILBOX/02-receipt-cafe.eml" \
	    '{text: ($t | sub("Subject: [^\r\n]*"; "Subject: Another coffee"))}')" >/dev/null
	: >"$FAKE_LOG"
	run collect --json
	assert_success
	[ "$(jq -r .emails_scanned <<<"$output")" = 1 ]
	[ "$(fake_count gmail.users.messages.get)" = 1 ]
	[ "$(cat "$H")" -gt "$mark" ]
	# A failing run does not move it.
	mark=$(cat "$H")
	fake_ctl POST messages "$(jq -nc --rawfile t "$MAILBOX/01-invoice-shop.eml" \
	    '{text: ($t | sub("Subject: [^\r\n]*"; "Subject: Invoice 2"))}')" >/dev/null
	fake_ctl POST faults '{"rules":[{"match":"^gmail\\.users\\.messages\\.get$","status":400,"times":-1}]}' >/dev/null
	run collect --json
	assert_failure
	[ "$(cat "$H")" = "$mark" ]
	[ ! -e "$H.next" ]
	fake_ctl DELETE faults >/dev/null
	run collect --json
	assert_success
	[ "$(jq -r .emails_scanned <<<"$output")" = 1 ]
	[ "$(cat "$H")" -gt "$mark" ]
}

@test "labels off: a second run still fetches nothing (the ledger filters)" {
	export OPS_GMAIL_COLLECT_APPLY_LABELS=false
	collect --dry-run >/dev/null
	collect >/dev/null
	: >"$FAKE_LOG"
	run collect --json
	assert_success
	[ "$(fake_count gmail.users.messages.get)" = 0 ]
	[ "$(jq -r .gmail_api_calls <<<"$output")" -le 2 ]
}

@test "a run holding the lock refuses a second (75); a dead holder leaves no stale lock" {
	mkdir -p var/locks
	# -o: the lock is flock's own, so killing it frees the lock
	flock -o var/locks/collect_from_gmail.lock sleep 30 &
	holder=$!
	sleep 0.3
	run collect --dry-run
	assert_failure 75
	assert_output --partial "a run is in progress"
	kill -9 $holder
	wait $holder 2>/dev/null || true
	sleep 0.2
	run collect --dry-run
	assert_success
}

@test "a stage killed by a signal fails the JobRun and the exit status says so" {
	collect --dry-run >/dev/null
	mkdir -p "$BATS_TEST_TMPDIR/shim"
	cat >"$BATS_TEST_TMPDIR/shim/mime-extract" <<'SH'
#!/bin/sh
kill -9 $$
SH
	chmod +x "$BATS_TEST_TMPDIR/shim/mime-extract"
	PATH="$BATS_TEST_TMPDIR/shim:$PATH" run collect --json
	assert_failure 137
	assert_output --partial "mime-extract killed by signal 9"
	[ "$(receipt-store jobs --last | jq -r .status)" = failed ]
}

@test "an auth failure fails the run with exit 77" {
	collect --dry-run >/dev/null
	expire_token_file
	fake_ctl POST revoke-refresh >/dev/null
	run collect --json
	assert_failure 77
	[ "$(receipt-store jobs --last | jq -r .status)" = failed ]
}

@test "--max 1 stops at a message boundary and the run is a success" {
	collect --dry-run >/dev/null
	run --separate-stderr collect --max 1 --json
	assert_success
	[ "$(jq -r .status <<<"$output")" = success ]
	[ "$(jq -r .attachments_seen <<<"$output")" = 1 ]
	# the stages stopped by SIGPIPE still counted their calls
	[ "$(jq -r .gmail_api_calls <<<"$output")" -ge 2 ]
	[[ "$stderr" != *"No such file"* ]]
}

@test "the event log: run start and end, messages with verdicts, no token" {
	collect --dry-run >/dev/null
	collect >/dev/null
	f="var/logs/ops/collect_from_gmail-$(date -u +%F).jsonl"
	jq -e -s 'map(.event) | index("run_start") != null and index("run_end") != null' "$f"
	jq -e -s '[.[] | select(.event == "message")] | length >= 5' "$f"
	! grep -q "$(jq -r .token "$CREDS/token.json")" "$f"
	! grep -q "$(jq -r .refresh_token "$CREDS/token.json")" "$f"
	! grep -qi "invoice 2026-0042" "$f"	# no subject: no content
}

@test "kill -9 at random points: ten trials, each followed by a normal run, converge" {
	# the reference: an uninterrupted run in another base (labels off, so
	# the mailbox stays as it was for the trials)
	ref="$BATS_TEST_TMPDIR/ref"
	mkdir -p "$ref/var/credentials"
	cp -a "$CREDS" "$ref/var/credentials/"
	(cd "$ref" && export OPS_GMAIL_COLLECT_BASE_DIR="$ref" OPS_GMAIL_COLLECT_APPLY_LABELS=false &&
	    collect --force >/dev/null && store_digest) >"$BATS_TEST_TMPDIR/ref.digest"
	[ "$(wc -l <"$BATS_TEST_TMPDIR/ref.digest")" = 3 ]
	fake_ctl POST config '{"latency_ms": 40, "jitter_ms": 30}' >/dev/null
	for trial in 1 2 3 4 5 6 7 8 9 10; do
		# a session of its own: the victim is one of this run's stages
		setsid collect-from-gmail --force >/dev/null 2>&1 &
		driver=$!
		sleep "0.$((RANDOM % 9))$((RANDOM % 10))"
		victim=$(pgrep -s "$driver" -f -n 'gmail-list|gmail-fetch|mime-extract|receipt-store|gmail-label' || echo $driver)
		kill -9 "$victim" 2>/dev/null || true
		wait $driver 2>/dev/null || true
		# a killed driver's stages run on, holding the lock: let them end
		for _ in $(seq 200); do
			pgrep -s "$driver" >/dev/null || break
			sleep 0.05
		done
		run collect --force
		[ "$status" -le 1 ] || { echo "trial $trial: $output"; false; }
		run receipt-store verify
		[ "$status" = 0 ] || { echo "trial $trial: $output"; false; }
		[ -z "$(find var/incoming var/quarantine -name '.tmp-*')" ]
	done
	diff <(store_digest) "$BATS_TEST_TMPDIR/ref.digest"
}

@test "10% injected 5xx/429: every receipt ends stored once" {
	fake_ctl POST config '{"fail_rate": 0.1, "fail_statuses": [500, 503, 429], "seed": 7}' >/dev/null
	collect --force >/dev/null || true
	collect --force >/dev/null || true
	fake_ctl POST config '{"fail_rate": 0}' >/dev/null
	run receipt-store verify
	assert_success
	[ "$(receipt-store list | jq -r .sha256 | sort | uniq -d | wc -l)" = 0 ]
	[ "$(receipt-store list --state ingested | wc -l)" = 2 ]
	[ "$(receipt-store list --state quarantined | wc -l)" = 1 ]
}

@test "labels lost (batchModify giving up, or gmail-label killed) are applied by the next run, without a fetch" {
	collect --dry-run >/dev/null
	# the first change set fails every try: partial, those messages unlabelled
	fake_ctl POST faults '{"rules":[{"match":"batchModify","status":503,"times":6}]}' >/dev/null
	run collect --json
	assert_failure 1
	[ "$(receipt-store jobs --last | jq -r .status)" = partial ]
	[[ "$(labels_of 'Your invoice')" != *gmail-ops* ]]
	: >"$FAKE_LOG"
	run collect --json
	assert_success
	[ "$(fake_count gmail.users.messages.get)" = 0 ]
	[[ "$(labels_of 'Your invoice')" == *gmail-ops/imported* ]]
	[[ "$(labels_of 'Reminder')" == *gmail-ops/imported* ]]
	[[ "$(labels_of 'Scan of')" == *gmail-ops/quarantine* ]]
	[[ "$(labels_of 'URGENT')" != *gmail-ops* ]]
	# and gmail-label killed outright: the same
	fake_ctl POST reset >/dev/null
	login_user
	rm -rf var/db var/incoming var/quarantine
	mkdir -p "$BATS_TEST_TMPDIR/shim"
	printf '#!/bin/sh\ncat >/dev/null\nkill -9 $$\n' >"$BATS_TEST_TMPDIR/shim/gmail-label"
	chmod +x "$BATS_TEST_TMPDIR/shim/gmail-label"
	PATH="$BATS_TEST_TMPDIR/shim:$PATH" run collect --force
	assert_failure 137
	[[ "$(labels_of 'Your invoice')" != *gmail-ops* ]]
	run collect --force
	assert_success
	[[ "$(labels_of 'Your invoice')" == *gmail-ops/imported* ]]
	[[ "$(labels_of 'Scan of')" == *gmail-ops/quarantine* ]]
}
