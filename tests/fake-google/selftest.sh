#!/usr/bin/env bash
# Self-test of fake-google: starts fakes on random ports and checks every endpoint with curl, jq and openssl.
set -u

HERE=$(cd "$(dirname "$0")" && pwd)
TMP=$(mktemp -d)
PASS=0
FAIL=0
PIDS=()

cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  rm -rf "$TMP"
}
trap cleanup EXIT

ok()   { PASS=$((PASS + 1)); }
bad()  { FAIL=$((FAIL + 1)); echo "FAIL: $*" >&2; }
# check DESCRIPTION ACTUAL EXPECTED
check() { if [ "$2" == "$3" ]; then ok; else bad "$1: got [$2] want [$3]"; fi; }
# check_match DESCRIPTION ACTUAL REGEX
check_match() { if [[ "$2" =~ $3 ]]; then ok; else bad "$1: [$2] !~ /$3/"; fi; }

b64u() { base64 -w0 | tr '+/' '-_' | tr -d '='; }
b64u_dec() { local s; s=$(tr -- '-_' '+/'); while [ $(( ${#s} % 4 )) -ne 0 ]; do s="$s="; done; printf '%s' "$s" | base64 -d; }

# ------------------------------------------------------------------ fixtures
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$TMP/sa.pem" 2>/dev/null
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$TMP/iam.pem" 2>/dev/null
SA=robot@test-project.iam.gserviceaccount.com
jq -n --arg pk "$(cat "$TMP/sa.pem")" --arg email "$SA" \
  '{type:"service_account",project_id:"test-project",private_key_id:"kid-robot-1",private_key:$pk,
    client_email:$email,client_id:"1001",token_uri:"https://oauth2.googleapis.com/token"}' > "$TMP/sa.json"
mkdir -p "$TMP/mbox"
cat > "$TMP/mbox/01-hello.eml" <<'EOF'
From: Alice <alice@example.org>
To: user@example.com
Subject: Hello there
Date: Mon, 15 Jan 2024 10:00:00 +0000
Message-ID: <hello-1@example.org>
Content-Type: text/plain; charset=utf-8

Hi! This is the first message.
EOF
cat > "$TMP/mbox/02-reply.eml" <<'EOF'
From: Bob <bob@corp.test>
To: user@example.com
Subject: Re: Hello there
Date: Tue, 16 Jan 2024 10:00:00 +0000
Message-ID: <reply-1@corp.test>
In-Reply-To: <hello-1@example.org>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="XYZ"

--XYZ
Content-Type: text/plain; charset=utf-8

See attached report.
--XYZ
Content-Type: application/pdf; name="report.pdf"
Content-Disposition: attachment; filename="report.pdf"
Content-Transfer-Encoding: base64

JVBERi0xLjQKJeLjz9MKMSAwIG9iago8PD4+CmVuZG9iagp0cmFpbGVyCjw8Pj4KJSVFT0YK
--XYZ--
EOF
printf 'INBOX\nSTARRED\nWork\n' > "$TMP/mbox/02-reply.eml.labels"

# start_fake NAME [args...] -> sets URL_<NAME> via global LAST_URL
start_fake() {
  local name=$1; shift
  rm -f "$TMP/$name.port"
  python3 "$HERE/fake_google.py" --port-file "$TMP/$name.port" --log "$TMP/$name.log" "$@" \
    2>"$TMP/$name.err" &
  PIDS+=($!)
  for _ in $(seq 100); do [ -s "$TMP/$name.port" ] && break; sleep 0.02; done
  [ -s "$TMP/$name.port" ] || { echo "fake $name did not start:" >&2; cat "$TMP/$name.err" >&2; exit 1; }
}

t0=$(date +%s.%N)
start_fake main --sa-key "$TMP/sa.json" --iam-key "$TMP/iam.pem" --mailbox "$TMP/mbox"
t1=$(date +%s.%N)
check "start-up under 1 s" "$(echo "$t1 - $t0 < 1" | bc)" 1
B=http://127.0.0.1:$(cat "$TMP/main.port")
CID=test-client.apps.googleusercontent.com
RO=https://www.googleapis.com/auth/gmail.readonly
MOD=https://www.googleapis.com/auth/gmail.modify
SEND=https://www.googleapis.com/auth/gmail.send
JWT_GT=urn:ietf:params:oauth:grant-type:jwt-bearer

ctl() { curl -s -X "$1" "$B/_fake/$2" ${3:+-H 'Content-Type: application/json' -d "$3"}; }
status() { curl -s -o /dev/null -w '%{http_code}' "$@"; }

check "health" "$(ctl GET health | jq -r .ok)" true

# ------------------------------------------------------------------ OAuth: authorization endpoint
auth_loc() { curl -s -o /dev/null -w '%{http_code} %{redirect_url}' -G "$B/o/oauth2/auth" "$@"; }
check "auth unknown client" "$(auth_loc --data-urlencode client_id=nope -d redirect_uri=http://127.0.0.1:1/ | cut -d' ' -f1)" 401
check_match "auth bad redirect" "$(curl -s -G "$B/o/oauth2/auth" -d client_id=$CID --data-urlencode redirect_uri=https://evil.test/cb)" "Error 400: redirect_uri_mismatch"
check_match "auth bad pkce method" "$(auth_loc -d client_id=$CID --data-urlencode redirect_uri=http://localhost:9/cb -d response_type=code --data-urlencode scope=$RO -d state=s1 -d code_challenge=abcdefghijabcdefghijabcdefghijabcdefghij123 -d code_challenge_method=S512)" "^302 http://localhost:9/cb\?error=invalid_request.*state=s1$"

# user_token SCOPE... -> token JSON on stdout (PKCE S256 flow)
user_token() {
  local verifier challenge loc code
  verifier=$(head -c 48 /dev/urandom | b64u)
  challenge=$(printf '%s' "$verifier" | openssl dgst -sha256 -binary | b64u)
  loc=$(auth_loc -d client_id=$CID --data-urlencode redirect_uri=http://127.0.0.1:8123/cb \
        -d response_type=code --data-urlencode "scope=$*" --data-urlencode 'state=x y&z' \
        -d code_challenge="$challenge" -d code_challenge_method=S256)
  code=$(printf '%s' "$loc" | sed -E 's/.*[?&]code=([^&]*).*/\1/' | python3 -c 'import sys,urllib.parse;print(urllib.parse.unquote(sys.stdin.read().strip()))')
  LAST_STATE=$(printf '%s' "$loc" | sed -E 's/.*[?&]state=([^&]*).*/\1/')
  LAST_CODE=$code
  LAST_VERIFIER=$verifier
  curl -s "$B/token" -d grant_type=authorization_code --data-urlencode "code=$code" -d client_id=$CID \
    -d client_secret=test-secret -d redirect_uri=http://127.0.0.1:8123/cb -d code_verifier="$verifier"
}

user_token "$MOD $SEND" > "$TMP/tok.json"; TOK=$(cat "$TMP/tok.json")
AT=$(jq -r .access_token <<<"$TOK"); RT=$(jq -r .refresh_token <<<"$TOK")
check "pkce token_type" "$(jq -r .token_type <<<"$TOK")" Bearer
check "pkce scope" "$(jq -r .scope <<<"$TOK")" "$MOD $SEND"
check "pkce expires_in" "$(jq -r .expires_in <<<"$TOK")" 3599
check "state echoed" "$LAST_STATE" "x%20y%26z"
code_again() { curl -s "$B/token" -d grant_type=authorization_code --data-urlencode "code=$LAST_CODE" -d client_id=$CID -d client_secret=test-secret -d redirect_uri=http://127.0.0.1:8123/cb "$@"; }
check "code single use" "$(code_again -d code_verifier="$LAST_VERIFIER" | jq -c .)" '{"error":"invalid_grant","error_description":"Bad Request"}'
user_token "$RO" >/dev/null  # fresh code for the PKCE failure cases below is made inside
verifier=$(head -c 48 /dev/urandom | b64u); challenge=$(printf '%s' "$verifier" | openssl dgst -sha256 -binary | b64u)
loc=$(auth_loc -d client_id=$CID --data-urlencode redirect_uri=http://127.0.0.1:8123/cb -d response_type=code --data-urlencode scope=$RO -d code_challenge="$challenge" -d code_challenge_method=S256)
LAST_CODE=$(printf '%s' "$loc" | sed -E 's/.*[?&]code=([^&]*).*/\1/' | python3 -c 'import sys,urllib.parse;print(urllib.parse.unquote(sys.stdin.read().strip()))')
check_match "no state when absent" "$loc" "^302 [^ ]*code=[^&]*&scope=[^&]*$"
check "missing verifier" "$(code_again | jq -c .)" '{"error":"invalid_request","error_description":"Missing code verifier."}'
check "wrong verifier" "$(code_again -d code_verifier=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA | jq -c .)" '{"error":"invalid_grant","error_description":"Invalid code verifier."}'
check "bad client secret" "$(curl -s -w ' %{http_code}' "$B/token" -d grant_type=authorization_code -d code=x -d client_id=$CID -d client_secret=wrong | jq -c . 2>/dev/null | tr '\n' ' ')" '{"error":"invalid_client","error_description":"Unauthorized"} 401 '
check "redirect mismatch" "$(curl -s "$B/token" -d grant_type=authorization_code --data-urlencode "code=$LAST_CODE" -d client_id=$CID -d client_secret=test-secret -d redirect_uri=http://127.0.0.1:1/x -d code_verifier="$verifier" | jq -r .error)" redirect_uri_mismatch
check "unsupported grant" "$(curl -s "$B/token" -d grant_type=password | jq -c .)" '{"error":"unsupported_grant_type","error_description":"Invalid grant_type: password"}'

# refresh + revoke
REF=$(curl -s "$B/token" -d grant_type=refresh_token -d client_id=$CID -d client_secret=test-secret --data-urlencode "refresh_token=$RT")
check "refresh keys" "$(jq -c 'keys' <<<"$REF")" '["access_token","expires_in","scope","token_type"]'
TOK2=$(user_token "$RO"); RT2=$(jq -r .refresh_token <<<"$TOK2"); AT2=$(jq -r .access_token <<<"$TOK2")
check "revoke" "$(status "$B/revoke" --data-urlencode "token=$RT2")" 200
check "revoked refresh" "$(curl -s "$B/token" -d grant_type=refresh_token -d client_id=$CID -d client_secret=test-secret --data-urlencode "refresh_token=$RT2" | jq -c .)" '{"error":"invalid_grant","error_description":"Token has been expired or revoked."}'
check "revoked grant kills access token" "$(status -H "Authorization: Bearer $AT2" "$B/gmail/v1/users/me/profile")" 401
check "revoke unknown" "$(curl -s "$B/revoke?token=nope" -X POST | jq -r .error)" invalid_token

# ------------------------------------------------------------------ jwt-bearer (openssl-signed)
mkjwt() { # CLAIMS KEYFILE [KID]
  local h='{"alg":"RS256","typ":"JWT"}' si
  [ -n "${3:-}" ] && h="{\"alg\":\"RS256\",\"typ\":\"JWT\",\"kid\":\"$3\"}"
  si="$(printf '%s' "$h" | b64u).$(printf '%s' "$1" | b64u)"
  printf '%s.%s' "$si" "$(printf '%s' "$si" | openssl dgst -sha256 -sign "$2" -binary | b64u)"
}
claims() { # ISS AUD SCOPE IATOFF LIFETIME [SUB]
  local now; now=$(date +%s)
  jq -nc --arg iss "$1" --arg aud "$2" --arg scope "$3" --argjson iat $((now + $4)) --argjson exp $((now + $4 + $5)) --arg sub "${6:-}" \
    '{iss:$iss,aud:$aud,iat:$iat,exp:$exp} + (if $scope=="" then {} else {scope:$scope} end) + (if $sub=="" then {} else {sub:$sub} end)'
}
jwt_grant() { curl -s "$B/token" -d grant_type=$JWT_GT --data-urlencode "assertion=$1"; }
J=$(jwt_grant "$(mkjwt "$(claims $SA "$B/token" $RO 0 3600 user@example.com)" "$TMP/sa.pem" kid-robot-1)")
check "jwt dwd keys" "$(jq -c keys <<<"$J")" '["access_token","expires_in","token_type"]'
check "jwt dwd gmail" "$(curl -s -H "Authorization: Bearer $(jq -r .access_token <<<"$J")" "$B/gmail/v1/users/me/profile" | jq -r .emailAddress)" user@example.com
J=$(jwt_grant "$(mkjwt "$(claims $SA https://oauth2.googleapis.com/token $RO 0 600)" "$TMP/sa.pem")")
check "jwt self precondition" "$(curl -s -H "Authorization: Bearer $(jq -r .access_token <<<"$J")" "$B/gmail/v1/users/me/profile" | jq -c '[.error.code,.error.status,.error.errors[0].reason]')" '[400,"FAILED_PRECONDITION","failedPrecondition"]'
check "jwt bad signature" "$(jwt_grant "$(mkjwt "$(claims $SA "$B/token" $RO 0 600)" "$TMP/iam.pem")" | jq -r .error_description)" "Invalid JWT Signature."
check_match "jwt too long" "$(jwt_grant "$(mkjwt "$(claims $SA "$B/token" $RO 0 3700)" "$TMP/sa.pem")" | jq -r .error_description)" "short-lived token"
check_match "jwt expired" "$(jwt_grant "$(mkjwt "$(claims $SA "$B/token" $RO -4000 3600)" "$TMP/sa.pem")" | jq -r .error_description)" "short-lived token"
check "jwt no scope" "$(jwt_grant "$(mkjwt "$(claims $SA "$B/token" "" 0 600)" "$TMP/sa.pem")" | jq -c .)" '{"error":"invalid_scope","error_description":"Empty or missing scope not allowed."}'
ctl POST config "{\"delegation\":{\"$SA\":false}}" >/dev/null
check "jwt not delegated" "$(curl -s -w ' %{http_code}' "$B/token" -d grant_type=$JWT_GT --data-urlencode "assertion=$(mkjwt "$(claims $SA "$B/token" $RO 0 600 user@example.com)" "$TMP/sa.pem")" | jq -r .error 2>/dev/null | tr '\n' ' ')" "unauthorized_client "
ctl POST config "{\"delegation\":{\"$SA\":true}}" >/dev/null
check "jwt claims kept" "$(ctl GET state | jq -r '.jwt_claims[0].sub')" user@example.com

# ------------------------------------------------------------------ metadata + signJwt
check "metadata needs header" "$(curl -s "$B/computeMetadata/v1/instance/service-accounts/default/token")" "Missing required header: Metadata-Flavor"
check "metadata flavor header" "$(curl -s -D - -o /dev/null -H 'Metadata-Flavor: Google' "$B/computeMetadata/v1/instance/service-accounts/default/email" | tr -d '\r' | grep -i '^metadata-flavor:')" "Metadata-Flavor: Google"
MT=$(curl -s -H 'Metadata-Flavor: Google' "$B/computeMetadata/v1/instance/service-accounts/default/token" | jq -r .access_token)
KL=keyless@test-project.iam.gserviceaccount.com
PAYLOAD=$(claims $KL "$B/token" $RO 0 3600 user@example.com)
signjwt() { curl -s -H "Authorization: Bearer $1" -H 'Content-Type: application/json' "$B/v1/projects/-/serviceAccounts/$KL:signJwt" -d "$2"; }
check "signJwt unauthenticated" "$(signjwt "$AT" "$(jq -nc --arg p "$PAYLOAD" '{payload:$p}')" | jq -r .error.status)" UNAUTHENTICATED
check "signJwt bad payload" "$(signjwt "$MT" '{"payload":"not json"}' | jq -r .error.status)" INVALID_ARGUMENT
SJ=$(signjwt "$MT" "$(jq -nc --arg p "$PAYLOAD" '{payload:$p}')")
check "signJwt header" "$(jq -r .signedJwt <<<"$SJ" | cut -d. -f1 | b64u_dec | jq -c .)" "{\"alg\":\"RS256\",\"kid\":\"$(jq -r .keyId <<<"$SJ")\",\"typ\":\"JWT\"}"
J=$(jwt_grant "$(jq -r .signedJwt <<<"$SJ")")
check "signJwt exchange" "$(curl -s -H "Authorization: Bearer $(jq -r .access_token <<<"$J")" "$B/gmail/v1/users/me/profile" | jq -r .emailAddress)" user@example.com
ctl POST config '{"deny_sign_jwt":true}' >/dev/null
check "signJwt denied" "$(signjwt "$MT" "$(jq -nc --arg p "$PAYLOAD" '{payload:$p}')" | jq -c '[.error.code,.error.status]')" '[403,"PERMISSION_DENIED"]'
ctl POST config '{"deny_sign_jwt":false}' >/dev/null

# ------------------------------------------------------------------ Gmail
G="$B/gmail/v1/users/me"
gm() { curl -s -H "Authorization: Bearer $AT" "$@"; }
check "profile" "$(gm "$G/profile" | jq -c '[.emailAddress,.messagesTotal,.threadsTotal]')" '["user@example.com",2,1]'
LIST=$(gm "$G/messages")
check "list count" "$(jq '.messages|length' <<<"$LIST")" 2
REPLY=$(jq -r '.messages[0].id' <<<"$LIST"); HELLO=$(jq -r '.messages[1].id' <<<"$LIST")
check "thread by In-Reply-To" "$(jq -r '.messages[0].threadId' <<<"$LIST")" "$HELLO"
check "q has:attachment label:work" "$(gm -G "$G/messages" --data-urlencode 'q=has:attachment label:Work from:@corp.test' | jq -r '.messages[0].id')" "$REPLY"
check "q from OR" "$(gm -G "$G/messages" --data-urlencode 'q=from:(nobody@x.test OR @example.org) is:unread after:2024/01/01 before:2024/01/16' | jq -r '[.messages[].id]|join(",")')" "$HELLO"
check "q -label" "$(gm -G "$G/messages" --data-urlencode 'q=-label:"work" subject:hello' | jq -r '.resultSizeEstimate')" 1
check "q invalid" "$(gm -G "$G/messages" --data-urlencode 'q=bogus:thing' | jq -c '[.error.code,.error.message,.error.status]')" '[400,"Invalid query","INVALID_ARGUMENT"]'
check "q empty result" "$(gm -G "$G/messages" --data-urlencode 'q=zzzznothing' | jq -c .)" '{"resultSizeEstimate":0}'
P1=$(gm "$G/messages?maxResults=1")
check "paging" "$(gm "$G/messages?maxResults=1&pageToken=$(jq -r .nextPageToken <<<"$P1")" | jq -r '.messages[0].id')" "$HELLO"
FULL=$(gm "$G/messages/$REPLY?format=full")
check "full parts" "$(jq -c '[.payload.mimeType, .payload.parts[0].partId, .payload.parts[1].filename, .payload.parts[0].body.size]' <<<"$FULL")" '["multipart/mixed","0","report.pdf",20]'
A1=$(jq -r '.payload.parts[1].body.attachmentId' <<<"$FULL")
A2=$(gm "$G/messages/$REPLY" | jq -r '.payload.parts[1].body.attachmentId')
[ "$A1" != "$A2" ] && ok || bad "attachmentId must change between reads"
check "attachment data" "$(gm "$G/messages/$REPLY/attachments/$A1" | jq -r .data | b64u_dec | head -c 8)" "%PDF-1.4"
check "raw roundtrip" "$(gm "$G/messages/$HELLO?format=raw" | jq -r .raw | b64u_dec | grep '^Subject:')" "Subject: Hello there"
check "internalDate from Date" "$(gm "$G/messages/$HELLO?format=minimal" | jq -r .internalDate)" 1705312800000
check "unknown id" "$(gm "$G/messages/0123456789abcdef" | jq -c '[.error.code,.error.errors[0].reason]')" '[404,"notFound"]'
check "other user" "$(gm "$B/gmail/v1/users/boss@example.com/profile" | jq -r .error.message)" "Delegation denied for user@example.com"
check "insufficient scope" "$(curl -s -H "Authorization: Bearer $(jq -r .access_token <<<"$(user_token $SEND)")" "$G/messages" | jq -c '[.error.code,.error.errors[0].reason]')" '[403,"insufficientPermissions"]'
check "no auth" "$(curl -s "$G/profile" | jq -r '.error.errors[0].message')" "Invalid Credentials"

H0=$(gm "$G/profile" | jq -r .historyId)
check "modify" "$(gm -H 'Content-Type: application/json' "$G/messages/$HELLO/modify" -d '{"removeLabelIds":["UNREAD"],"addLabelIds":["STARRED"]}' | jq -c .labelIds)" '["INBOX","STARRED"]'
check "batchModify 204" "$(status -H "Authorization: Bearer $AT" -H 'Content-Type: application/json' "$G/messages/batchModify" -d "{\"ids\":[\"$HELLO\",\"$REPLY\"],\"addLabelIds\":[\"IMPORTANT\"]}")" 204
check "batchModify too many" "$(gm -H 'Content-Type: application/json' "$G/messages/batchModify" -d "$(jq -nc '{ids:[range(1001)|"abc"],addLabelIds:["IMPORTANT"]}')" | jq -r .error.code)" 400
HIST=$(gm "$G/history?startHistoryId=$H0")
check "history types" "$(jq -c '[.history[] | keys - ["id","messages"] | .[0]]' <<<"$HIST")" '["labelsAdded","labelsRemoved","labelsAdded","labelsAdded"]'
check "history filter" "$(gm "$G/history?startHistoryId=$H0&historyTypes=labelRemoved" | jq -c '[.history[].labelsRemoved[0].labelIds[0]]')" '["UNREAD"]'
ctl POST expire-history '{}' >/dev/null
check "history too old" "$(gm "$G/history?startHistoryId=$H0" | jq -r .error.code)" 404

LBL=$(gm -H 'Content-Type: application/json' "$G/labels" -d '{"name":"Receipts"}')
check "label create" "$(jq -r .name <<<"$LBL")" Receipts
check "label duplicate" "$(gm -H 'Content-Type: application/json' "$G/labels" -d '{"name":"receipts"}' | jq -c '[.error.code,.error.errors[0].reason,.error.status]')" '[409,"duplicate","ABORTED"]'
check "labels list has system" "$(gm "$G/labels" | jq -r '[.labels[].id] | index("SPAM") != null')" true
check "label get counts" "$(gm "$G/labels/INBOX" | jq -c '[.messagesTotal,.threadsTotal]')" '[2,1]'
check "sendAs" "$(gm "$G/settings/sendAs" | jq -c '.sendAs[0] | [.sendAsEmail,.displayName,.signature,.isPrimary,.isDefault]')" '["user@example.com","Test User","<div>-- <br><b>Test User</b></div>",true,true]'
ctl POST config '{"send_as":{"signature":"<b>Bye</b>"}}' >/dev/null
check "sendAs configured" "$(gm "$G/settings/sendAs/user@example.com" | jq -r .signature)" "<b>Bye</b>"

RAW=$(printf 'From: user@example.com\r\nTo: bob@corp.test\r\nSubject: Out\r\n\r\nHello Bob\r\n' | b64u)
SENT=$(gm -H 'Content-Type: application/json' "$G/messages/send" -d "{\"raw\":\"$RAW\",\"threadId\":\"$HELLO\"}")
check "send json" "$(jq -c '[.labelIds, .threadId]' <<<"$SENT")" "[[\"SENT\"],\"$HELLO\"]"
SENT2=$(printf 'To: carol@corp.test\r\nSubject: Media\r\n\r\nBody\r\n' | gm -H 'Content-Type: message/rfc822' --data-binary @- "$B/upload/gmail/v1/users/me/messages/send?uploadType=media")
check "send media" "$(jq -c .labelIds <<<"$SENT2")" '["SENT"]'
check "send needs recipient" "$(gm -H 'Content-Type: application/json' "$G/messages/send" -d "{\"raw\":\"$(printf 'Subject: x\r\n\r\nx' | b64u)\"}" | jq -r .error.message)" "Recipient address required"
check "sent inspectable" "$(ctl GET state | jq -r '.sent[1].raw' | b64u_dec | grep -c '^Subject: Media')" 1
RAW3=$(printf 'From: user@example.com\r\nTo: bob@corp.test\r\nSubject: Mid\r\nMessage-ID: <Ab.9@x.test>\r\n\r\nx\r\n' | b64u)
SENT3=$(gm -H 'Content-Type: application/json' "$G/messages/send" -d "{\"raw\":\"$RAW3\"}")
check "q rfc822msgid" "$(gm -G "$G/messages" --data-urlencode 'q=rfc822msgid:ab.9@x.test' | jq -r '[.messages[].id]|join(",")')" "$(jq -r .id <<<"$SENT3")"
check "q rfc822msgid <>" "$(gm -G "$G/messages" --data-urlencode 'q=rfc822msgid:<AB.9@x.test>' | jq -r '.messages | length')" 1
INS=$(ctl POST messages "$(jq -nc --arg raw "$(printf 'From: z@z.test\r\nSubject: Injected\r\n\r\nx' | b64u)" '{raw:$raw,labelIds:["INBOX"]}')")
check "control insert" "$(gm "$G/messages/$(jq -r .id <<<"$INS")?format=metadata" | jq -r '.payload.headers[] | select(.name=="Subject") | .value')" Injected

# ------------------------------------------------------------------ quota
quota_run() { # N URL -> one status per line
  local n=$1 url=$2
  for _ in $(seq "$n"); do echo "url = \"$url\""; echo 'output = "/dev/null"'; done > "$TMP/curl.cfg"
  curl -s -H "Authorization: Bearer $AT" -w '%{http_code}\n' -K "$TMP/curl.cfg"
}
ctl POST reset '{"keep_config":false}' >/dev/null
AT=$(jq -r .access_token <<<"$(user_token "$MOD")")
GET_URL="$G/messages/$HELLO?format=minimal"
check "2026: 300 gets fit 6000" "$(quota_run 301 "$GET_URL" | sort | uniq -c | awk '{printf "%s:%s ", $2, $1}')" "200:300 429:1 "
E=$(gm "$GET_URL")
check_match "429 body" "$(jq -c '[.error.code,.error.status,.error.errors[0].reason,.error.errors[0].domain]' <<<"$E") $(jq -r .error.message <<<"$E")" '^\[429,"RESOURCE_EXHAUSTED","rateLimitExceeded","usageLimits"\] User-rate limit exceeded\.  Retry after [0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}\.[0-9]{3}Z$'
check "no Retry-After header on quota" "$(curl -s -D - -o /dev/null -H "Authorization: Bearer $AT" "$GET_URL" | grep -ci '^retry-after')" 0
check "quota counters" "$(ctl GET state | jq -c '.quota["user@example.com"] | [.units, .rejects]')" '[6000,3]'
ctl POST config '{"quota_status":403}' >/dev/null
check "403 variant" "$(gm "$GET_URL" | jq -c '[.error.code,.error.status,.error.errors[0].reason]')" '[403,"PERMISSION_DENIED","userRateLimitExceeded"]'
ctl POST reset '{}' >/dev/null
ctl POST config '{"quota_regime":"legacy"}' >/dev/null
AT=$(jq -r .access_token <<<"$(user_token "$MOD")")
check "legacy: 3000 gets fit 15000" "$(quota_run 3001 "$GET_URL" | sort | uniq -c | awk '{printf "%s:%s ", $2, $1}')" "200:3000 429:1 "
ctl POST reset '{}' >/dev/null
AT=$(jq -r .access_token <<<"$(user_token "$MOD")")

# ------------------------------------------------------------------ faults
ctl POST faults '{"rules":[{"match":"messages\\.list","status":503,"times":2,"retry_after":7}]}' >/dev/null
check "fault times=2" "$(quota_run 3 "$G/messages" | tr '\n' ' ')" "503 503 200 "
ctl POST faults '{"rules":[{"match":"^gmail\\.users\\.getProfile$","status":503}]}' >/dev/null
E=$(curl -s -D "$TMP/h" -H "Authorization: Bearer $AT" "$G/profile")
check "fault 503 body" "$(jq -c '[.error.code,.error.message,.error.errors[0].reason,.error.status]' <<<"$E")" '[503,"The service is currently unavailable.","backendError","UNAVAILABLE"]'
ctl POST faults '{"rules":[{"match":"/profile$","status":429,"retry_after":3,"retry_after_message":5}]}' >/dev/null
E=$(curl -s -D "$TMP/h" -H "Authorization: Bearer $AT" "$G/profile")
check "fault Retry-After header" "$(grep -i '^retry-after:' "$TMP/h" | tr -d '\r')" "Retry-After: 3"
check_match "fault retry message" "$(jq -r .error.message <<<"$E")" "Retry after [0-9T:.-]+Z$"
ctl POST faults '{"rules":[{"match":"getProfile","status":403,"reason":"userRateLimitExceeded"}]}' >/dev/null
check "fault 403 rate" "$(gm "$G/profile" | jq -c '[.error.errors[0].domain,.error.errors[0].reason]')" '["usageLimits","userRateLimitExceeded"]'
ctl POST faults '{"rules":[{"match":"getProfile","kind":"reset"}]}' >/dev/null
curl -s -o /dev/null -H "Authorization: Bearer $AT" "$G/profile"; rc=$?
check_match "reset -> curl error" "$rc" "^(52|56)$"
ctl POST faults '{"rules":[{"match":"getProfile","kind":"truncate"}]}' >/dev/null
curl -s -o /dev/null -H "Authorization: Bearer $AT" "$G/profile"; rc=$?
check "truncate -> curl 18" "$rc" 18
check "rule spent" "$(status -H "Authorization: Bearer $AT" "$G/profile")" 200
ctl DELETE faults >/dev/null
ctl POST config '{"fail_rate":0.5,"fail_statuses":[500],"seed":42}' >/dev/null
R1=$(quota_run 20 "$G/profile" | tr '\n' ' ')
ctl POST config '{"seed":42}' >/dev/null
R2=$(quota_run 20 "$G/profile" | tr '\n' ' ')
check "random faults seeded" "$R1" "$R2"
check_match "random faults happen" "$R1" "500"
ctl POST config '{"fail_rate":1,"fail_statuses":[{"kind":"reset"}]}' >/dev/null
curl -s -o /dev/null -H "Authorization: Bearer $AT" "$G/profile"; rc=$?
check_match "random reset -> curl error" "$rc" "^(52|56)$"
ctl POST config '{"fail_statuses":[{"status":403,"reason":"userRateLimitExceeded"}]}' >/dev/null
check "random 403 rate" "$(gm "$G/profile" | jq -c '[.error.code,.error.errors[0].reason]')" '[403,"userRateLimitExceeded"]'
check "bad random fault refused" "$(status -X POST -H 'Content-Type: application/json' --data '{"fail_statuses":[{"kind":"hang"}]}' "$B/_fake/config")" 400
ctl POST config '{"fail_rate":0,"fail_statuses":[503]}' >/dev/null

# ------------------------------------------------------------------ latency / concurrency
ctl POST config '{"latency_ms":400,"max_concurrent":1}' >/dev/null
CP=()
for i in 1 2 3; do curl -s -o "$TMP/b$i" -w '%{http_code}\n' -H "Authorization: Bearer $AT" "$G/profile" > "$TMP/c$i" & CP+=($!); done
wait "${CP[@]}"
check "max_concurrent" "$(cat "$TMP"/c1 "$TMP"/c2 "$TMP"/c3 | sort | tr -d '\n')" "200429429"
check "concurrency message" "$(cat "$TMP"/b1 "$TMP"/b2 "$TMP"/b3 | jq -r '.error.message // empty' | sort -u)" "Too many concurrent requests for user"
ctl POST config '{"latency_ms":0,"max_concurrent":0}' >/dev/null
ctl POST config '{"latency_ms":300,"latency_match":"^oauth\\.token$"}' >/dev/null
check "latency on token endpoint" "$(curl -s -o /dev/null -w '%{time_total}' "$B/token" -d grant_type=x | awk '{print ($1 >= 0.29)}')" 1
check "latency_match leaves Gmail alone" "$(curl -s -o /dev/null -w '%{time_total}' -H "Authorization: Bearer $AT" "$G/profile" | awk '{print ($1 < 0.29)}')" 1
ctl POST config '{"latency_ms":0,"latency_match":""}' >/dev/null
ctl POST config '{"quota_limit":2,"quota_window":1}' >/dev/null
sleep 1.1  # let the calls above leave the 1 s window
check "short quota window" "$(quota_run 3 "$G/profile" | tr '\n' ' '; sleep 1.1; quota_run 1 "$G/profile")" "200 200 429 200"
ctl POST config '{"quota_limit":null,"quota_window":60}' >/dev/null
ctl POST faults '{"rules":[{"match":"messages\\.modify","kind":"reset","after":true}]}' >/dev/null
curl -s -o /dev/null -H "Authorization: Bearer $AT" -H 'Content-Type: application/json' "$G/messages/$HELLO/modify" -d '{"addLabelIds":["TRASH"]}'; rc=$?
check_match "reset after: no answer" "$rc" "^(52|56)$"
check "reset after: change applied" "$(ctl GET "messages/$HELLO" | jq -r '.labelIds | index("TRASH") != null')" true
NSENT=$(ctl GET sent | jq '.sent | length')
ctl POST faults '{"rules":[{"match":"messages/send","kind":"hang","seconds":2}]}' >/dev/null
curl -s -o /dev/null -m 1 -H "Authorization: Bearer $AT" -H 'Content-Type: application/json' "$G/messages/send" -d "{\"raw\":\"$RAW\"}"; rc=$?
check "hang: the client times out" "$rc" 28
check "hang: the send was stored" "$(ctl GET sent | jq '.sent | length')" $((NSENT + 1))
ctl POST faults '{"rules":[{"match":"messages/send","kind":"error","status":500,"after":true}]}' >/dev/null
check "error after: 500" "$(status -H "Authorization: Bearer $AT" -H 'Content-Type: application/json' "$G/messages/send" -d "{\"raw\":\"$RAW\"}")" 500
check "error after: the send was stored" "$(ctl GET sent | jq '.sent | length')" $((NSENT + 2))
ctl DELETE faults >/dev/null
check "tokeninfo" "$(curl -s "$B/oauth2/v3/tokeninfo?access_token=$AT" | jq -r .email)" user@example.com

# ------------------------------------------------------------------ token expiry
ctl POST expire-tokens >/dev/null
check "expired token" "$(status -H "Authorization: Bearer $AT" "$G/profile")" 401
RTN=$(jq -r .refresh_token <<<"$(user_token "$MOD")")
ctl POST revoke-refresh >/dev/null
check "revoke-refresh" "$(curl -s "$B/token" -d grant_type=refresh_token -d client_id=$CID -d client_secret=test-secret --data-urlencode "refresh_token=$RTN" | jq -r .error)" invalid_grant
ctl POST config '{"token_lifetime":1}' >/dev/null
AT=$(jq -r .access_token <<<"$(user_token "$MOD")")
sleep 1.2
check "short lifetime expires" "$(status -H "Authorization: Bearer $AT" "$G/profile")" 401

# ------------------------------------------------------------------ log
LOG="$TMP/main.log"
check "log: no control lines" "$(jq -c 'select(.path|startswith("/_fake"))' "$LOG" | wc -l)" 0
check "log: token endpoint" "$(jq -r 'select(.endpoint=="oauth.token") | .status' "$LOG" | head -1)" 200
check "log: gmail endpoint name + auth header" "$(jq -r 'select(.endpoint=="gmail.users.messages.get") | .headers.authorization' "$LOG" | head -1 | cut -c1-12)" "Bearer ya29."
check "log: query parsed" "$(jq -r 'select(.endpoint=="gmail.users.messages.get") | .query.format' "$LOG" | grep -c minimal | awk '{print ($1>0)}')" 1
check "log: reset status 0" "$(jq -r 'select(.fault=="reset") | .status' "$LOG" | sort -u)" 0

# ------------------------------------------------------------------ reset + TLS
ctl POST reset '{}' >/dev/null
check "reset restores mailbox" "$(ctl GET state | jq '.mailboxes["user@example.com"].messages | length')" 2
check "reset clears tokens" "$(ctl GET state | jq '.tokens.access_issued')" 0
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$TMP/tls.key" -out "$TMP/tls.crt" -days 1 -subj /CN=127.0.0.1 2>/dev/null
start_fake tls --tls-cert "$TMP/tls.crt" --tls-key "$TMP/tls.key"
TB=https://127.0.0.1:$(cat "$TMP/tls.port")
check "tls health" "$(curl -s --cacert "$TMP/tls.crt" "$TB/_fake/health" | jq -r .scheme)" https
check "tls token endpoint" "$(curl -s -k "$TB/token" -d grant_type=x | jq -r .error)" unsupported_grant_type

echo "fake-google selftest: $PASS passed, $FAIL failed"
[ "$FAIL" -eq 0 ]
