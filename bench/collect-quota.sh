#!/bin/sh
# collect-quota.sh: the collection against the fake Google with 100 ms ±
# 30 ms latency and the per-user quota enforced, in both regimes. Reports
# quota units and calls per collected message against (a) the ideal (one
# messages.get each, plus the amortised list and batchModify) and (b) the
# seed's own flow (bench/seed-client.py: list, get format=full,
# attachments.get per attachment, modify per message) on the same mailbox;
# messages/s as a fraction of the quota ceiling; and a second, idle run
# (nothing new) in calls and units. Writes results/collect.*
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
n=${BENCH_MESSAGES:-2000}
work=$(mktemp -d "${TMPDIR:-/tmp}/gmail-ops-bench.XXXXXX")
fake=
cleanup() {
	[ -n "$fake" ] && kill "$fake" 2>/dev/null || true
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
PATH=$top/bin:$top/scripts:$PATH
export PATH

python3 "$top/bench/gen-mailbox.py" "$n" "$work/mailbox" 60
results=$top/bench/results
mkdir -p "$results"
rows=$work/rows.jsonl
: >"$rows"

# start_fake DIR REGIME [ARGS]: a fake on the mailbox, its URL in $url.
start_fake() {
	mkdir -p "$1"
	python3 "$top/tests/fake-google/fake_google.py" --port-file "$1/port" \
	    --log /dev/null --mailbox "$work/mailbox" --quota-regime "$2" \
	    ${3:+"$3"} ${4:+"$4"} 2>"$1/fake.err" &
	fake=$!
	while [ ! -s "$1/port" ]; do
		kill -0 "$fake" 2>/dev/null || { cat "$1/fake.err" >&2; exit 70; }
		sleep 0.05
	done
	url=http://127.0.0.1:$(cat "$1/port")
}

stop_fake() {
	kill "$fake"
	wait "$fake" 2>/dev/null || true
	fake=
}

# login BASE: client_secret.json and a token.json from gmail-auth login.
login() {
	mkdir -p "$1/var/credentials/gmail"
	chmod 700 "$1/var/credentials/gmail"
	printf '{"installed":{"client_id":"test-client.apps.googleusercontent.com","client_secret":"test-secret","auth_uri":"%s/o/oauth2/auth","token_uri":"%s/token"}}\n' \
	    "$url" "$url" >"$1/var/credentials/gmail/client_secret.json"
	chmod 600 "$1/var/credentials/gmail/client_secret.json"
	(cd "$1" && GMAIL_API_URL=$url GOOGLE_OAUTH_TOKEN_URL=$url/token \
	    OPS_GMAIL_COLLECT_BASE_DIR=$1 BROWSER=$top/tests/scripted-browser \
	    gmail-auth login --browser --timeout 20 >"$1/login.out" 2>&1) ||
	    { cat "$1/login.out" >&2; exit 70; }
}

# Gmail calls and units of the default user so far.
quota() {
	curl -sf "$url/_fake/state" | jq -c '[.quota[]?] |
	    {calls: (map(.calls) | add // 0), units: (map(.units) | add // 0),
	     rejects: (map(.rejects) | add // 0)}'
}

senders=billing@shop.example,@cafe.example,@rail.example
for regime in 2026 legacy; do
	base=$work/$regime
	start_fake "$base" "$regime"
	curl -sf -X POST -H 'Content-Type: application/json' \
	    --data '{"latency_ms": 100, "jitter_ms": 30}' "$url/_fake/config" >/dev/null
	export GMAIL_API_URL="$url" GOOGLE_OAUTH_TOKEN_URL="$url/token"
	export OPS_GMAIL_COLLECT_BASE_DIR="$base" OPS_GMAIL_COLLECT_ENABLED=true \
	    OPS_GMAIL_COLLECT_QUOTA_REGIME=$regime OPS_GMAIL_COLLECT_APPLY_LABELS=true \
	    OPS_GMAIL_COLLECT_MAX_ATTACH_PER_RUN=100000 \
	    OPS_GMAIL_COLLECT_ALLOWED_SENDERS=$senders
	login "$base"
	cd "$base"
	start=$(date +%s.%N)
	out=$(collect-from-gmail --force --json)
	end=$(date +%s.%N)
	state=$(curl -sf "$url/_fake/state")
	before=$(quota)
	# The idle cron run: nothing new since the first.
	istart=$(date +%s.%N)
	idle=$(collect-from-gmail --force --json)
	iend=$(date +%s.%N)
	after=$(quota)
	query=$(gmail-list --print-query)
	stop_fake
	cd "$top"

	# The seed's flow on the same mailbox, same regime. Latency 0 and no
	# quota ceiling: units and calls do not depend on them, and the
	# serial client would otherwise wait minutes for the window.
	sbase=$work/seed-$regime
	start_fake "$sbase" "$regime" --quota-limit 100000000
	login "$sbase"
	seed=$(python3 "$top/bench/seed-client.py" "$url" \
	    "$sbase/var/credentials/gmail" "$query" "$sbase/out" "$senders")
	sq=$(quota)
	stop_fake

	row=$(printf '%s\n' "$out" "$state" "$idle" "$before" "$after" "$seed" "$sq" |
	    jq -s -c --arg regime "$regime" --argjson n "$n" \
	    --argjson secs "$(awk -v a="$start" -v b="$end" 'BEGIN { print b - a }')" \
	    --argjson isecs "$(awk -v a="$istart" -v b="$iend" 'BEGIN { print b - a }')" '
	    .[0] as $r | .[1] as $s | .[2] as $i | .[3] as $b | .[4] as $a |
	    .[5] as $seed | .[6] as $sq |
	    (if $regime == "2026" then 20 else 5 end) as $get |
	    (if $regime == "2026" then 6000 else 15000 end) as $limit |
	    ($get + 5 / 500 + 50 / 1000 + 6 / $n) as $ideal |
	    ($r.quota_units / $r.created) as $upm |
	    ($r.created / $secs) as $rate | ($limit / $get / 60) as $ceil |
	    ([$s.quota[]?.rejects] | add // 0) as $rej |
	    ($sq.units / $seed.collected) as $supm |
	    {regime: $regime, messages: $n, created: $r.created,
	     api_calls: $r.gmail_api_calls, calls_per_msg: ($r.gmail_api_calls / $r.created),
	     quota_units: $r.quota_units, units_per_msg: $upm, ideal_units_per_msg: $ideal,
	     units_ratio: ($upm / $ideal), seconds: $secs, msg_per_s: $rate,
	     ceiling_msg_per_s: $ceil, fraction_of_ceiling: ($rate / $ceil),
	     rate_limit_answers: $rej,
	     seed: {collected: $seed.collected, attachments: $seed.attachments,
	       calls_by_method: $seed.calls, api_calls: $sq.calls, quota_units: $sq.units,
	       rate_limit_answers: $sq.rejects,
	       calls_per_msg: ($sq.calls / $seed.collected), units_per_msg: $supm,
	       units_ratio_to_ideal: ($supm / $ideal)},
	     units_ratio_to_seed: ($upm / $supm),
	     calls_ratio_to_seed: (($r.gmail_api_calls / $r.created) / ($sq.calls / $seed.collected)),
	     idle_run: {created: $i.created, api_calls: ($a.calls - $b.calls),
	       quota_units: ($a.units - $b.units), jobrun_api_calls: $i.gmail_api_calls,
	       jobrun_quota_units: $i.quota_units, seconds: $isecs,
	       goal_calls: 2, ok: (($a.calls - $b.calls) <= 2)}}')
	printf '%s\n' "$row" >>"$rows"
done
jq -s . "$rows" >"$results/collect.json"
jq -r --arg n "$n" --arg date "$(date -u +%F)" '
def r(k): . * k | round / k;
"# Collection against the fake Google (100 ms ± 30 ms, quota enforced)",
"",
"Command: make bench (bench/collect-quota.sh, BENCH_MESSAGES=\($n)), \($date).",
"Ideal units/msg: one messages.get each, plus messages.list (5 per 500)",
"and batchModify (50 per 1000) amortised, plus labels.list/create (6).",
"",
"| regime | messages | created | API calls | calls/msg | quota units | units/msg | ideal units/msg | units ratio (goal ≤ 1.02) | msg/s | ceiling msg/s | fraction of ceiling | rate-limit answers |",
"|---|---|---|---|---|---|---|---|---|---|---|---|---|",
(.[] | "| \(.regime) | \(.messages) | \(.created) | \(.api_calls) | \(.calls_per_msg | r(1000)) | \(.quota_units) | \(.units_per_msg | r(100)) | \(.ideal_units_per_msg | r(100)) | \(.units_ratio | r(1000)) | \(.msg_per_s | r(100)) | \(.ceiling_msg_per_s | r(100)) | \(.fraction_of_ceiling | r(1000)) | \(.rate_limit_answers) |"),
"",
"## Against the seed'\''s flow",
"",
"bench/seed-client.py, the seed plan'\''s flow in Python: labels.list/create,",
"messages.list (Gmail'\''s default page of 100) with the query gmail-list sends,",
"messages.get format=full per message, messages.attachments.get per",
"attachment, messages.modify per message. Same mailbox and regime, on a",
"fresh fake with latency 0 and no quota ceiling (the counts do not depend",
"on them). Counts from the fake'\''s /_fake/state.",
"",
"| regime | collected | ours calls/msg | seed calls/msg | ours/seed calls | ours units/msg | seed units/msg | ideal units/msg | ours/ideal (goal ≤ 1.02) | seed/ideal | ours/seed units |",
"|---|---|---|---|---|---|---|---|---|---|---|",
(.[] | "| \(.regime) | \(.created) / \(.seed.collected) | \(.calls_per_msg | r(1000)) | \(.seed.calls_per_msg | r(1000)) | \(.calls_ratio_to_seed | r(1000)) | \(.units_per_msg | r(100)) | \(.seed.units_per_msg | r(100)) | \(.ideal_units_per_msg | r(100)) | \(.units_ratio | r(1000)) | \(.seed.units_ratio_to_ideal | r(1000)) | \(.units_ratio_to_seed | r(1000)) |"),
"",
"Seed calls by method: " + ([.[] | "\(.regime) \(.seed.calls_by_method | to_entries | map("\(.key) \(.value)") | join(", "))"] | join("; ")) + ".",
"",
"## Idle cron run",
"",
"A second collect-from-gmail right after the first, nothing new; calls and",
"units from the fake'\''s counters around it (the JobRun'\''s own count beside).",
"",
"| regime | created | API calls (goal ≤ 2) | quota units | JobRun calls | JobRun units | seconds | goal met |",
"|---|---|---|---|---|---|---|---|",
(.[] | .idle_run as $i | "| \(.regime) | \($i.created) | \($i.api_calls) | \($i.quota_units) | \($i.jobrun_api_calls) | \($i.jobrun_quota_units) | \($i.seconds | r(100)) | \($i.ok) |")
' "$results/collect.json" >"$results/collect.md"
cat "$results/collect.md"
