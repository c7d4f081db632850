#!/bin/sh
# crash-trials.sh: crash consistency of the collection job (make robust).
#
# TRIALS times, each from a fresh store and mailbox: collect-from-gmail
# runs, one of its stages (or the driver itself), picked at random, is
# killed with SIGKILL at a random moment of its life; then a normal run.
# After the killed run, no message may bear the imported or quarantine
# label unless its receipts are durable (in the store, the files whole on
# disk), and no file under a final name may be partial.  After the normal
# run the store must have converged to that of an uninterrupted run:
# receipt-store verify clean, the same receipts, the same labels, no
# duplicate, no orphan file, no temp or spool file, no JobRun left running.
#
# Randomness is seeded: SEED (default: the clock) is printed, and trial N
# of a seed is replayed with  SEED=s FIRST=N TRIALS=1.  The moments are
# drawn within each stage's lifetime as measured on the reference run
# (latency LATENCY_MS +- JITTER_MS on every Gmail call spreads the run
# out); a stage already gone at its moment is a miss, counted apart.
#
# Environment: TRIALS (100), SEED, FIRST (1), GMAIL_OPS_BIN (bin/),
# LATENCY_MS (40), JITTER_MS (30), KEEP=1 keeps the scratch directory.
# Exit 0 when every trial converged, else 1.
set -u

top=$(cd "$(dirname "$0")/../.." && pwd)
bin=${GMAIL_OPS_BIN:-$top/bin}
trials=${TRIALS:-100}
seed=${SEED:-$(($(date +%s) % 1000000))}
first=${FIRST:-1}
latency=${LATENCY_MS:-40}
jitter=${JITTER_MS:-30}
stages="driver gmail-list receipt-store-filter gmail-fetch mime-extract receipt-store-ingest gmail-label"

case $trials$seed$first in
*[!0-9]*) echo "crash-trials: TRIALS, SEED and FIRST are whole numbers" >&2
	exit 2 ;;
esac

PATH=$bin:$top/scripts:$PATH
LC_ALL=C
export PATH LC_ALL
# Nothing from the caller's environment: only what this script sets.
unset GMAIL_OPS_CONFIG GMAIL_OPS_LOG GMAIL_OPS_JOB_RUN GMAIL_OPS_DEBUG \
    GMAIL_OPS_TEST_CRASH GOOGLE_APPLICATION_CREDENTIALS \
    GOOGLE_SERVICE_ACCOUNT_EMAIL GMAIL_USER CURL_CA_BUNDLE
for v in $(env | sed -n 's/^\(OPS_GMAIL_COLLECT_[A-Z_]*\)=.*/\1/p'); do
	unset "$v"
done
OPS_GMAIL_COLLECT_ENABLED=true
OPS_GMAIL_COLLECT_ALLOWED_SENDERS="billing@shop.example,@cafe.example,@rail.example"
OPS_GMAIL_COLLECT_APPLY_LABELS=true
GMAIL_OPS_BACKOFF_BASE_MS=20
export OPS_GMAIL_COLLECT_ENABLED OPS_GMAIL_COLLECT_ALLOWED_SENDERS \
    OPS_GMAIL_COLLECT_APPLY_LABELS GMAIL_OPS_BACKOFF_BASE_MS

