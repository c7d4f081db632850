#!/usr/bin/env bats
# Disk and permissions: var/ (or var/incoming alone) on a full file system,
# a read-only incoming directory. The run must fail cleanly: exit 74 and a
# clear message, no partial file, no temp or spool file left, receipts only
# for whole files, no label on a message whose receipts are not durable;
# and the next run, with room again, must converge to an undisturbed run.
#
# A full disk is a size-limited tmpfs, and a read-only directory a
# read-only bind mount: root ignores mode bits (chmod 555 does not stop
# it), not a read-only mount. Both need mount(2): as another user the
# tests that need it are skipped, and the read-only one uses chmod 555.

load helpers
bats_require_minimum_version 1.5.0

setup_file() {
	# 13 varied messages and 8 of 300 kB: 2.7 MB of attachments
	python3 "$BATS_TEST_DIRNAME/robust/gen-mailbox.py" \
	    "$BATS_FILE_TMPDIR/mailbox" 8 300
}

setup() {
	setup_base
	export PATH="$TOP/scripts:$PATH"
	export OPS_GMAIL_COLLECT_ENABLED=true
	export OPS_GMAIL_COLLECT_ALLOWED_SENDERS="billing@shop.example,@cafe.example,@rail.example"
	export OPS_GMAIL_COLLECT_APPLY_LABELS=true
	fake_start --mailbox "$BATS_FILE_TMPDIR/mailbox"
	MOUNTS=()
}

