#!/bin/sh
# mail-track.sh: the tracking pixel under wrk (-t2 -c32 -d10s) beside
# nginx serving the same 43-byte GIF from a file, on loopback, on this
# machine. Reports hits/s and p99 latency of both and their ratio, then
# checks the counts: every hit wrk saw answered is in open_count, and
# open_count is exactly the hits mail-track answered; then 2000 hits from
# 32 parallel curl transfers must add exactly 2000. Writes
# results/mail-track.md and .json.
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
secs=${BENCH_SECONDS:-10}
exact=${BENCH_EXACT:-2000}
wrk_opts="-t2 -c32 -d${secs}s --latency"
conns=32
for t in wrk nginx curl jq python3; do
	command -v "$t" >/dev/null || { echo "mail-track.sh: $t: not installed (make deps)" >&2; exit 69; }
done
work=$(mktemp -d "${TMPDIR:-/tmp}/gmail-ops-bench.XXXXXX")
mt=
ngx=
cleanup() {
	[ -n "$mt" ] && kill "$mt" 2>/dev/null || true
	[ -n "$ngx" ] && kill "$ngx" 2>/dev/null || true
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
PATH=$top/bin:$PATH
export PATH
results=$top/bench/results
mkdir -p "$results"

# nginx's workers drop to nobody when run as root: they read www/.
chmod 755 "$work"
mkdir -p "$work/www" "$work/tmp" "$work/base"
printf 'GIF89a\001\000\001\000\200\000\000\000\000\000\377\377\377!\371\004\001\000\000\000\000,\000\000\000\000\001\000\001\000\000\002\002D\001\000;' \
    >"$work/www/pixel.gif"
chmod 644 "$work/www/pixel.gif"
[ "$(wc -c <"$work/www/pixel.gif")" -eq 43 ]

# The store: a few hundred records, as after a mailing, and the pixel.
export OPS_GMAIL_COLLECT_BASE_DIR="$work/base"
cd "$work/base"
"$top/build/normal/unit/pixel-put" 500 >ids
pixel=$(sed -n 250p ids)
exact_pixel=$(sed -n 251p ids)

mail-track -l 127.0.0.1:0 >"$work/mt.out" 2>"$work/mt.err" &
mt=$!
i=0
until [ -s "$work/mt.out" ]; do
	i=$((i + 1))
	[ $i -lt 100 ] && kill -0 $mt 2>/dev/null || { cat "$work/mt.err" >&2; exit 70; }
	sleep 0.05
done
mt_addr=$(head -1 "$work/mt.out" | jq -r .address)

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat >"$work/nginx.conf" <<EOF
daemon off;
worker_processes auto;
pid $work/nginx.pid;
error_log $work/nginx-error.log warn;
events { worker_connections 1024; }
http {
	access_log off;
	server_tokens off;
	client_body_temp_path $work/tmp/body;
	proxy_temp_path $work/tmp/proxy;
	fastcgi_temp_path $work/tmp/fastcgi;
	uwsgi_temp_path $work/tmp/uwsgi;
	scgi_temp_path $work/tmp/scgi;
	types { image/gif gif; }
	server {
		listen 127.0.0.1:$port;
		root $work/www;
		location = /pixel.gif { add_header Cache-Control "no-store, private"; }
	}
}
EOF
nginx -e "$work/nginx-error.log" -c "$work/nginx.conf" 2>"$work/nginx.err" &
ngx=$!
i=0
until curl -sf -o /dev/null "http://127.0.0.1:$port/pixel.gif"; do
	i=$((i + 1))
	[ $i -lt 100 ] && kill -0 $ngx 2>/dev/null || { cat "$work/nginx.err" "$work/nginx-error.log" >&2; exit 70; }
	sleep 0.05
done

# Both answer the same bytes (an id without a record: no hit counted).
curl -sf "http://$mt_addr/00000000-0000-4000-8000-000000000000.gif" |
    cmp -s - "$work/www/pixel.gif"
curl -sf "http://127.0.0.1:$port/pixel.gif" | cmp -s - "$work/www/pixel.gif"

# run_wrk NAME URL: wrk's figures as one JSON object.
run_wrk() {
	# shellcheck disable=SC2086
	wrk $wrk_opts "$2" >"$work/$1.wrk"
	awk -v name="$1" '
	function ms(v) {
		if (v ~ /us$/) return substr(v, 1, length(v) - 2) / 1000
		if (v ~ /ms$/) return substr(v, 1, length(v) - 2) + 0
		if (v ~ /s$/) return substr(v, 1, length(v) - 1) * 1000
		return v + 0
	}
	$1 == "99%" { p99 = ms($2) }
	$1 == "50%" { p50 = ms($2) }
	/ requests in / { done = $1 }
	/^Requests\/sec:/ { rps = $2 }
	/^Non-2xx or 3xx responses:/ { bad = $NF }
	/^  Socket errors:/ { gsub(/,/, ""); errs = $4 + $6 + $8 + $10 }
	END {
		printf "{\"server\":\"%s\",\"requests_per_s\":%s,\"p50_ms\":%s,\"p99_ms\":%s,\"completed\":%s,\"non_2xx\":%d,\"socket_errors\":%d}\n",
		    name, rps, p50, p99, done, bad, errs
	}' "$work/$1.wrk"
}

ngx_json=$(run_wrk nginx "http://127.0.0.1:$port/pixel.gif")
mt_json=$(run_wrk mail-track "http://$mt_addr/$pixel.gif")
# For scale: the same server when there is nothing to write (an id with
# no record): its HTTP side alone.
http_json=$(run_wrk mail-track-no-write "http://$mt_addr/00000000-0000-4000-8000-000000000001.gif")
open_count=$(mail-send --opens "$pixel" | jq .open_count)

# The exact check: a known number of hits, every answer looked at.
i=0
while [ $i -lt "$exact" ]; do
	printf 'url = "http://%s/%s.gif"\noutput = /dev/null\n' "$mt_addr" "$exact_pixel"
	i=$((i + 1))
done >"$work/curl.cfg"
exact_ok=$(curl -s -Z --parallel-max $conns -w '%{http_code}\n' -K "$work/curl.cfg" 2>/dev/null |
    grep -c '^200$' || true)
exact_count=$(mail-send --opens "$exact_pixel" | jq .open_count)

kill -TERM $mt
wait $mt || true
mt=
stopped=$(tail -1 "$work/mt.out")
kill -TERM $ngx
wait $ngx 2>/dev/null || true
ngx=

cpus=$(nproc)
cpu_model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
json=$(jq -n --argjson n "$ngx_json" --argjson m "$mt_json" --argjson h "$http_json" \
    --argjson open "$open_count" --argjson stopped "$stopped" \
    --argjson exact "$exact" --argjson exact_ok "$exact_ok" \
    --argjson exact_count "$exact_count" --argjson conns $conns \
    --arg wrk "wrk $wrk_opts" --arg date "$(date -u +%FT%TZ)" \
    --argjson cpus "$cpus" --arg cpu "$cpu_model" \
    --arg nginx "$(nginx -v 2>&1 | sed 's/^nginx version: //')" '
    ($stopped.hits - $stopped.unknown - $exact) as $received |
    {date: $date, machine: {cpus: $cpus, cpu: $cpu}, load: $wrk, nginx_version: $nginx,
     nginx: $n, mail_track: ($m + {open_count: $open, received_hits: $received}),
     mail_track_no_write: $h,
     ratio_requests_per_s: ($m.requests_per_s / $n.requests_per_s),
     ratio_p99: ($m.p99_ms / $n.p99_ms),
     counts: {
       wrk_completed: $m.completed, open_count: $open,
       in_flight_when_wrk_stopped: ($open - $m.completed),
       open_count_equals_received: ($open == $received),
       wrk_completed_all_counted: ($open >= $m.completed and $open - $m.completed <= $conns),
       exact_requests: $exact, exact_answered_200: $exact_ok, exact_open_count: $exact_count,
       exact_ok: ($exact_ok == $exact and $exact_count == $exact),
       non_2xx: ($m.non_2xx + $n.non_2xx + $h.non_2xx),
       socket_errors: ($m.socket_errors + $n.socket_errors + $h.socket_errors),
       store_errors: $stopped.errors}} |
    .counts.ok = (.counts.open_count_equals_received and .counts.wrk_completed_all_counted
       and .counts.exact_ok and .counts.non_2xx == 0 and .counts.socket_errors == 0
       and .counts.store_errors == 0)')
printf '%s\n' "$json" >"$results/mail-track.json"
printf '%s' "$json" | jq -r '
def r(n): . * n | round / n;
"# mail-track beside nginx: the tracking pixel under wrk",
"",
"Command: make bench (bench/mail-track.sh), \(.date); \(.load) on loopback;",
"\(.machine.cpus) CPUs (\(.machine.cpu)); nginx \(.nginx_version) with",
"worker_processes auto serves the same 43-byte GIF from a file, access log off.",
"mail-track: default pool (2 threads per CPU), one LMDB write transaction",
"per hit (MDB_NOMETASYNC: one sync per hit), 500 tracking records.",
"",
"| server | hits/s | p50 ms | p99 ms | completed | non-2xx | socket errors |",
"|---|---|---|---|---|---|---|",
(.nginx, .mail_track, .mail_track_no_write | "| \(.server) | \(.requests_per_s | r(1)) | \(.p50_ms) | \(.p99_ms) | \(.completed) | \(.non_2xx) | \(.socket_errors) |"),
"",
"mail-track / nginx: \(.ratio_requests_per_s | r(1000)) of the hits/s, \(.ratio_p99 | r(100))x the p99 latency.",
"The no-write row, for scale, is mail-track answering an id without a record:",
"the HTTP side alone, \(.mail_track_no_write.requests_per_s / .nginx.requests_per_s | r(1000)) of nginx; the rest of the gap is the",
"store, one synced LMDB commit per hit.",
"",
"## Counts afterwards",
"",
"- wrk completed \(.counts.wrk_completed) requests; open_count is \(.counts.open_count):",
"  \(.counts.in_flight_when_wrk_stopped) more: the requests in flight on wrk\u0027s 32 connections when it",
"  stopped at the deadline, answered but not read (at most one per connection).",
"- open_count equals the pixel requests mail-track received (its own count): \(.counts.open_count_equals_received).",
"- \(.counts.exact_requests) hits from 32 parallel curl transfers: \(.counts.exact_answered_200) answered 200,",
"  open_count \(.counts.exact_open_count): exact \(.counts.exact_ok).",
"- non-2xx \(.counts.non_2xx), socket errors \(.counts.socket_errors), store errors \(.counts.store_errors).",
"",
"All checks: \(if .counts.ok then "passed" else "FAILED" end)."
' >"$results/mail-track.md"
cat "$results/mail-track.md"
[ "$(printf '%s' "$json" | jq .counts.ok)" = true ]