work=$(mktemp -d "${TMPDIR:-/tmp}/crash-trials.XXXXXX") || exit 1
fake=
cleanup() {
	[ -z "$fake" ] || kill "$fake" 2>/dev/null
	if [ "${KEEP:-}" = 1 ]; then
		echo "crash-trials: kept $work" >&2
	else
		rm -rf "$work"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

say() { printf 'crash-trials: %s\n' "$*" >&2; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }

# ---- seeded randomness: a 31-bit LCG, one stream per trial
rng=0
rand() {	# sets r to a number in [0, $1)
	rng=$(((rng * 1103515245 + 12345) % 2147483648))
	r=$(((rng / 65536) % $1))
}
rand_seed() {	# the stream of trial $1: seed and trial hashed
	x=$(((seed * 1000003 + $1) & 4294967295))
	x=$((((x ^ (x >> 16)) * 73244475) & 4294967295))
	x=$((((x ^ (x >> 16)) * 73244475) & 4294967295))
	rng=$(((x ^ (x >> 16)) % 2147483648))
}

# ---- the fake Google, with a generated mailbox
python3 "$top/tests/robust/gen-mailbox.py" "$work/mailbox" || exit 1
python3 "$top/tests/fake-google/fake_google.py" --port-file "$work/port" \
    --log "$work/fake.log" --mailbox "$work/mailbox" 2>"$work/fake.stderr" &
fake=$!
i=0
while [ ! -s "$work/port" ]; do
	i=$((i + 1))
	if [ $i -gt 200 ] || ! kill -0 "$fake" 2>/dev/null; then
		cat "$work/fake.stderr" >&2
		exit 1
	fi
	sleep 0.05
done
url=http://127.0.0.1:$(cat "$work/port")
GMAIL_API_URL=$url
GOOGLE_OAUTH_TOKEN_URL=$url/token
GOOGLE_OAUTH_REVOKE_URL=$url/revoke
export GMAIL_API_URL GOOGLE_OAUTH_TOKEN_URL GOOGLE_OAUTH_REVOKE_URL

ctl() {
	curl -sf -X "$1" -H 'Content-Type: application/json' \
	    ${3:+--data "$3"} "$url/_fake/$2"
}

# fresh DIR: the mailbox as loaded, a new base directory DIR, logged in.
fresh() {
	ctl POST reset '{"keep_config": true}' >/dev/null || return 1
	rm -rf "$1"
	mkdir -p "$1/var/credentials/gmail" || return 1
	chmod 700 "$1/var/credentials/gmail"
	cd "$1" || return 1
	OPS_GMAIL_COLLECT_BASE_DIR=$1
	export OPS_GMAIL_COLLECT_BASE_DIR
	printf '{"installed":{"client_id":"test-client.apps.googleusercontent.com","client_secret":"test-secret","auth_uri":"%s/o/oauth2/auth","token_uri":"%s/token"}}\n' \
	    "$url" "$url" >var/credentials/gmail/client_secret.json
	chmod 600 var/credentials/gmail/client_secret.json
	BROWSER=$top/tests/scripted-browser gmail-auth login --browser \
	    --timeout 20 >/dev/null 2>"$work/login.err" ||
	    { cat "$work/login.err" >&2; return 1; }
	gmail-check --fix >/dev/null 2>&1
	return 0
}

# The store's content, independent of ids and times: one line per receipt.
digest() {
	receipt-store list | jq -c '{gmail_message_id, part_id, sha256, state,
	    storage_path, original_filename}' | sort
}

# Each message's label names, one line per message, sorted.
labels() {
	ctl GET state | jq -c '.mailboxes["user@example.com"] as $m |
	    ($m.labels | map({(.id): .name}) | add) as $n |
	    $m.messages | to_entries[] |
	    [.key, (.value.labelIds | map($n[.] // .) | sort)]' | sort
}

# ps lines of session $1: "PID ARGS"; a zombie shows as [name].
session() {
	ps -s "$1" -o pid=,args= 2>/dev/null
}

# stages_in SID: "PID STAGE" for each live stage of the session; the
# driver is the session's leader, a zombie shows as [name].
stages_in() {
	session "$1" | awk -v sid="$1" '
	    $2 ~ /^\[/ { next }
	    $1 == sid { print $1, "driver"; next }
	    $2 == "receipt-store" && ($3 == "filter" || $3 == "ingest") {
		print $1, $2 "-" $3; next }
	    $2 == "gmail-list" || $2 == "gmail-fetch" ||
	    $2 == "mime-extract" || $2 == "gmail-label" { print $1, $2 }'
}

# stage_pid SID STAGE: the live process of that stage in the session.
stage_pid() {
	stages_in "$1" | awk -v s="$2" '$2 == s { print $1; exit }'
}

# alive PID STAGE: the process is still that stage, not a zombie (read
# from /proc without a fork, so that the check costs no time).
alive() {
	{ read -r st <"/proc/$1/stat"; } 2>/dev/null || return 1
	case $2 in
	driver) comm="collect-from-gm" ;;	# the script's name, cut to 15
	receipt-store-*) comm="receipt-store" ;;
	*) comm=$2 ;;
	esac
	case $st in
	*" ("*") Z "*|*" ("*") X "*) return 1 ;;
	*" ($comm) "*) return 0 ;;
	*" (setsid) "*) [ "$2" = driver ] ;;	# not yet the script
	*) return 1 ;;
	esac
}

# drain SID: waits until no process of the session is left (30 s at most).
drain() {
	i=0
	while [ -n "$(session "$1")" ] && [ $i -lt 600 ]; do
		i=$((i + 1))
		sleep 0.05
	done
}

# sample SID T0: appends "STAGE MS" for each stage alive in the session
# until it ends, MS from T0.
sample() {
	while [ -n "$(session "$1")" ]; do
		t=$(($(now_ms) - $2))
		stages_in "$1" | sed "s/^[0-9]* \(.*\)/\1 $t/"
		sleep 0.003
	done
}

