#!/bin/sh
# summary.sh: the goals of the performance issue beside the figures that
# `make bench` measured, one table, from bench/results/*.json (written by
# collect-quota.sh, local-throughput.sh and peak-rss.sh in the same run).
# Writes results/summary.md and .json; exits 1 when a goal is not met.
set -eu

results=$(cd "$(dirname "$0")" && pwd)/results
for f in collect local-throughput peak-rss; do
	[ -s "$results/$f.json" ] || {
		echo "summary.sh: $results/$f.json: missing (make bench)" >&2
		exit 66
	}
done

jq -n -c --slurpfile c "$results/collect.json" \
    --slurpfile l "$results/local-throughput.json" \
    --slurpfile p "$results/peak-rss.json" '
  def row(n; f; v; op; g): {n: n, figure: f, value: v, goal: "\(op) \(g)",
    met: (if op == "≤" then v <= g elif op == "<" then v < g else v >= g end)};
  ($c[0] | map(select(.regime == "2026"))[0]) as $new |
  ($c[0] | map(select(.regime == "legacy"))[0]) as $old |
  ($l[0].goals | map({key: .figure, value: .value}) | from_entries) as $lg |
  ($l[0].runs | map(select(.name == "mime-extract | receipt-store ingest"))[0]) as $ours |
  [row(1; "quota units per message / ideal, 2026 regime"; $new.units_ratio; "≤"; 1.02),
   row(1; "quota units per message / ideal, legacy regime"; $old.units_ratio; "≤"; 1.02),
   row(1; "quota units per message / seed flow, 2026 regime"; $new.units_ratio_to_seed; "≤"; 1),
   row(2; "messages/s / quota ceiling, 2026 regime (2,000 messages)"; $new.fraction_of_ceiling; "≥"; 0.9),
   row(2; "messages/s / quota ceiling, legacy regime"; $old.fraction_of_ceiling; "≥"; 0.9),
   row(2; "calls answered 429 or 403 rate, 2026 regime (fraction)"; ($new.rate_limit_answers / $new.api_calls); "<"; 0.01),
   row(2; "calls answered 429 or 403 rate, legacy regime (fraction)"; ($old.rate_limit_answers / $old.api_calls); "<"; 0.01),
   row(3; "local MB/s: ours / Python email"; $lg["ours / Python email"]; "≥"; 3),
   row(3; "local MB/s: ours / ripmime"; $lg["ours / ripmime, its faster mode"]; "≥"; 1),
   row(3; "local MB/s: ours / limit"; $lg["ours / limit"]; "≥"; 0.5)] +
  ($p[0].tools | map(
     row(4; "peak RSS at \($p[0].runs[-1].messages) / at \($p[0].runs[0].messages) messages, \(.tool)"; .ratio; "≤"; 1.1),
     row(4; "peak RSS above the largest message, MB, \(.tool)"; (.margin_kb / 1024); "≤"; 64))) +
  [row(5; "API calls of an idle run, 2026 regime"; $new.idle_run.api_calls; "≤"; 2),
   row(5; "API calls of an idle run, legacy regime"; $old.idle_run.api_calls; "≤"; 2)] |
  {date: $l[0].date, local_mb_per_s: $ours.mb_per_s, rows: ., all_met: (map(.met) | all)}
' >"$results/summary.json"

jq -r '
def r: . * 1000 | round / 1000;
"# make bench: the goals",
"",
"From bench/results/*.json of this run (\(.date)); the tables behind each figure are in",
"collect.md, local-throughput.md and peak-rss.md beside this file.",
"",
"| # | figure | value | goal | met |",
"|---|---|---|---|---|",
(.rows[] | "| \(.n) | \(.figure) | \(.value | r) | \(.goal) | \(.met) |"),
"",
"All goals met: \(.all_met)."' "$results/summary.json" >"$results/summary.md"
cat "$results/summary.md"
[ "$(jq .all_met "$results/summary.json")" = true ]
