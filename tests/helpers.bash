# helpers.bash: shared set-up for the bats suites: PATH, scratch dirs, the
# fake Google on loopback, and credential fixtures.

bats_load_library bats-support 2>/dev/null || load /usr/lib/bats/bats-support/load
bats_load_library bats-assert 2>/dev/null || load /usr/lib/bats/bats-assert/load

TESTS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOP=$(cd "$TESTS_DIR/.." && pwd)
export PATH="${GMAIL_OPS_BIN:-$TOP/bin}:$PATH"
UNITS=${GMAIL_OPS_UNITS:-$TOP/build/normal/unit}
export LC_ALL=C
# Nothing from the developer's own environment leaks into a test.
unset GMAIL_OPS_CONFIG GMAIL_API_URL GOOGLE_OAUTH_TOKEN_URL \
    GOOGLE_IAM_CREDENTIALS_URL GCE_METADATA_HOST GOOGLE_OAUTH_REVOKE_URL \
    CURL_CA_BUNDLE BROWSER GMAIL_OPS_DEBUG GMAIL_OPS_LOG GMAIL_OPS_JOB_RUN \
    GMAIL_USER GOOGLE_APPLICATION_CREDENTIALS GOOGLE_SERVICE_ACCOUNT_EMAIL \
    SEND_MODE ENABLE_TRACKING PIXEL_TRACKER_BASE_URL PIXEL_COLLECTION \
    DRAFT_COLLECTION
for v in $(env | sed -n 's/^\(OPS_GMAIL_COLLECT_[A-Z_]*\)=.*/\1/p'); do
	unset "$v"
done
# Retries in tests: short steps, unless a test asks for the real ones.
export GMAIL_OPS_BACKOFF_BASE_MS=${GMAIL_OPS_BACKOFF_BASE_MS:-20}
# ASan: leaks are checked by valgrind elsewhere; report everything else.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

# A base directory with var/ in it, as the tools expect; cd into it.
setup_base() {
	BASE="$BATS_TEST_TMPDIR/base"
	mkdir -p "$BASE"
	cd "$BASE" || return 1
	export OPS_GMAIL_COLLECT_BASE_DIR="$BASE"
	CREDS="$BASE/var/credentials/gmail"
}

# fake_start [fake options]: starts tests/fake-google on a random port.
fake_start() {
	FAKE_LOG="$BATS_TEST_TMPDIR/fake.log"
	FAKE_PORTFILE="$BATS_TEST_TMPDIR/fake.port"
	rm -f "$FAKE_PORTFILE"
	python3 "$TESTS_DIR/fake-google/fake_google.py" \
	    --port-file "$FAKE_PORTFILE" --log "$FAKE_LOG" "$@" \
	    2>"$BATS_TEST_TMPDIR/fake.stderr" &
	FAKE_PID=$!
	local i=0
	while [ ! -s "$FAKE_PORTFILE" ]; do
		i=$((i + 1))
		if [ $i -gt 200 ] || ! kill -0 "$FAKE_PID" 2>/dev/null; then
			cat "$BATS_TEST_TMPDIR/fake.stderr" >&2
			return 1
		fi
		sleep 0.05
	done
	FAKE_PORT=$(cat "$FAKE_PORTFILE")
	FAKE_SCHEME=${FAKE_SCHEME:-http}
	FAKE="$FAKE_SCHEME://127.0.0.1:$FAKE_PORT"
	export GMAIL_API_URL="$FAKE"
	export GOOGLE_OAUTH_TOKEN_URL="$FAKE/token"
	export GOOGLE_OAUTH_REVOKE_URL="$FAKE/revoke"
	export GOOGLE_IAM_CREDENTIALS_URL="$FAKE"
	export GCE_METADATA_HOST="127.0.0.1:$FAKE_PORT"
}

fake_stop() {
	if [ -n "${FAKE_PID:-}" ]; then
		kill "$FAKE_PID" 2>/dev/null || true
		wait "$FAKE_PID" 2>/dev/null || true
		FAKE_PID=
	fi
}

# fake_ctl METHOD PATH [JSON]: the fake's control API.
fake_ctl() {
	curl -sf -X "$1" -H 'Content-Type: application/json' \
	    ${3:+--data "$3"} "${FAKE_SCHEME:-http}://127.0.0.1:$FAKE_PORT/_fake/$2" ${FAKE_CTL_CURL_OPTS:-}
}

# Requests the fake answered, filtered by its endpoint name.
fake_requests() {
	if [ -f "$FAKE_LOG" ]; then
		jq -c --arg e "$1" 'select(.endpoint == $e)' "$FAKE_LOG"
	fi
}

fake_count() {
	fake_requests "$1" | wc -l | tr -d ' '
}

# client_secret.json for the fake's default client (installed layout).
make_client_secret() {
	mkdir -p "$CREDS"
	chmod 700 "$CREDS"
	cat >"$CREDS/client_secret.json" <<JSON
{"installed":{"client_id":"test-client.apps.googleusercontent.com","project_id":"test-project","auth_uri":"$FAKE/o/oauth2/auth","token_uri":"$FAKE/token","auth_provider_x509_cert_url":"https://www.googleapis.com/oauth2/v1/certs","client_secret":"test-secret","redirect_uris":["http://localhost"]}}
JSON
	chmod 600 "$CREDS/client_secret.json"
}

# A logged-in user: runs the real login flow against the fake through a
# scripted browser, so token.json holds a refresh token the fake knows.
login_user() {
	make_client_secret
	BROWSER="$TESTS_DIR/scripted-browser" run gmail-auth login --browser \
	    --timeout 20 "$@"
	assert_success
}

# expire_token_file: marks token.json's access token as expired.
expire_token_file() {
	local t="$CREDS/token.json"
	jq -c '.expiry = "2000-01-01T00:00:00.000000Z"' "$t" >"$t.new"
	chmod 600 "$t.new"
	mv "$t.new" "$t"
}

# gen_rsa_key FILE: a 2048-bit PKCS#8 PEM key.
gen_rsa_key() {
	openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 \
	    -out "$1" 2>/dev/null
}

# make_sa_key KEYJSON PEM EMAIL: a Google service-account key file.
make_sa_key() {
	jq -n --rawfile pk "$2" --arg email "$3" --arg uri "$FAKE/token" '{
	    type: "service_account", project_id: "test-project",
	    private_key_id: "0123456789abcdef", private_key: $pk,
	    client_email: $email, client_id: "1234567890",
	    auth_uri: "https://accounts.google.com/o/oauth2/auth",
	    token_uri: $uri}' >"$1"
	chmod 600 "$1"
}

# fresh_base DIR: the fake's mailbox as loaded (no fault), DIR as a new
# base directory (cd into it), a logged-in user, var/ made.
fresh_base() {
	fake_ctl POST reset >/dev/null
	BASE=$1
	mkdir -p "$BASE"
	cd "$BASE" || return 1
	export OPS_GMAIL_COLLECT_BASE_DIR="$BASE"
	CREDS="$BASE/var/credentials/gmail"
	login_user
	gmail-check --fix >/dev/null
}

# The store's receipts, independent of ids and times: one line each.
receipts_digest() {
	receipt-store list | jq -c '{gmail_message_id, part_id, sha256, state,
	    storage_path, original_filename}' | sort
}

# Each message's label names in the fake, one line per message.
mailbox_labels() {
	fake_ctl GET state | jq -c '.mailboxes["user@example.com"] as $m |
	    ($m.labels | map({(.id): .name}) | add) as $n |
	    $m.messages | to_entries[] |
	    [.key, (.value.labelIds | map($n[.] // .) | sort)]' | sort
}