# ---- the reference: what each message holds, then uninterrupted runs
say "seed $seed, trials $first..$((first + trials - 1)), latency ${latency}+-${jitter} ms, work $work"
ctl POST config "{\"latency_ms\": $latency, \"jitter_ms\": $jitter, \"seed\": $seed}" >/dev/null
fresh "$work/ref" || { say "cannot set up the reference"; exit 1; }
# Every attachment's sha256 per message, before labels hide them from
# gmail-list.
gmail-list 2>/dev/null | gmail-fetch 2>/dev/null | mime-extract --no-data 2>/dev/null |
    jq -r 'select(.type == "attachment") | "\(.msg_key) \(.sha256)"' |
    sort -u >"$work/ref.parts"
# Three runs, each stage's lifetime sampled: a moment drawn in the window
# where every one of them saw it alive is seldom missed.
for n in 1 2 3; do
	[ $n = 1 ] || fresh "$work/ref" || exit 1
	setsid collect-from-gmail --force >"$work/ref.out" 2>"$work/ref.err" &
	pid=$!
	sample "$pid" "$(now_ms)" | sed "s/\$/ $n/" >>"$work/ref.seen"
	wait "$pid"
	rc=$?
	if [ $rc -ne 0 ]; then
		cat "$work/ref.err" >&2
		say "the reference run failed (exit $rc)"
		exit 1
	fi
done
digest >"$work/ref.digest"
labels >"$work/ref.labels"
# Each stage's life, from its first sighting to its last, the mean of the
# runs; a moment is drawn in its first 70 %, counted from when the trial
# first sees it, so that a slower or faster machine still hits it.
for s in $stages; do
	w=$(awk -v s="$s" '$1 == s {
		if (!($3 in lo) || $2 < lo[$3]) lo[$3] = $2
		if ($2 > hi[$3]) hi[$3] = $2
	    } END {
		l = 0; k = 0; for (n in lo) { l += hi[n] - lo[n]; k++ }
		print (k == 0 ? 0 : int(l / k))
	    }' "$work/ref.seen")
	eval "life_$(echo "$s" | tr - _)=\$w"
done
say "reference: $(wc -l <"$work/ref.digest") receipts, $(grep -c gmail-ops/ "$work/ref.labels") messages labelled"
for s in $stages; do
	eval "w=\$life_$(echo "$s" | tr - _)"
	say "  $s lives ${w} ms"
done

# ---- checks
# After a killed run: a labelled message's attachments are all in the
# store, their files whole; every file under a final name is whole.
check_killed() {
	receipt-store list 2>/dev/null | jq -r '"\(.sha256) \(.storage_path)"' |
	    sort >"$work/t.receipts"
	labels | jq -r 'select(.[1] | map(test("^gmail-ops/")) | any) | .[0]' \
	    >"$work/t.labelled"
	while read -r msg; do
		grep "^$msg " "$work/ref.parts" | while read -r _ sha; do
			line=$(grep "^$sha " "$work/t.receipts" | head -n 1)
			if [ -z "$line" ]; then
				echo "message $msg labelled, but no receipt for $sha"
				continue
			fi
			got=$(sha256sum "var/${line#* }" 2>/dev/null | cut -c1-64)
			[ "$got" = "$sha" ] ||
			    echo "message $msg labelled, but var/${line#* } is not whole"
		done
	done <"$work/t.labelled"
	cut -d' ' -f2 "$work/ref.parts" | sort -u >"$work/t.shas"
	find var/incoming var/quarantine -type f ! -name '.*' 2>/dev/null |
	    while read -r f; do
		sha=$(sha256sum "$f" | cut -c1-64)
		grep -qx "$sha" "$work/t.shas" || echo "$f: a partial or unknown file under a final name"
	done
	find var/incoming var/quarantine -type l 2>/dev/null |
	    sed 's/$/: a symbolic link/'
}

# After the normal run: converged.
check_converged() {
	out=$(receipt-store verify 2>&1) || echo "verify: $out"
	digest >"$work/t.digest"
	cmp -s "$work/t.digest" "$work/ref.digest" ||
	    diff "$work/ref.digest" "$work/t.digest" | sed 's/^/receipts: /'
	labels >"$work/t.labels"
	cmp -s "$work/t.labels" "$work/ref.labels" ||
	    diff "$work/ref.labels" "$work/t.labels" | sed 's/^/labels: /'
	find var \( -name '.tmp-*' -o -name '.spool-*' -o -name '*.tmp.*' \) |
	    sed 's/$/: a temp file left/'
	[ ! -e var/spool/collect_from_gmail ] || echo "var/spool/collect_from_gmail: left"
	n=$(find var/incoming var/quarantine -type f | wc -l)
	[ "$n" -eq "$(wc -l <"$work/ref.digest")" ] ||
	    echo "$n files for $(wc -l <"$work/ref.digest") receipts"
	receipt-store jobs | jq -r 'select(.status == "running") |
	    "JobRun \(.job_run_id) left running"'
	receipt-store stats | jq -r 'select((.pending // 0) > 0) |
	    "\(.pending) journal entries left"'
}

