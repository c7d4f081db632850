#!/bin/sh
# collect-quota.sh: the collection against the fake Google with 100 ms ±
# 30 ms latency and the per-user quota enforced, in both regimes. Reports
# quota units and calls per collected message against the ideal (one
# messages.get each, plus the amortised list and batchModify), and
# messages/s as a fraction of the quota ceiling. Writes results/collect.*
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
n=${BENCH_MESSAGES:-300}
work=$(mktemp -d "${TMPDIR:-/tmp}/gmail-ops-bench.XXXXXX")
trap 'kill $fake 2>/dev/null || true; rm -rf "$work"' EXIT INT TERM
PATH=$top/bin:$top/scripts:$PATH
export PATH

python3 "$top/bench/gen-mailbox.py" "$n" "$work/mailbox" 60
results=$top/bench/results
mkdir -p "$results"
rows=$work/rows.jsonl
: >"$rows"
md="| regime | messages | created | API calls | calls/msg | quota units | units/msg | ideal units/msg | units ratio (goal ≤ 1.02) | msg/s | ceiling msg/s | fraction of ceiling | rate-limit answers |
|---|---|---|---|---|---|---|---|---|---|---|---|---|"

for regime in 2026 legacy; do
	base=$work/$regime
	mkdir -p "$base"
	cd "$base"
	python3 "$top/tests/fake-google/fake_google.py" --port-file port \
	    --log /dev/null --mailbox "$work/mailbox" --quota-regime "$regime" \
	    2>fake.err &
	fake=$!
	while [ ! -s port ]; do sleep 0.05; done
	url=http://127.0.0.1:$(cat port)
	curl -sf -X POST -H 'Content-Type: application/json' \
	    --data '{"latency_ms": 100, "jitter_ms": 30}' "$url/_fake/config" >/dev/null
	export GMAIL_API_URL=$url GOOGLE_OAUTH_TOKEN_URL=$url/token
	export OPS_GMAIL_COLLECT_BASE_DIR=$base OPS_GMAIL_COLLECT_ENABLED=true \
	    OPS_GMAIL_COLLECT_QUOTA_REGIME=$regime OPS_GMAIL_COLLECT_APPLY_LABELS=true \
	    OPS_GMAIL_COLLECT_MAX_ATTACH_PER_RUN=100000 \
	    OPS_GMAIL_COLLECT_ALLOWED_SENDERS=billing@shop.example,@cafe.example,@rail.example
	mkdir -p var/credentials/gmail
	chmod 700 var/credentials/gmail
	printf '{"installed":{"client_id":"test-client.apps.googleusercontent.com","client_secret":"test-secret","auth_uri":"%s/o/oauth2/auth","token_uri":"%s/token"}}\n' \
	    "$url" "$url" >var/credentials/gmail/client_secret.json
	chmod 600 var/credentials/gmail/client_secret.json
	BROWSER=$top/tests/scripted-browser gmail-auth login --browser --timeout 20 >/dev/null 2>&1
	start=$(date +%s.%N)
	out=$(collect-from-gmail --force --json)
	end=$(date +%s.%N)
	state=$(curl -sf "$url/_fake/state")
	kill $fake
	wait $fake 2>/dev/null || true
	row=$(printf '%s\n%s\n' "$out" "$state" | jq -s -r --arg regime "$regime" \
	    --argjson n "$n" --argjson secs "$(awk -v a="$start" -v b="$end" 'BEGIN { print b - a }')" '
	    .[0] as $r | .[1] as $s |
	    (if $regime == "2026" then 20 else 5 end) as $get |
	    (if $regime == "2026" then 6000 else 15000 end) as $limit |
	    ($get + 5 / 500 + 50 / 1000 + 6 / $n) as $ideal |
	    ($r.quota_units / $r.created) as $upm |
	    ($r.created / $secs) as $rate | ($limit / $get / 60) as $ceil |
	    ([$s.quota[]?.rejects] | add // 0) as $rej |
	    {regime: $regime, messages: $n, created: $r.created,
	     api_calls: $r.gmail_api_calls, calls_per_msg: ($r.gmail_api_calls / $r.created),
	     quota_units: $r.quota_units, units_per_msg: $upm, ideal_units_per_msg: $ideal,
	     units_ratio: ($upm / $ideal), seconds: $secs, msg_per_s: $rate,
	     ceiling_msg_per_s: $ceil, fraction_of_ceiling: ($rate / $ceil),
	     rate_limit_answers: $rej}')
	printf '%s\n' "$row" >>"$rows"
	md="$md
$(printf '%s' "$row" | jq -r '"| \(.regime) | \(.messages) | \(.created) | \(.api_calls) | \(.calls_per_msg | . * 1000 | round / 1000) | \(.quota_units) | \(.units_per_msg | . * 100 | round / 100) | \(.ideal_units_per_msg | . * 100 | round / 100) | \(.units_ratio | . * 1000 | round / 1000) | \(.msg_per_s | . * 100 | round / 100) | \(.ceiling_msg_per_s | . * 100 | round / 100) | \(.fraction_of_ceiling | . * 1000 | round / 1000) | \(.rate_limit_answers) |"')"
	cd "$top"
done
jq -s . "$rows" >"$results/collect.json"
{
	echo "# Collection against the fake Google (100 ms ± 30 ms, quota enforced)"
	echo
	echo "Command: make bench (bench/collect-quota.sh, BENCH_MESSAGES=$n), $(date -u +%F)."
	echo "Ideal units/msg: one messages.get each, plus messages.list (5 per 500)"
	echo "and batchModify (50 per 1000) amortised, plus labels.list/create (6)."
	echo
	echo "$md"
} >"$results/collect.md"
cat "$results/collect.md"
