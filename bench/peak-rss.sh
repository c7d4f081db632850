#!/bin/sh
# peak-rss.sh: the peak RSS of each stage of the collection (gmail-list,
# receipt-store filter, gmail-fetch, mime-extract, receipt-store ingest,
# gmail-label), each run by collect-from-gmail under GNU time, against the
# fake Google (latency 0, no quota ceiling) with a mailbox of 1,000 and of
# 10,000 messages (BENCH_RSS_SIZES), each receipt-like (bench/gen-mailbox.py,
# 60 KB attachments), plus in both one large message (BENCH_RSS_BIG_KB,
# default 30 MB of attachment: a 42 MB message; Gmail takes up to 50 MB).
# Reports KB at each size, the ratio of the largest to the smallest size
# (goal: flat) and the margin above the largest single message (goal: at
# most 64 MB). Writes results/peak-rss.md and .json.
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
sizes=${BENCH_RSS_SIZES:-1000 10000}
big_kb=${BENCH_RSS_BIG_KB:-30720}
for t in python3 jq curl /usr/bin/time; do
	command -v "$t" >/dev/null || { echo "peak-rss.sh: $t: not installed (make deps)" >&2; exit 69; }
done
work=$(mktemp -d "${TMPDIR:-/tmp}/gmail-ops-bench.XXXXXX")
fake=
cleanup() {
	[ -n "$fake" ] && kill "$fake" 2>/dev/null || true
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
results=$top/bench/results
mkdir -p "$results"

# Each tool the driver runs, wrapped: its peak RSS (KB) in
# $BENCH_RSS_DIR/TOOL[-COMMAND].
mkdir -p "$work/wrap"
for t in gmail-list gmail-fetch mime-extract receipt-store gmail-label; do
	cat >"$work/wrap/$t" <<EOF
#!/bin/sh
tag=$t
[ "$t" = receipt-store ] && tag=$t-\$1
exec /usr/bin/time -f '%M %U %S' -o "\$BENCH_RSS_DIR/\$tag" "$top/bin/$t" "\$@"
EOF
	chmod +x "$work/wrap/$t"
done
PATH=$work/wrap:$top/bin:$top/scripts:$PATH
export PATH

python3 "$top/bench/gen-mailbox.py" 1 "$work/big" "$big_kb"
rows=$work/rows.jsonl
: >"$rows"
for n in $sizes; do
	echo "peak-rss.sh: $n messages" >&2
	mb=$work/mailbox-$n
	python3 "$top/bench/gen-mailbox.py" "$n" "$mb" 60
	cp "$work/big/000000.eml" "$mb/big.eml"
	largest=$(find "$mb" -type f -printf '%s\n' | sort -n | tail -1)
	base=$work/base-$n
	mkdir -p "$base/rss"
	python3 "$top/tests/fake-google/fake_google.py" --port-file "$base/port" \
	    --log /dev/null --mailbox "$mb" --quota-limit 100000000 2>"$base/fake.err" &
	fake=$!
	while [ ! -s "$base/port" ]; do
		kill -0 "$fake" 2>/dev/null || { cat "$base/fake.err" >&2; exit 70; }
		sleep 0.1
	done
	url=http://127.0.0.1:$(cat "$base/port")
	mkdir -p "$base/var/credentials/gmail"
	chmod 700 "$base/var/credentials/gmail"
	printf '{"installed":{"client_id":"test-client.apps.googleusercontent.com","client_secret":"test-secret","auth_uri":"%s/o/oauth2/auth","token_uri":"%s/token"}}\n' \
	    "$url" "$url" >"$base/var/credentials/gmail/client_secret.json"
	chmod 600 "$base/var/credentials/gmail/client_secret.json"
	cd "$base"
	export GMAIL_API_URL="$url" GOOGLE_OAUTH_TOKEN_URL="$url/token"
	export OPS_GMAIL_COLLECT_BASE_DIR="$base" OPS_GMAIL_COLLECT_ENABLED=true \
	    OPS_GMAIL_COLLECT_APPLY_LABELS=true OPS_GMAIL_COLLECT_MAX_ATTACH_PER_RUN=1000000 \
	    OPS_GMAIL_COLLECT_QUOTA_LIMIT=100000000 OPS_GMAIL_COLLECT_MAX_SIZE_BYTES=64M \
	    OPS_GMAIL_COLLECT_ALLOWED_SENDERS=billing@shop.example,@cafe.example,@rail.example
	BROWSER=$top/tests/scripted-browser gmail-auth login --browser --timeout 20 \
	    >"$base/login.out" 2>&1 || { cat "$base/login.out" >&2; exit 70; }
	start=$(date +%s.%N)
	BENCH_RSS_DIR=$base/rss collect-from-gmail --force --json >"$base/summary.json"
	end=$(date +%s.%N)
	cd "$top"
	kill "$fake"
	wait "$fake" 2>/dev/null || true
	fake=
	db=$(stat -c %s "$base/var/db/data.mdb")
	for f in "$base"/rss/*; do
		tail -1 "$f" | jq -R -c --arg tool "$(basename "$f" | sed 's/-/ /2')" \
		    'split(" ") | map(tonumber) | {tool: $tool, kb: .[0], cpu_s: (.[1] + .[2])}'
	done | jq -s -c --argjson n "$n" --argjson largest "$largest" --argjson db "$db" \
	    --argjson secs "$(awk -v a="$start" -v b="$end" 'BEGIN { print b - a }')" \
	    --slurpfile s "$base/summary.json" \
	    '{messages: ($n + 1), largest_message_bytes: $largest, seconds: $secs,
	      created: $s[0].created, status: $s[0].status, db_bytes: $db,
	      peak_kb: (map({key: .tool, value: .kb}) | from_entries),
	      cpu_s: (map({key: .tool, value: .cpu_s}) | from_entries)}' >>"$rows"
done

json=$(jq -s -c --arg date "$(date -u +%FT%TZ)" --arg sizes "$sizes" '
    (.[0]) as $lo | (.[-1]) as $hi |
    {date: $date, runs: ., tools: [
      ("gmail-list", "receipt-store filter", "gmail-fetch", "mime-extract",
       "receipt-store ingest", "gmail-label") as $t |
      {tool: $t, kb: [.[] | .peak_kb[$t]], ratio: ($hi.peak_kb[$t] / $lo.peak_kb[$t]),
       margin_kb: ($hi.peak_kb[$t] - $hi.largest_message_bytes / 1024)} |
      . + {flat: (.ratio <= 1.10), within_64mb: (.margin_kb <= 65536)}]} |
    .ok = ([.runs[] | .created == .messages] | all)' "$rows")
printf '%s\n' "$json" >"$results/peak-rss.json"
printf '%s' "$json" | jq -r '
def r(k): . * k | round / k;
"# Peak RSS of each stage, at \(.runs | map(.messages | tostring) | join(" and ")) messages",
"",
"Command: make bench (bench/peak-rss.sh), \(.date). collect-from-gmail against the fake Google",
"(latency 0, no quota ceiling, labels applied), each tool under GNU time (%M, KB).",
"Mailboxes: bench/gen-mailbox.py (60 KB attachments) plus one large message, the largest,",
"\(.runs[-1].largest_message_bytes) bytes, in each. Flat: largest / smallest size ≤ 1.10.",
"Margin: peak at the largest size minus the largest message.",
"",
"| tool | " + (.runs | map("KB at \(.messages)") | join(" | ")) + " | ratio (goal ≈ 1.0, flat) | margin above largest message, KB (goal ≤ 65536) | flat | within 64 MB |",
"|---|" + (.runs | map("---") | join("|")) + "|---|---|---|---|",
(.tools[] | "| \(.tool) | " + (.kb | map(tostring) | join(" | ")) + " | \(.ratio | r(100)) | \(.margin_kb | round) | \(.flat) | \(.within_64mb) |"),
"",
(.runs[] | "- \(.messages) messages: \(.created) receipts created, status \(.status), \(.seconds | r(10)) s; var/db/data.mdb \(.db_bytes / 1048576 | r(10)) MB."),
"",
"GNU time'\''s %M counts file-backed pages too: the tools that read var/db/data.mdb (LMDB) map it,",
"and the pages they read would count in their RSS as the database grows; lib/store.c lets them go",
"(madvise) every 2 calls on the database and after each commit.",
"",
"All runs collected every message: \(if .ok then "yes" else "NO" end)."
' >"$results/peak-rss.md"
cat "$results/peak-rss.md"
[ "$(printf '%s' "$json" | jq .ok)" = true ]
