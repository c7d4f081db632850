#!/usr/bin/env bats
# TLS: verification is always on; CURL_CA_BUNDLE may name a test CA.

load helpers

setup_file() {
	d="$BATS_FILE_TMPDIR"
	openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=test-ca \
	    -keyout "$d/ca.key" -out "$d/ca.pem" 2>/dev/null
	openssl req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 \
	    -keyout "$d/srv.key" -out "$d/srv.csr" 2>/dev/null
	printf 'subjectAltName=IP:127.0.0.1\n' >"$d/ext"
	openssl x509 -req -in "$d/srv.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" \
	    -CAcreateserial -days 2 -extfile "$d/ext" -out "$d/srv.pem" 2>/dev/null
}

setup() {
	setup_base
	FAKE_SCHEME=https
	FAKE_CTL_CURL_OPTS="--cacert $BATS_FILE_TMPDIR/ca.pem"
	fake_start --tls-cert "$BATS_FILE_TMPDIR/srv.pem" --tls-key "$BATS_FILE_TMPDIR/srv.key"
}

teardown() {
	fake_stop
}

@test "an https server signed by an unknown CA is refused" {
	make_client_secret
	CURL_CA_BUNDLE="$BATS_FILE_TMPDIR/ca.pem" BROWSER="$TESTS_DIR/scripted-browser" \
	    SCRIPTED_BROWSER_CURL_OPTS="--cacert $BATS_FILE_TMPDIR/ca.pem" \
	    run gmail-auth login --browser --timeout 20
	assert_success
	run gmail-api users/me/profile
	assert_failure 69
	assert_output --partial "certificate"
	CURL_CA_BUNDLE="$BATS_FILE_TMPDIR/ca.pem" run gmail-api users/me/profile
	assert_success
	[ "$(jq -r .emailAddress <<<"$output")" = user@example.com ]
}