# ---- the trials
start=$(now_ms)
converged=0
failed=0
hits=0
misses=0
violations=0
for s in $stages; do
	eval "kills_$(echo "$s" | tr - _)=0 missed_$(echo "$s" | tr - _)=0"
done
t=$first
last=$((first + trials - 1))
while [ "$t" -le "$last" ]; do
	rand_seed "$t"
	rand 7
	stage=$(echo "$stages" | cut -d' ' -f$((r + 1)))
	life=0
	eval "life=\$life_$(echo "$stage" | tr - _)"
	var_stage=$(echo "$stage" | tr - _)
	# A stage gone before its moment is a miss: the trial starts again
	# with another moment, five times at most.
	tries=0
	while :; do
		rand 1000
		at=$((life * 7 * r / 10000))
		fresh "$work/trial" || { say "trial $t: cannot set up"; exit 1; }
		ctl POST config "{\"latency_ms\": $latency, \"seed\": $((seed + t + 1000 * tries))}" >/dev/null
		: >"$work/fake.log"
		setsid collect-from-gmail --force >"$work/t.out" 2>"$work/t.err" &
		pid=$!
		t0=$(now_ms)
		victim=
		# the stage's first sighting, the moment, the kill
		while [ -n "$(session "$pid")" ]; do
			victim=$(stage_pid "$pid" "$stage")
			[ -z "$victim" ] || break
			sleep 0.002
		done
		if [ -n "$victim" ]; then
			[ "$at" -eq 0 ] || sleep "$((at / 1000)).$(printf %03d $((at % 1000)))"
			# still that stage (not exited, its pid not reused)
			if alive "$victim" "$stage"; then
				kill -KILL "$victim" 2>/dev/null || victim=
			else
				victim=
			fi
		fi
		killed_at=$(($(now_ms) - t0))
		{ wait "$pid"; } 2>/dev/null
		krc=$?
		drain "$pid"
		[ -z "$victim" ] || break
		misses=$((misses + 1))
		eval "missed_$var_stage=\$((missed_$var_stage + 1))"
		tries=$((tries + 1))
		[ $tries -lt 5 ] || break
	done
	if [ -n "$victim" ]; then
		hits=$((hits + 1))
		eval "kills_$var_stage=\$((kills_$var_stage + 1))"
		what="killed $stage at $killed_at ms ($at ms into its life)"
		[ $tries -eq 0 ] || what="$what after $tries misses"
	else
		what="no kill: $stage gone before its moment, 5 times"
	fi
	kstatus=$(receipt-store jobs --last 2>/dev/null | jq -r .status)

	problems=$(check_killed)
	ctl POST config '{"latency_ms": 0}' >/dev/null
	collect-from-gmail --force >"$work/n.out" 2>"$work/n.err"
	nrc=$?
	[ $nrc -eq 0 ] || problems="$problems
normal run: exit $nrc: $(tr '\n' ' ' <"$work/n.err")"
	problems="$problems
$(check_converged)"
	problems=$(printf '%s\n' "$problems" | sed '/^$/d')
	if [ -z "$problems" ]; then
		converged=$((converged + 1))
		[ -z "${VERBOSE:-}" ] ||
		    say "trial $t: $what: exit $krc ($kstatus); converged"
	else
		failed=$((failed + 1))
		case $problems in
		*labelled*|*"final name"*) violations=$((violations + 1)) ;;
		esac
		say "trial $t FAILED: $what; killed run exit $krc ($kstatus); replay: SEED=$seed FIRST=$t TRIALS=1"
		printf '%s\n' "$problems" | sed 's/^/    /' >&2
		sed 's/^/    killed run: /' "$work/t.err" >&2
		rm -rf "$work/failed-$t"
		cp -a "$work/trial" "$work/failed-$t"
		KEEP=1
	fi
	t=$((t + 1))
done
secs=$((($(now_ms) - start + 500) / 1000))

per=
for s in $stages; do
	v=$(echo "$s" | tr - _)
	k=0 m=0
	eval "k=\$kills_$v m=\$missed_$v"
	per="$per $s $k${m:+/$m missed}"
	[ "$m" != 0 ] || per=${per%/0 missed}
	per="$per,"
done
per=${per%,}
echo "crash-trials: $trials trials (seed $seed) in ${secs}s: $hits kills, $misses missed;$per; converged $converged/$trials; labels or files ahead of durability: $violations"
[ "$failed" -eq 0 ]
