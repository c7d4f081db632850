#!/usr/bin/env bats
# gmail-auth against the fake Google: login (loopback and paste), PKCE and
# state, refresh, serialised refreshes, invalid_grant, domain-wide
# delegation with a key and keyless, status and revoke.

load helpers

setup() {
	setup_base
}

teardown() {
	fake_stop
}

@test "login: a scripted browser follows the consent redirect to the loopback listener" {
	fake_start
	login_user
	# the consent URL was shown, the secrets were not
	assert_output --partial "Open this URL in a browser"
	refute_output --partial "test-secret"
	refute_output --partial "$(jq -r .refresh_token "$CREDS/token.json")"
	refute_output --partial "$(jq -r .token "$CREDS/token.json")"
	[ -f "$CREDS/token.json" ]
	[ "$(stat -c %a "$CREDS/token.json")" = 600 ]
	[ "$(stat -c %a "$CREDS")" = 700 ]
	# google-auth's token.json layout
	run jq -e 'has("token") and has("refresh_token") and has("token_uri") and
	    has("client_id") and has("client_secret") and (.scopes | type == "array") and
	    (.expiry | test("^[0-9-]+T[0-9:.]+Z$"))' "$CREDS/token.json"
	assert_success
	# what the tool sent: PKCE S256 and a state, then the verifier
	auth=$(fake_requests oauth.auth)
	[ "$(jq -r '.query.code_challenge_method' <<<"$auth")" = S256 ]
	[ "$(jq -r '.query.state | length' <<<"$auth")" -ge 32 ]
	[ "$(jq -r '.query.redirect_uri' <<<"$auth")" != null ]
	[[ "$(jq -r '.query.redirect_uri' <<<"$auth")" =~ ^http://127\.0\.0\.1:[0-9]+/$ ]]
	[ "$(jq -r '.query.scope' <<<"$auth")" = https://www.googleapis.com/auth/gmail.readonly ]
	tok=$(fake_requests oauth.token)
	[[ "$(jq -r .body <<<"$tok")" == *grant_type=authorization_code* ]]
	[[ "$(jq -r .body <<<"$tok")" == *code_verifier=* ]]
}

@test "login: labels on asks for gmail.modify" {
	fake_start
	OPS_GMAIL_COLLECT_APPLY_LABELS=true login_user
	[ "$(fake_requests oauth.auth | jq -r .query.scope)" = https://www.googleapis.com/auth/gmail.modify ]
	run jq -r '.scopes[0]' "$CREDS/token.json"
	assert_output https://www.googleapis.com/auth/gmail.modify
}

@test "login: a redirect with another state is refused" {
	fake_start
	make_client_secret
	gmail-auth login --timeout 20 2>"$BATS_TEST_TMPDIR/err" &
	pid=$!
	for _ in $(seq 100); do grep -q '^http' "$BATS_TEST_TMPDIR/err" && break; sleep 0.05; done
	url=$(grep '^http' "$BATS_TEST_TMPDIR/err")
	forged=$(sed 's/state=[^&]*/state=forged/' <<<"$url")
	curl -s -L -o /dev/null "$forged" || true
	status=0
	wait $pid || status=$?
	assert_equal "$status" 77
	run cat "$BATS_TEST_TMPDIR/err"
	assert_output --partial "state mismatch"
	[ ! -e "$CREDS/token.json" ]
	[ "$(fake_count oauth.token)" = 0 ]
}

# paste_login SED: runs login --no-listen, sends the consent URL (edited
# by SED) through the fake, pastes where the browser landed; sets
# $status and $output like run.
paste_login() {
	local fifo="$BATS_TEST_TMPDIR/paste" out="$BATS_TEST_TMPDIR/login.out"
	mkfifo "$fifo"
	gmail-auth login --no-listen <"$fifo" >"$out" 2>&1 &
	local pid=$!
	exec 4>"$fifo"
	local url= i
	for i in $(seq 200); do
		url=$(grep '^http' "$out" || true)
		[ -n "$url" ] && break
		sleep 0.05
	done
	url=$(sed "$1" <<<"$url")
	# the browser lands on a loopback address where nothing listens
	landed=$(curl -s -o /dev/null -w '%{redirect_url}' "$url")
	echo "$landed" >&4
	exec 4>&-
	status=0
	wait $pid || status=$?
	output=$(cat "$out")
}

@test "login --no-listen: the pasted loopback URL completes the login" {
	fake_start
	make_client_secret
	paste_login 's/x/x/'
	[[ "$landed" == http://127.0.0.1:*code=* ]]
	assert_equal "$status" 0
	[ -f "$CREDS/token.json" ]
}

@test "login --no-listen: a code bound to another PKCE challenge is refused (wrong verifier)" {
	fake_start
	make_client_secret
	# an attacker's consent: same state, their own challenge
	paste_login 's/code_challenge=[^&]*/code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM/'
	assert_equal "$status" 77
	assert_output --partial "invalid_grant: Invalid code verifier."
	[ ! -e "$CREDS/token.json" ]
}

@test "token: a valid token is printed without a refresh" {
	fake_start
	login_user
	run gmail-auth token
	assert_success
	assert_output "$(jq -r .token "$CREDS/token.json")"
	[ "$(fake_count oauth.token)" = 1 ]	# the login's exchange only
}

@test "token: an expired token is refreshed and token.json rewritten atomically" {
	fake_start
	login_user
	old=$(jq -r .token "$CREDS/token.json")
	rt=$(jq -r .refresh_token "$CREDS/token.json")
	expire_token_file
	run gmail-auth token
	assert_success
	refute_output "$old"
	assert_output "$(jq -r .token "$CREDS/token.json")"
	[ "$(jq -r .refresh_token "$CREDS/token.json")" = "$rt" ]
	[ "$(stat -c %a "$CREDS/token.json")" = 600 ]
	[ "$(fake_requests oauth.token | tail -n 1 | jq -r .body)" != null ]
	[[ "$(fake_requests oauth.token | tail -n 1 | jq -r .body)" == *grant_type=refresh_token* ]]
	# no temp file left behind
	[ "$(ls -A "$CREDS" | grep -c tmp)" = 0 ]
}

@test "token: two concurrent refreshes make one refresh call" {
	fake_start
	login_user
	expire_token_file
	fake_ctl POST config '{"latency_ms": 300}' >/dev/null
	gmail-auth token >"$BATS_TEST_TMPDIR/t1" &
	p1=$!
	gmail-auth token >"$BATS_TEST_TMPDIR/t2" &
	p2=$!
	wait $p1
	wait $p2
	[ "$(fake_requests oauth.token | jq -r .body | grep -c grant_type=refresh_token)" = 1 ]
	cmp "$BATS_TEST_TMPDIR/t1" "$BATS_TEST_TMPDIR/t2"
}

@test "token: invalid_grant exits 77 and explains the causes and the fix" {
	fake_start
	login_user
	expire_token_file
	fake_ctl POST revoke-refresh >/dev/null
	run gmail-auth token
	assert_failure 77
	assert_output --partial "invalid_grant: Token has been expired or revoked."
	assert_output --partial "revoked"
	assert_output --partial "6 months"
	assert_output --partial "password"
	assert_output --partial "7 days"
	assert_output --partial "to fix: gmail-auth login"
}

@test "token: a group-readable token.json is refused" {
	fake_start
	login_user
	chmod 640 "$CREDS/token.json"
	run gmail-auth token
	assert_failure 77
	assert_output --partial "group or world can read it"
}

@test "token: a 401 from Gmail refreshes once and retries" {
	fake_start
	login_user
	fake_ctl POST expire-tokens >/dev/null
	run gmail-api users/me/profile
	assert_success
	[ "$(jq -r .emailAddress <<<"$output")" = user@example.com ]
	[ "$(fake_requests gmail.users.getProfile | jq -r .status | tr '\n' ' ')" = "401 200 " ]
	[ "$(fake_requests oauth.token | jq -r .body | grep -c grant_type=refresh_token)" = 1 ]
}

@test "status: account, scopes and expiry" {
	fake_start
	login_user
	run gmail-auth status
	assert_success
	[ "$(jq -r .account <<<"$output")" = user@example.com ]
	[ "$(jq -r .auth <<<"$output")" = user ]
	[ "$(jq -r '.scopes[0]' <<<"$output")" = https://www.googleapis.com/auth/gmail.readonly ]
	[ "$(jq -r .expires_in <<<"$output")" -gt 3000 ]
	[ "$(jq -r .refresh_token <<<"$output")" = true ]
}

@test "revoke: revokes the grant at Google and removes token.json" {
	fake_start
	login_user
	rt=$(jq -r .refresh_token "$CREDS/token.json")
	run gmail-auth revoke
	assert_success
	[ ! -e "$CREDS/token.json" ]
	[ "$(fake_requests oauth.revoke | jq -r .body)" = "$(jq -rn --arg t "$rt" '"token=" + ($t | @uri)')" ]
	[ "$(fake_requests oauth.revoke | jq -r .query)" = "{}" ]	# never in the URL
}

@test "service account: the signed JWT is accepted (signature and claims checked by the fake)" {
	gen_rsa_key "$BATS_TEST_TMPDIR/sa.pem"
	# the fake reads the key's public half; token_uri is set once it runs
	FAKE=http://127.0.0.1:0
	make_sa_key "$BATS_TEST_TMPDIR/sa.json" "$BATS_TEST_TMPDIR/sa.pem" robot@test-project.iam.gserviceaccount.com
	fake_start --sa-key "$BATS_TEST_TMPDIR/sa.json"
	make_sa_key "$BATS_TEST_TMPDIR/sa.json" "$BATS_TEST_TMPDIR/sa.pem" robot@test-project.iam.gserviceaccount.com
	run gmail-auth --service-account "$BATS_TEST_TMPDIR/sa.json" --subject alice@example.com token
	assert_success
	[ -n "$output" ]
	claims=$(fake_ctl GET state | jq -c '.jwt_claims[-1]')
	[ "$(jq -r .iss <<<"$claims")" = robot@test-project.iam.gserviceaccount.com ]
	[ "$(jq -r .sub <<<"$claims")" = alice@example.com ]
	[ "$(jq -r .aud <<<"$claims")" = "$FAKE/token" ]
	[ "$(jq -r .scope <<<"$claims")" = https://www.googleapis.com/auth/gmail.readonly ]
	[ $(( $(jq -r .exp <<<"$claims") - $(jq -r .iat <<<"$claims") )) -le 3600 ]
	# the token acts as the subject
	run gmail-api -o GOOGLE_APPLICATION_CREDENTIALS="$BATS_TEST_TMPDIR/sa.json" -o GMAIL_USER=alice@example.com users/me/profile
	assert_success
	[ "$(jq -r .emailAddress <<<"$output")" = alice@example.com ]
}

@test "service account: a key signed by another key is refused by Google" {
	gen_rsa_key "$BATS_TEST_TMPDIR/sa.pem"
	gen_rsa_key "$BATS_TEST_TMPDIR/other.pem"
	FAKE=http://127.0.0.1:0
	make_sa_key "$BATS_TEST_TMPDIR/sa.json" "$BATS_TEST_TMPDIR/sa.pem" robot@test-project.iam.gserviceaccount.com
	fake_start --sa-key "$BATS_TEST_TMPDIR/sa.json"
	make_sa_key "$BATS_TEST_TMPDIR/forged.json" "$BATS_TEST_TMPDIR/other.pem" robot@test-project.iam.gserviceaccount.com
	run gmail-auth --service-account "$BATS_TEST_TMPDIR/forged.json" --subject alice@example.com token
	assert_failure 77
	assert_output --partial "invalid_grant: Invalid JWT Signature."
}

@test "service account: a missing subject is refused before any request" {
	gen_rsa_key "$BATS_TEST_TMPDIR/sa.pem"
	FAKE=http://127.0.0.1:0
	make_sa_key "$BATS_TEST_TMPDIR/sa.json" "$BATS_TEST_TMPDIR/sa.pem" robot@test-project.iam.gserviceaccount.com
	fake_start --sa-key "$BATS_TEST_TMPDIR/sa.json"
	run gmail-auth --service-account "$BATS_TEST_TMPDIR/sa.json" token
	assert_failure 78
	assert_output --partial "needs the user to act as (--subject or GMAIL_USER)"
	[ ! -s "$FAKE_LOG" ]
}

@test "keyless: metadata token, IAM signJwt, then the exchange" {
	gen_rsa_key "$BATS_TEST_TMPDIR/iam.pem"
	fake_start --iam-key "$BATS_TEST_TMPDIR/iam.pem"
	run gmail-auth --impersonate robot@test-project.iam.gserviceaccount.com --subject bob@example.com token
	assert_success
	tok=$output
	[ "$(fake_requests metadata.token | jq -r '.headers["metadata-flavor"]')" = Google ]
	sign=$(fake_requests iam.signJwt)
	[[ "$(jq -r .path <<<"$sign")" == "/v1/projects/-/serviceAccounts/robot%40test-project.iam.gserviceaccount.com:signJwt" || \
	   "$(jq -r .path <<<"$sign")" == "/v1/projects/-/serviceAccounts/robot@test-project.iam.gserviceaccount.com:signJwt" ]]
	payload=$(jq -r .body <<<"$sign" | jq -r .payload)
	[ "$(jq -r .sub <<<"$payload")" = bob@example.com ]
	[ "$(jq -r .aud <<<"$payload")" = "$FAKE/token" ]
	[[ "$(fake_requests oauth.token | jq -r .body)" == *grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer* ]]
	# the runtime token went to IAM only, never to Gmail or the log
	runtime=$(jq -r '.headers.authorization' <<<"$sign")
	[[ "$runtime" == Bearer* ]]
	[ "$runtime" != "Bearer $tok" ]
	run gmail-api -o GOOGLE_SERVICE_ACCOUNT_EMAIL=robot@test-project.iam.gserviceaccount.com -o GMAIL_USER=bob@example.com users/me/profile
	assert_success
	[ "$(jq -r .emailAddress <<<"$output")" = bob@example.com ]
}

@test "keyless: IAM refusing signJwt is a clear 77" {
	gen_rsa_key "$BATS_TEST_TMPDIR/iam.pem"
	fake_start --iam-key "$BATS_TEST_TMPDIR/iam.pem"
	fake_ctl POST config '{"deny_sign_jwt": true}' >/dev/null
	run gmail-auth --impersonate robot@test-project.iam.gserviceaccount.com --subject bob@example.com token
	assert_failure 77
	assert_output --partial "IAM signJwt"
	assert_output --partial "iam.serviceAccounts.signJwt"
}

@test "secrets never reach stderr, argv or the debug log" {
	fake_start
	login_user
	expire_token_file
	GMAIL_OPS_DEBUG=1 run gmail-api users/me/profile
	assert_success
	tok=$(jq -r .token "$CREDS/token.json")
	rt=$(jq -r .refresh_token "$CREDS/token.json")
	assert_output --partial "http: GET /gmail/v1/users/me/profile: 200"
	refute_output --partial "$tok"
	refute_output --partial "$rt"
	refute_output --partial "test-secret"
	refute_output --partial "Authorization"
}

@test "a token.json written by Python's google-auth keeps working" {
	fake_start
	login_user
	rt=$(jq -r .refresh_token "$CREDS/token.json")
	# google-auth's to_json(): spaced JSON, naive isoformat() + "Z"
	python3 - "$CREDS/token.json" "$rt" "$FAKE/token" <<'PY'
import json, sys
path, rt, uri = sys.argv[1:]
json.dump({"token": "ya29.stale", "refresh_token": rt, "token_uri": uri,
           "client_id": "test-client.apps.googleusercontent.com",
           "client_secret": "test-secret",
           "scopes": ["https://www.googleapis.com/auth/gmail.readonly"],
           "universe_domain": "googleapis.com", "account": "",
           "expiry": "2024-05-01T12:00:00.123456Z"}, open(path, "w"))
PY
	chmod 600 "$CREDS/token.json"
	run gmail-api users/me/profile
	assert_success
	[ "$(jq -r .emailAddress <<<"$output")" = user@example.com ]
	[ "$(jq -r .token "$CREDS/token.json")" != ya29.stale ]
	# python can still read what we wrote back
	python3 -c 'import json,sys,datetime; d=json.load(open(sys.argv[1])); datetime.datetime.fromisoformat(d["expiry"].rstrip("Z"))' "$CREDS/token.json"
}

@test "login reads a client_secret.json of the web layout" {
	fake_start
	make_client_secret
	jq '{web: .installed}' "$CREDS/client_secret.json" >cs && mv cs "$CREDS/client_secret.json"
	BROWSER="$TESTS_DIR/scripted-browser" run gmail-auth login --browser --timeout 20
	assert_success
	[ -f "$CREDS/token.json" ]
}