teardown() {
	local i
	cd /
	for ((i = ${#MOUNTS[@]} - 1; i >= 0; i--)); do
		umount "${MOUNTS[$i]}" 2>/dev/null || umount -l "${MOUNTS[$i]}" || true
	done
	fake_stop
}

# can_mount: root, and mount(2) allowed here (not in every container).
can_mount() {
	local d="$BATS_TEST_TMPDIR/probe"
	[ "$(id -u)" = 0 ] || return 1
	mkdir -p "$d"
	mount -t tmpfs -o size=64k tmpfs "$d" 2>/dev/null || return 1
	umount "$d"
}

# tmpfs DIR SIZE [MODE]: a size-limited file system at DIR, unmounted at
# teardown.
tmpfs() {
	mkdir -p "$1"
	mount -t tmpfs -o "size=$2,mode=0${3:-755}" tmpfs "$1"
	MOUNTS+=("$1")
}

# fresh DIR, digest, labels: fresh_base, receipts_digest, mailbox_labels
# (helpers.bash).
fresh() { fresh_base "$1"; }
digest() { receipts_digest; }
labels() { mailbox_labels; }

# The undisturbed run, and each message's attachments (msg sha256).
reference() {
	fresh "$BATS_TEST_TMPDIR/ref"
	gmail-list | gmail-fetch | mime-extract --no-data |
	    jq -r 'select(.type == "attachment") | "\(.msg_key) \(.sha256)"' \
	    >"$BATS_TEST_TMPDIR/ref.parts"
	run collect-from-gmail --force
	assert_success
	digest >"$BATS_TEST_TMPDIR/ref.digest"
	labels >"$BATS_TEST_TMPDIR/ref.labels"
	[ "$(wc -l <"$BATS_TEST_TMPDIR/ref.digest")" -ge 25 ]
}

# Nothing half-written: verify clean (each receipt's file whole, no file
# without a receipt, no temp file), no spool file, every file under a
# final name whole, and every labelled message's receipts durable.
clean() {
	run receipt-store verify
	assert_success
	[ -z "$(find var -name '.tmp-*' -o -name '.spool-*' -o -name '*.tmp.*')" ]
	[ ! -e var/spool/collect_from_gmail ]
	local f sha msg
	while read -r f; do
		sha=$(sha256sum "$f" | cut -c1-64)
		grep -q " $sha\$" "$BATS_TEST_TMPDIR/ref.parts" ||
		    { echo "$f: not a whole attachment"; return 1; }
	done < <(find var/incoming var/quarantine -type f)
	receipt-store list | jq -r .sha256 | sort >"$BATS_TEST_TMPDIR/shas"
	while read -r msg; do
		while read -r _ sha; do
			grep -qx "$sha" "$BATS_TEST_TMPDIR/shas" ||
			    { echo "$msg labelled without a receipt for $sha"; return 1; }
		done < <(grep "^$msg " "$BATS_TEST_TMPDIR/ref.parts")
	done < <(labels | jq -r 'select(.[1] | map(test("^gmail-ops/")) | any) | .[0]')
}

converged() {
	diff <(digest) "$BATS_TEST_TMPDIR/ref.digest"
	diff <(labels) "$BATS_TEST_TMPDIR/ref.labels"
}

@test "var/ on a full file system: exit 74, a clear message, nothing half-written; with room, the next run converges" {
	can_mount || skip "needs mount(2) for a size-limited tmpfs (root)"
	reference
	BASE="$BATS_TEST_TMPDIR/full"
	tmpfs "$BASE/var" 1500k
	fresh "$BASE"
	run --separate-stderr collect-from-gmail --force
	echo "# var/ full: exit $status; $(tr "\n" " " <<<"$stderr")" >&3
	assert_failure 74
	[[ "$stderr" == *": No space left on device"* ]]
	[[ "$stderr" == *"failed (exit 74)"* ]]
	[ "$(receipt-store jobs --last | jq -r .status)" = failed ]
	clean
	# some receipts made it, not all
	n=$(receipt-store list | wc -l)
	[ "$n" -gt 0 ] && [ "$n" -lt "$(wc -l <"$BATS_TEST_TMPDIR/ref.digest")" ]
	mount -o remount,size=16m "$BASE/var"
	run collect-from-gmail --force
	assert_success
	clean
	converged
}

@test "incoming on its own full file system: receipt-store stops with 74 naming the directory; the next run converges" {
	can_mount || skip "needs mount(2) for a size-limited tmpfs (root)"
	reference
	BASE="$BATS_TEST_TMPDIR/full"
	fresh "$BASE"
	# the spool stays on the larger file system: ingest copies across
	tmpfs "$BASE/var/incoming" 700k
	run --separate-stderr collect-from-gmail --force
	echo "# incoming full: exit $status; $(tr "\n" " " <<<"$stderr")" >&3
	assert_failure 74
	[[ "$stderr" =~ "receipt-store: $BASE/var/incoming/2026-11-"[0-9]+": No space left on device" ]]
	[[ "$stderr" == *"receipt-store-ingest failed (exit 74)"* ]]
	[ "$(receipt-store jobs --last | jq -r .status)" = failed ]
	clean
	[ "$(receipt-store stats | jq .verdicts.error)" = 0 ]	# nothing of the message recorded
	mount -o remount,size=16m "$BASE/var/incoming"
	run collect-from-gmail --force
	assert_success
	clean
	converged
}

@test "the database on a full file system: exit 74 naming var/db and the room left; then the run converges" {
	can_mount || skip "needs mount(2) for a size-limited tmpfs (root)"
	reference
	BASE="$BATS_TEST_TMPDIR/dbfull"
	tmpfs "$BASE/var/db" 256k 700
	fresh "$BASE"
	receipt-store stats >/dev/null		# the environment, made
	cat /dev/zero >var/db/filler 2>/dev/null || true
	: >"$FAKE_LOG"
	run --separate-stderr collect-from-gmail --force
	echo "# var/db full: exit $status; $(tr "\n" " " <<<"$stderr")" >&3
	assert_failure 74
	[[ "$stderr" =~ "receipt-store: db: mdb_txn_commit: "(No space left on device|Input/output error)" ("[0-9]+" kB free on the file system of $BASE/var/db)" ]]
	[ "$(fake_count gmail.users.messages.get)" = 0 ]
	rm var/db/filler
	run collect-from-gmail --force
	assert_success
	clean
	converged
}

@test "a read-only incoming directory: exit 74 and a clear error; nothing written there, nothing labelled imported" {
	reference
	BASE="$BATS_TEST_TMPDIR/ro"
	fresh "$BASE"
	if can_mount; then
		mount --bind var/incoming var/incoming
		MOUNTS+=("$BASE/var/incoming")
		mount -o remount,bind,ro var/incoming
		why="Read-only file system"
	elif [ "$(id -u)" != 0 ]; then
		chmod 555 var/incoming
		why="Permission denied"
	else
		skip "root without mount(2): nothing makes a directory read-only to root"
	fi
	run gmail-check
	assert_line "incoming directory $BASE/var/incoming: FAIL: not writable: $why"
	run --separate-stderr collect-from-gmail --force
	echo "# incoming read-only: exit $status; $(tr "\n" " " <<<"$stderr")" >&3
	assert_failure 74
	[[ "$stderr" =~ "receipt-store: $BASE/var/incoming/2026-11-"[0-9]+": $why" ]]
	[ -z "$(find var/incoming -mindepth 1)" ]
	clean
	[ -z "$(labels | grep gmail-ops/imported)" ]
	if [ "${#MOUNTS[@]}" -gt 0 ]; then
		umount var/incoming
		MOUNTS=()
	else
		chmod 755 var/incoming
	fi
	run collect-from-gmail --force
	assert_success
	clean
	converged
}
