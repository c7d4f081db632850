#!/usr/bin/env bats
# mail-track, the open-tracking pixel, driven with curl on loopback: the
# GIF and its headers, hits counted in the records mail-send made (sent
# with tracking through the fake Google) and shown by mail-send --opens,
# the classification of each hit, unknown and hostile paths, exact counts
# under 20 parallel clients, the options, a busy port, a clean stop.

load helpers

# The 43-byte GIF, as hex.
GIF_HEX=47494638396101000100800000000000ffffff21f90401000000002c00000000010001000002024401003b
NOID=00000000-0000-4000-8000-000000000000
GMAIL_UA='Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)'
APPLE_MAIL_UA='Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148'
CHROME_UA='Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36'

setup() {
	setup_base
	MT_PID=
}

teardown() {
	if [ -n "$MT_PID" ]; then
		kill "$MT_PID" 2>/dev/null || true
		wait "$MT_PID" 2>/dev/null || true
	fi
	fake_stop
}

# mt_start [options]: mail-track on a free loopback port; $MT is its URL.
mt_start() {
	MT_OUT="$BATS_TEST_TMPDIR/mt.out"
	MT_ERR="$BATS_TEST_TMPDIR/mt.err"
	: >"$MT_OUT"
	mail-track -l 127.0.0.1:0 "$@" >"$MT_OUT" 2>"$MT_ERR" 3>&- &
	MT_PID=$!
	local i=0
	while [ ! -s "$MT_OUT" ]; do
		i=$((i + 1))
		if [ $i -gt 200 ] || ! kill -0 "$MT_PID" 2>/dev/null; then
			cat "$MT_ERR" >&2
			return 1
		fi
		sleep 0.05
	done
	MT="http://$(head -1 "$MT_OUT" | jq -r .address)"
}

# mt_stop [signal]: stops it; $MT_STATUS is its exit status.
mt_stop() {
	kill -"${1:-TERM}" "$MT_PID"
	MT_STATUS=0
	wait "$MT_PID" || MT_STATUS=$?
	MT_PID=
}

# hit ID [curl options]: one GET of the pixel; prints the HTTP status.
hit() {
	local id=$1
	shift
	curl -s -o /dev/null -w '%{http_code}' "$@" "$MT/$id.gif"
}

# The fake Google and a user who may send.
ms_login() {
	fake_start
	login_user --scopes gmail.send,gmail.settings.basic
}

# A tracking record as mail-send makes it: sent through the fake Google
# (after ms_login; not in the same subshell, which would wait for it).
sent_pixel() {
	ENABLE_TRACKING=true PIXEL_TRACKER_BASE_URL=https://pixel.example.com \
	    mail-send --mode send --to client@example.com --subject "${1:-Suivi}" \
	    --message Bonjour | jq -er .pixel_id
}

# Records made directly through the library, as after a send (no Gmail).
new_pixels() {
	"$UNITS/pixel-put" "${1:-1}"
}

opens() {
	mail-send --opens "$1"
}

@test "usage: -h prints the synopsis of mail-track(8); bad options and arguments exit 2" {
	run mail-track -h
	assert_success
	assert_line --index 0 "usage: mail-track [-c file] [-o key=value] [-l addr:port] [-w seconds]"
	assert_line --index 1 "       mail-track [-c file] [-o key=value] --hits pixel_id"
	run mail-track --version
	assert_success
	assert_output --regexp '^mail-track [0-9]+\.[0-9]+\.[0-9]+$'
	run mail-track -x
	assert_failure 2
	run mail-track extra
	assert_failure 2
	run mail-track -w -1
	assert_failure 2
	assert_output --partial "-w -1: seconds from 0"
	run mail-track -w soon
	assert_failure 2
	run mail-track --hits "$NOID" -l 127.0.0.1:0
	assert_failure 2
	for bad in 127.0.0.1 127.0.0.1:http 127.0.0.1:65536 ::1:8081 '[::1]8081' ''; do
		run mail-track -l "$bad"
		assert_failure 2
		assert_output --partial "mail-track: "
	done
	run mail-track -l 127.0.0.1:99999
	assert_output --partial "port must be a number from 0 to 65535"
}

@test "bind: a port in use exits 69 with the reason; an address not of this host exits 78" {
	mt_start
	addr=${MT#http://}
	run mail-track -l "$addr"
	assert_failure 69
	assert_output "mail-track: listen $addr: Address already in use"
	run mail-track -l 192.0.2.1:8081
	assert_failure 78
	assert_output "mail-track: listen 192.0.2.1:8081: Cannot assign requested address"
	run mail-track -l no-such-host.invalid:8081
	assert_failure 78
	assert_output --partial "mail-track: listen no-such-host.invalid:8081: "
	# the server is untouched by the failed starts
	[ "$(hit "$NOID")" = 200 ]
}

@test "pixel: the 43-byte GIF89a, image/gif, Cache-Control no-store, private; no cookie, no Server, no version" {
	ms_login
	pixel=$(sent_pixel)
	mt_start
	curl -s -D "$BATS_TEST_TMPDIR/h" -o "$BATS_TEST_TMPDIR/gif" "$MT/$pixel.gif"
	[ "$(od -An -tx1 -v "$BATS_TEST_TMPDIR/gif" | tr -d ' \n')" = "$GIF_HEX" ]
	[ "$(wc -c <"$BATS_TEST_TMPDIR/gif")" = 43 ]
	tr -d '\r' <"$BATS_TEST_TMPDIR/h" >"$BATS_TEST_TMPDIR/headers"
	run cat "$BATS_TEST_TMPDIR/headers"
	assert_line --index 0 "HTTP/1.1 200 OK"
	assert_line "Content-Type: image/gif"
	assert_line "Content-Length: 43"
	assert_line "Cache-Control: no-store, private"
	refute_output --partial -i "set-cookie"
	refute_output --partial -i "server:"
	refute_output --partial -i "microhttpd"
	refute_output --partial -i "etag"
	refute_output --partial -i "last-modified"
	# every header name, so that nothing new slips in unnoticed
	[ "$(sed -n 's/^\([A-Za-z-]*\):.*/\1/p' "$BATS_TEST_TMPDIR/headers" | sort | paste -sd,)" = \
	    "Cache-Control,Content-Length,Content-Type,Date,X-Content-Type-Options" ]
	# an unknown id: the same bytes, the same headers
	[ "$(curl -s "$MT/$NOID.gif" | od -An -tx1 -v | tr -d ' \n')" = "$GIF_HEX" ]
}

@test "hits: open_count counts every hit, first and last dates; mail-send --opens shows them" {
	ms_login
	pixel=$(sent_pixel)
	mt_start -w 0
	run opens "$pixel"
	[ "$(jq .open_count <<<"$output")" = 0 ]
	[ "$(hit "$pixel" -A "$GMAIL_UA")" = 200 ]
	run opens "$pixel"
	assert_success
	[ "$(jq .open_count <<<"$output")" = 1 ]
	first=$(jq -r .first_opened_at <<<"$output")
	[[ "$first" =~ ^20[0-9]{2}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z$ ]]
	[ "$(jq -r .last_opened_at <<<"$output")" = "$first" ]
	[ "$(jq -r .first_human_open_at <<<"$output")" = "$first" ]
	sleep 0.01
	[ "$(hit "$pixel" -A "$GMAIL_UA")" = 200 ]
	[ "$(hit "$pixel" -A "$GMAIL_UA")" = 200 ]
	run opens "$pixel"
	[ "$(jq .open_count <<<"$output")" = 3 ]
	[ "$(jq .human_open_count <<<"$output")" = 3 ]
	[ "$(jq -r .first_opened_at <<<"$output")" = "$first" ]
	[[ "$(jq -r .last_opened_at <<<"$output")" > "$first" ]]
	# what mail-send stored is all still there, in its order
	[ "$(jq -r 'keys_unsorted | join(",")' <<<"$output")" = \
	    "pixel_id,to,subject,message_id,draft_id,open_count,created_at,first_opened_at,last_opened_at,human_open_count,first_human_open_at" ]
	[ "$(jq -r '.to, .subject' <<<"$output" | paste -sd,)" = "client@example.com,Suivi" ]
	# HEAD shows the image without opening anything: not a hit
	run curl -s -I "$MT/$pixel.gif"
	assert_line --partial "Content-Type: image/gif"
	[ "$(opens "$pixel" | jq .open_count)" = 3 ]
	# a second record is counted apart
	other=$(sent_pixel Autre)
	[ "$(hit "$other")" = 200 ]
	[ "$(opens "$other" | jq .open_count)" = 1 ]
	[ "$(opens "$pixel" | jq .open_count)" = 3 ]
	mt_stop
	[ "$MT_STATUS" = 0 ]
	[ "$(tail -1 "$MT_OUT")" = '{"status":"stopped","signal":"TERM","hits":4,"recorded":4,"unknown":0,"errors":0}' ]
	# the counts survive a restart
	mt_start -w 0
	[ "$(hit "$pixel")" = 200 ]
	[ "$(opens "$pixel" | jq .open_count)" = 4 ]
}

@test "classes: each hit's user-agent class, machine flag and rule; the first likely-human open" {
	pixel=$(new_pixels)
	mt_start -w 0
	[ "$(hit "$pixel" -A 'Mozilla/5.0')" = 200 ]		# Apple MPP prefetch
	[ "$(hit "$pixel" -A '')" = 200 ]			# no User-Agent at all
	[ "$(hit "$pixel")" = 200 ]				# curl: a tool
	[ "$(hit "$pixel" -A 'Mozilla/5.0 (compatible; Barracuda Link Scanner)')" = 200 ]
	run opens "$pixel"
	[ "$(jq .open_count <<<"$output")" = 4 ]
	[ "$(jq .human_open_count <<<"$output")" = 0 ]
	[ "$(jq -r .first_human_open_at <<<"$output")" = null ]
	[ "$(hit "$pixel" -A "$GMAIL_UA")" = 200 ]
	[ "$(hit "$pixel" -A "$APPLE_MAIL_UA")" = 200 ]
	[ "$(hit "$pixel" -A "$CHROME_UA")" = 200 ]
	[ "$(hit "$pixel" -A 'Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.17531; Pro)')" = 200 ]
	[ "$(hit "$pixel" -A 'SomeReader/1.0')" = 200 ]
	[ "$(hit "$pixel" -A 'Mozilla/5.0 (compatible; YahooMailProxy; https://help.yahoo.com/kb/yahoo-mail-proxy-SLN28749.html)')" = 200 ]
	run mail-track --hits "$pixel"
	assert_success
	[ "${#lines[@]}" = 10 ]
	[ "$(jq -c '[.n, .ua_class, .machine, .why]' <<<"$output" | paste -sd' ')" = \
	    '[1,"apple-mpp",true,"apple-privacy-prefetch"] [2,"none",true,"no-user-agent"] [3,"robot",true,"robot-user-agent"] [4,"robot",true,"robot-user-agent"] [5,"gmail-proxy",false,"proxy-fetch-on-open"] [6,"mail-client",false,"client-open"] [7,"browser",false,"webmail-open"] [8,"mail-client",false,"client-open"] [9,"other",false,"no-machine-sign"] [10,"yahoo-proxy",false,"proxy-fetch-on-open"]' ]
	[ "$(jq -r 'keys_unsorted | join(",")' <<<"${lines[0]}" )" = n,ts,ua_class,machine,why ]
	run opens "$pixel"
	[ "$(jq .open_count <<<"$output")" = 10 ]
	[ "$(jq .human_open_count <<<"$output")" = 6 ]
	fifth=$(mail-track --hits "$pixel" | jq -r 'select(.n == 5) | .ts')
	[ "$(jq -r .first_human_open_at <<<"$output")" = "$fifth" ]
	[ "$(jq -r .first_opened_at <<<"$output")" = "$(mail-track --hits "$pixel" | head -1 | jq -r .ts)" ]
	# no user-agent text, no address is stored with a hit
	! mail-track --hits "$pixel" | grep -q -e Mozilla -e 127.0.0.1
}

@test "classes: a hit within -w seconds of the send is machine-made, even through Gmail's proxy" {
	ms_login
	pixel=$(sent_pixel)
	mt_start			# the default window: 10 s
	[ "$(hit "$pixel" -A "$GMAIL_UA")" = 200 ]
	run mail-track --hits "$pixel"
	[ "$(jq -c '[.ua_class, .machine, .why]' <<<"$output")" = '["gmail-proxy",true,"soon-after-send"]' ]
	run opens "$pixel"
	[ "$(jq -r '.open_count, .human_open_count, .first_human_open_at' <<<"$output" | paste -sd,)" = 1,0,null ]
	mt_stop
	mt_start -w 0.5
	sleep 0.6
	[ "$(hit "$pixel" -A "$GMAIL_UA")" = 200 ]
	run mail-track --hits "$pixel"
	[ "$(jq -c '[.n, .ua_class, .machine, .why]' <<<"${lines[1]}")" = '[2,"gmail-proxy",false,"proxy-fetch-on-open"]' ]
	run opens "$pixel"
	[ "$(jq -r '.open_count, .human_open_count' <<<"$output" | paste -sd,)" = 2,1 ]
	[ "$(jq -r .first_human_open_at <<<"$output")" = "$(jq -r .last_opened_at <<<"$output")" ]
	[ "$(jq -r .first_human_open_at <<<"$output")" != "$(jq -r .first_opened_at <<<"$output")" ]
}

@test "forged or hostile: unknown and malformed ids get the GIF and no record; other paths 404, other methods 405" {
	pixel=$(new_pixels)
	mt_start -w 0
	upper=$(tr a-f A-F <<<"$pixel")
	for id in "$NOID" "$upper" "${pixel%?}" "${pixel}0" "not-a-uuid-at-all-not-a-uuid-at-all" \
	    "$(tr - _ <<<"$pixel")"; do
		run curl -s -o "$BATS_TEST_TMPDIR/g" -w '%{http_code} %{content_type}' "$MT/$id.gif"
		assert_output "200 image/gif"
		[ "$(od -An -tx1 -v "$BATS_TEST_TMPDIR/g" | tr -d ' \n')" = "$GIF_HEX" ]
	done
	# the only pixel path is /<id>.gif: everything else is 404
	for path in / /index.html /favicon.ico "/$pixel" "/$pixel.png" "/$pixel.GIF" \
	    "/$pixel.gif/" "/x/$pixel.gif" "/$pixel.gif/x" "//$pixel.gif" \
	    "/var/db/mail/data.mdb" "/..%2f..%2fetc%2fpasswd" "/$pixel.gif%00.png" \
	    "/$pixel%00.gif" "/%2e%2e/$pixel.gif"; do
		run curl -s --path-as-is -o "$BATS_TEST_TMPDIR/body" -w '%{http_code}' "$MT$path"
		[ "$output" = 404 ] || { echo "path $path: $output"; false; }
		[ "$(cat "$BATS_TEST_TMPDIR/body")" = "404 Not Found" ]
	done
	# percent-encoding of the same characters is the same path
	[ "$(curl -s -o /dev/null -w '%{http_code}' "$MT/%$(printf %x "'${pixel:0:1}")${pixel:1}.gif")" = 200 ]
	for m in POST PUT DELETE OPTIONS PATCH; do
		run curl -s -i -X "$m" --data x "$MT/$pixel.gif"
		assert_line --index 0 --partial "405 Method Not Allowed"
		assert_line --partial "Allow: GET, HEAD"
	done
	run curl -s -o /dev/null -w '%{http_code}' -X TRACE "$MT/"
	assert_output 405
	# a long path, a huge header: refused without harm
	run curl -s -o /dev/null -w '%{http_code}' "$MT/$(head -c 5000 /dev/zero | tr '\0' a).gif"
	assert_output 404
	run curl -s -o /dev/null -w '%{http_code}' -H "X-Big: $(head -c 70000 /dev/zero | tr '\0' a)" "$MT/$pixel.gif"
	[ "$output" != 200 ]
	# only the one well-formed, percent-encoded hit counted
	[ "$(opens "$pixel" | jq .open_count)" = 1 ]
	run mail-track --hits "$NOID"
	assert_success
	assert_output ""
	run mail-track --hits "../$pixel"
	assert_failure 65
	assert_output "mail-track: ../$pixel: not a pixel id"
	mt_stop
	[ "$(tail -1 "$MT_OUT" | jq -c '[.hits, .recorded, .unknown, .errors]')" = '[7,1,6,0]' ]
	# the one line on stderr: the daemon's word on the huge header
	[ "$(wc -l <"$MT_ERR")" = 1 ]
	grep -q '^mail-track: httpd: .*431' "$MT_ERR"
}

@test "concurrency: 20 parallel clients x 50 hits = 1000, open_count exactly 1000, hits numbered 1 to 1000" {
	pixel=$(new_pixels)
	other=$(new_pixels)
	mt_start
	pids=
	for c in $(seq 20); do
		(
			for i in $(seq 50); do
				code=$(curl -s -o /dev/null -w '%{http_code}' "$MT/$pixel.gif")
				[ "$code" = 200 ] || echo "client $c hit $i: $code"
			done
		) >"$BATS_TEST_TMPDIR/client.$c" 3>&- &
		pids="$pids $!"
	done
	# meanwhile another process writes in the same store
	for i in $(seq 5); do
		[ "$(hit "$other")" = 200 ]
	done
	for p in $pids; do
		wait "$p"
	done
	cat "$BATS_TEST_TMPDIR"/client.* >&2
	[ -z "$(cat "$BATS_TEST_TMPDIR"/client.*)" ]
	run opens "$pixel"
	[ "$(jq .open_count <<<"$output")" = 1000 ]
	[ "$(opens "$other" | jq .open_count)" = 5 ]
	run mail-track --hits "$pixel"
	[ "${#lines[@]}" = 1000 ]
	[ "$(jq -s '[.[].n] == [range(1; 1001)]' <<<"$output")" = true ]
	mt_stop
	[ "$(tail -1 "$MT_OUT" | jq -c '[.hits, .recorded, .errors]')" = '[1005,1005,0]' ]
}

@test "bad record in the middle: a damaged record is reported, its hit still gets the GIF, the others count" {
	new_pixels 3 >"$BATS_TEST_TMPDIR/ids"
	a=$(sed -n 1p "$BATS_TEST_TMPDIR/ids")
	b=$(sed -n 2p "$BATS_TEST_TMPDIR/ids")
	c=$(sed -n 3p "$BATS_TEST_TMPDIR/ids")
	"$UNITS/pixel-put" -x "$b" '{"pixel_id": broken'
	mt_start -w 0
	[ "$(hit "$a")" = 200 ]
	curl -s -o "$BATS_TEST_TMPDIR/g" "$MT/$b.gif"
	[ "$(od -An -tx1 -v "$BATS_TEST_TMPDIR/g" | tr -d ' \n')" = "$GIF_HEX" ]
	[ "$(hit "$b")" = 200 ]
	[ "$(hit "$c")" = 200 ]
	[ "$(opens "$a" | jq .open_count)" = 1 ]
	[ "$(opens "$c" | jq .open_count)" = 1 ]
	mt_stop
	[ "$(tail -1 "$MT_OUT" | jq -c '[.hits, .recorded, .errors]')" = '[4,2,2]' ]
	# one warning for the burst, with the count of the ones held back
	[ "$(wc -l <"$MT_ERR")" = 1 ]
	grep -q "^mail-track: pixel $b: bad record: " "$MT_ERR"
}

@test "stop: SIGINT and SIGTERM end the server cleanly; the event log gets start and stop" {
	mkdir -p var/logs/ops
	GMAIL_OPS_LOG=mail_track mt_start
	[ "$(hit "$NOID")" = 200 ]
	mt_stop INT
	[ "$MT_STATUS" = 0 ]
	[ "$(tail -1 "$MT_OUT")" = '{"status":"stopped","signal":"INT","hits":1,"recorded":0,"unknown":1,"errors":0}' ]
	log=$(ls var/logs/ops/mail_track-*.jsonl)
	[ "$(jq -r .event "$log" | paste -sd,)" = mail-track.start,mail-track.stop ]
	[ "$(jq -r 'select(.event == "mail-track.start") | .address' "$log")" = "${MT_OUT:+$(head -1 "$MT_OUT" | jq -r .address)}" ]
	[ "$(jq -c 'select(.event == "mail-track.stop") | [.hits, .unknown]' "$log")" = '[1,1]' ]
	# the port is free again at once
	addr=$(head -1 "$MT_OUT" | jq -r .address)
	# (killed once it says it listens: a slow start, valgrind's say, is
	# not a refusal)
	run timeout 60 sh -c "mail-track -l $addr >again.out & p=\$!;
	    while [ ! -s again.out ] && kill -0 \$p 2>/dev/null; do sleep 0.05; done;
	    kill \$p; wait \$p"
	assert_success
	[ "$(head -1 again.out | jq -r .status)" = listening ]
	curl -s -o /dev/null "http://$addr/" && false || true
}

@test "config: -c and -o choose the store; PIXEL_COLLECTION names the records and their hits" {
	printf 'PIXEL_COLLECTION=campaign_opens\n' >"$BATS_TEST_TMPDIR/track.conf"
	pixel=$("$UNITS/pixel-put" -c "$BATS_TEST_TMPDIR/track.conf")
	mt_start -c "$BATS_TEST_TMPDIR/track.conf" -w 0
	[ "$(hit "$pixel")" = 200 ]
	[ "$(mail-send -c "$BATS_TEST_TMPDIR/track.conf" --opens "$pixel" | jq .open_count)" = 1 ]
	run mail-send --opens "$pixel"		# not in the default collection
	assert_failure 1
	mt_stop
	[ "$(tail -1 "$MT_OUT" | jq .recorded)" = 1 ]
	run mail-track -o PIXEL_COLLECTION=campaign_opens --hits "$pixel"
	[ "$(jq -r .ua_class <<<"$output")" = robot ]
	# a hits name that is the drafts' is refused
	run mail-track -o PIXEL_COLLECTION=x -o DRAFT_COLLECTION=x_hits --hits "$pixel"
	assert_failure 78
	run mail-track -o PIXEL_COLLECTION='bad/name' --hits "$pixel"
	assert_failure 78
	run mail-track -o NO_SUCH_KEY=1 --hits "$pixel"
	assert_failure 78
}

@test "hits kept: open_count counts past OPS_TRACK_MAX_HITS (10000); hit entries stop there" {
	pixel=$(new_pixels)
	mt_start
	seq 10005 | sed "s|.*|url = \"$MT/$pixel.gif\"\noutput = /dev/null|" >"$BATS_TEST_TMPDIR/curl.cfg"
	run sh -c "curl -s -Z --parallel-max 16 -w '%{http_code}\n' -K '$BATS_TEST_TMPDIR/curl.cfg' 2>/dev/null | sort | uniq -c"
	[ "$(echo $output)" = "10005 200" ]
	[ "$(opens "$pixel" | jq .open_count)" = 10005 ]
	[ "$(mail-track --hits "$pixel" | wc -l)" = 10000 ]
	[ "$(mail-track --hits "$pixel" | tail -1 | jq .n)" = 10000 ]
}

# echo_start [options]: tests/unit/httpd-echo, lib/httpd.c's test server.
echo_start() {
	ECHO_OUT="$BATS_TEST_TMPDIR/echo.out"
	"$UNITS/httpd-echo" "$@" >"$ECHO_OUT" 2>"$BATS_TEST_TMPDIR/echo.err" 3>&- &
	MT_PID=$!
	local i=0
	while [ ! -s "$ECHO_OUT" ]; do
		i=$((i + 1))
		if [ $i -gt 200 ] || ! kill -0 "$MT_PID" 2>/dev/null; then
			cat "$BATS_TEST_TMPDIR/echo.err" >&2
			return 1
		fi
		sleep 0.05
	done
	ECHO="http://$(head -1 "$ECHO_OUT" | jq -r .address)"
}

@test "httpd.c: uploads up to the cap, 413 past it (by length or chunked); query, header, peer; IPv6; a handler that forgets to answer" {
	echo_start -b 100 '[::1]:0'
	[[ "$ECHO" =~ ^http://\[::1\]:[0-9]+$ ]]
	run curl -s --data-binary hello "$ECHO/echo"
	assert_output hello
	run sh -c "head -c 100 /dev/zero | tr '\0' b | curl -s -H 'Transfer-Encoding: chunked' --data-binary @- '$ECHO/echo' | wc -c"
	assert_output 100
	run sh -c "head -c 101 /dev/zero | curl -s -o /dev/null -w '%{http_code}' --data-binary @- '$ECHO/echo'"
	assert_output 413
	run sh -c "head -c 100000 /dev/zero | curl -s -o /dev/null -w '%{http_code}' -H 'Transfer-Encoding: chunked' --data-binary @- '$ECHO/echo'"
	assert_output 413
	# query arguments decoded ('+' is a space), but %00 stays as it is
	run curl -s "$ECHO/query?x=a%20b+c%00d"
	assert_output 'a b c%00d'
	run curl -s -H "X-Test: yes" "$ECHO/header"
	assert_output yes
	run curl -s "$ECHO/peer"
	assert_output ::1
	run curl -s --path-as-is "$ECHO/path/%2e%2e/%00x"
	assert_output '/path/../%00x'
	run curl -s -o /dev/null -w '%{http_code}' "$ECHO/forget"
	assert_output 500
	run curl -s -o /dev/null -w '%{http_code}' "$ECHO/nothing"
	assert_output 404
	# keep-alive: two requests, one connection
	run curl -sv -o /dev/null -o /dev/null "$ECHO/peer" "$ECHO/peer"
	assert_output --partial "Re-using existing connection"
	kill -TERM "$MT_PID"
	wait "$MT_PID"
	MT_PID=
	[ "$(tail -1 "$ECHO_OUT")" = '{"signal":15}' ]
}
