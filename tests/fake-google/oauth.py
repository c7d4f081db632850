# fake-google endpoints: OAuth 2.0 (auth, token, revoke, tokeninfo), GCE metadata, IAM signJwt.
import base64
import hashlib
import json
import re
import secrets
import time
import urllib.parse

import gerrors
from fg_http import Resp, json_resp, text_resp
from gerrors import JSON_TYPE, dumps, oauth_error
from rsa_jwt import b64url_encode, jwt_decode, rs256_sign, rs256_verify

NO_STORE = [("Cache-Control", "no-cache, no-store, max-age=0, must-revalidate"),
            ("Pragma", "no-cache")]
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
SHORT_LIVED = ("Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable "
               "timeframe. Check your iat and exp values in the JWT claim.")
UNAUTHORIZED_CLIENT = ("Client is unauthorized to retrieve access tokens using this method, or "
                       "client not authorized for any of the scopes requested.")
_PKCE_RX = re.compile(r"[A-Za-z0-9\-._~]{43,128}")


def _oauth(status, error, description):
    return json_resp(status, oauth_error(error, description), NO_STORE)


# ================================================================ /o/oauth2/auth
def _loopback(uri):
    try:
        parts = urllib.parse.urlsplit(uri)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        return False
    return parts.scheme == "http" and parts.hostname in ("127.0.0.1", "localhost", "::1")


def _known_scope(scope):
    return scope in ("openid", "email", "profile", "https://mail.google.com/") or \
        scope.startswith("https://www.googleapis.com/auth/")


def _redirect(uri, params):
    sep = "&" if "?" in uri else "?"
    safe = {"scope": ":/", "code": "/"}  # as Google leaves them; everything else escaped
    query = "&".join("%s=%s" % (k, urllib.parse.quote(v, safe=safe.get(k, "")))
                     for k, v in params)
    return Resp(302, b"", "text/html; charset=UTF-8", [("Location", uri + sep + query)])


def auth(state, req):
    """GET /o/oauth2/auth: validates, then auto-consents with a redirect carrying the code."""
    p = {k: v[0] for k, v in req.query.items()}
    client_id, redirect_uri = p.get("client_id", ""), p.get("redirect_uri", "")
    if client_id not in state.clients:
        return Resp(401, gerrors.html_error_page(401, "invalid_client",
                                                 "The OAuth client was not found."),
                    "text/html; charset=UTF-8")
    if not _loopback(redirect_uri):
        return Resp(400, gerrors.html_error_page(
            400, "redirect_uri_mismatch",
            "You can't sign in to this app because it doesn't comply with Google's OAuth 2.0 "
            "policy. redirect_uri=%s" % redirect_uri), "text/html; charset=UTF-8")
    state_param = [("state", p["state"])] if "state" in p else []
    if state.settings["auth_deny"]:
        return _redirect(redirect_uri, [("error", "access_denied")] + state_param)
    if p.get("response_type") != "code":
        return _redirect(redirect_uri, [("error", "unsupported_response_type")] + state_param)
    scopes = p.get("scope", "").split()
    if not scopes:
        return Resp(400, gerrors.html_error_page(400, "invalid_request",
                                                 "Missing required parameter: scope"),
                    "text/html; charset=UTF-8")
    bad = [s for s in scopes if not _known_scope(s)]
    if bad:
        return Resp(400, gerrors.html_error_page(400, "invalid_scope",
                                                 "Some requested scopes were invalid. "
                                                 "{invalid=[%s]}" % ", ".join(bad)),
                    "text/html; charset=UTF-8")
    challenge, method = p.get("code_challenge"), p.get("code_challenge_method")
    if method is not None or challenge is not None:
        method = method or "plain"
        if method not in ("S256", "plain") or not challenge or not _PKCE_RX.fullmatch(challenge):
            return _redirect(redirect_uri, [("error", "invalid_request"), (
                "error_description", "Invalid code_challenge_method or code_challenge")]
                + state_param)
    hint = p.get("login_hint", "")
    user = hint.lower() if "@" in hint else state.settings["default_user"]
    code = "4/0A" + secrets.token_urlsafe(40)
    with state.lock:
        state.codes[code] = {"client": client_id, "redirect_uri": redirect_uri, "scopes": scopes,
                             "challenge": challenge, "method": method, "user": user,
                             "expires": time.time() + 600, "used": False}
        state.counts["codes_issued"] += 1
    return _redirect(redirect_uri, [("code", code), ("scope", " ".join(scopes))] + state_param)


# ================================================================ /token
def _client_auth(state, form, req):
    """(client_id, error Resp or None) from form fields or HTTP Basic."""
    cid, secret = form.get("client_id"), form.get("client_secret")
    basic = req.headers.get("authorization", "")
    if basic.lower().startswith("basic "):
        try:
            decoded = base64.b64decode(basic[6:].strip()).decode("utf-8")
            bid, _, bsecret = decoded.partition(":")
            cid, secret = urllib.parse.unquote_plus(bid), urllib.parse.unquote_plus(bsecret)
        except (ValueError, UnicodeDecodeError):
            pass
    if not cid or state.clients.get(cid) is None or state.clients[cid] != secret:
        return cid, _oauth(401, "invalid_client", "Unauthorized")
    return cid, None


def token(state, req):
    try:
        form = req.form()
    except (ValueError, UnicodeDecodeError):
        return _oauth(400, "invalid_request", "Invalid request body")
    grant = form.get("grant_type", "")
    handler = {"authorization_code": _grant_code, "refresh_token": _grant_refresh,
               JWT_BEARER: _grant_jwt}.get(grant)
    if handler is None:
        return _oauth(400, "unsupported_grant_type", "Invalid grant_type: %s" % grant)
    return handler(state, req, form)


def _token_answer(state, user, scopes, kind, refresh=None, include_scope=True, **extra):
    access, lifetime = state.issue_access(user, scopes, kind, refresh=refresh, **extra)
    body = {"access_token": access, "expires_in": lifetime}
    if refresh and kind == "user-code":
        body["refresh_token"] = refresh
    if include_scope:
        body["scope"] = " ".join(scopes)
    body["token_type"] = "Bearer"
    return json_resp(200, body, NO_STORE)


def _grant_code(state, req, form):
    cid, err = _client_auth(state, form, req)
    if err:
        return err
    code = form.get("code")
    if not code:
        return _oauth(400, "invalid_request", "Missing required parameter: code")
    with state.lock:
        rec = state.codes.get(code)
        if not rec or rec["used"] or rec["expires"] < time.time() or rec["client"] != cid:
            return _oauth(400, "invalid_grant", "Bad Request")
        if form.get("redirect_uri") != rec["redirect_uri"]:
            return _oauth(400, "redirect_uri_mismatch", "Bad Request")
        if rec["challenge"]:
            verifier = form.get("code_verifier")
            if not verifier:
                return _oauth(400, "invalid_request", "Missing code verifier.")
            if rec["method"] == "S256":
                computed = b64url_encode(hashlib.sha256(verifier.encode("ascii", "replace"))
                                         .digest())
            else:
                computed = verifier
            if computed != rec["challenge"]:
                return _oauth(400, "invalid_grant", "Invalid code verifier.")
        rec["used"] = True
    refresh = state.issue_refresh(rec["user"], rec["scopes"], cid)
    return _token_answer(state, rec["user"], rec["scopes"], "user-code", refresh=refresh,
                         client=cid)


def _grant_refresh(state, req, form):
    cid, err = _client_auth(state, form, req)
    if err:
        return err
    rt = form.get("refresh_token")
    if not rt:
        return _oauth(400, "invalid_request", "Missing required parameter: refresh_token")
    with state.lock:
        rec = state.refresh.get(rt)
        if not rec or rec["revoked"]:
            return _oauth(400, "invalid_grant", "Token has been expired or revoked.")
        if rec["client"] != cid:
            return _oauth(400, "unauthorized_client", "Unauthorized")
        scopes = rec["scopes"]
        if form.get("scope"):
            wanted = form["scope"].split()
            if not set(wanted) <= set(scopes):
                return _oauth(400, "invalid_scope",
                              "The requested scope is not a subset of the granted scopes.")
            scopes = wanted
    return _token_answer(state, rec["user"], scopes, "user-refresh", refresh=rt, client=cid)


def _find_jwt_key(state, header, claims):
    """(key, account email, signer) for a JWT, or (None, None, error Resp)."""
    kid, iss = header.get("kid"), claims.get("iss")
    if kid and kid in state.iam_kids and state.iam_key:
        return state.iam_key, state.iam_kids[kid], "iam.signJwt"
    for key in state.sa_keys.values():
        if kid and key["kid"] == kid:
            return key, key["email"], "sa-key"
    if iss in state.sa_keys and not (kid and state.sa_keys[iss]["kid"] != kid):
        return state.sa_keys[iss], iss, "sa-key"
    if iss in state.sa_keys or kid:
        return None, None, _oauth(400, "invalid_grant", "Invalid JWT Signature.")
    return None, None, _oauth(400, "invalid_grant", "Invalid grant: account not found")


def _grant_jwt(state, req, form):
    assertion = form.get("assertion")
    if not assertion:
        return _oauth(400, "invalid_request", "Missing required parameter: assertion")
    try:
        header, claims, signing_input, signature = jwt_decode(assertion)
    except (ValueError, UnicodeDecodeError):
        return _oauth(400, "invalid_grant", "Invalid JWT Signature.")
    if header.get("alg") != "RS256":
        return _oauth(400, "invalid_grant", "Invalid JWT Signature.")
    with state.lock:
        key, account, signer = _find_jwt_key(state, header, claims)
    if key is None:
        return signer
    if not rs256_verify(key, signing_input, signature):
        return _oauth(400, "invalid_grant", "Invalid JWT Signature.")
    if claims.get("iss") != account:
        return _oauth(400, "invalid_grant", "Invalid JWT Signature.")
    if not state.token_uri_ok(claims.get("aud")):
        return _oauth(400, "invalid_grant", "Invalid JWT: Failed audience check. The expected "
                      "value was: %s://127.0.0.1:%d/token" % (state.scheme, state.port))
    iat, exp, now = claims.get("iat"), claims.get("exp"), time.time()
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (iat, exp)) \
            or exp - iat > 3600 or exp < iat or not iat - 300 <= now <= exp:
        return _oauth(400, "invalid_grant", SHORT_LIVED)
    scopes = str(claims.get("scope") or "").split()
    if not scopes:
        return _oauth(400, "invalid_scope", "Empty or missing scope not allowed.")
    sub = claims.get("sub")
    with state.lock:
        allowed = state.settings["delegation"].get(account, True)
    if sub and not _delegated(allowed, scopes):
        return _oauth(401, "unauthorized_client", UNAUTHORIZED_CLIENT)
    with state.lock:
        state.assertions.append({"header": header, "claims": claims, "signer": signer,
                                 "account": account})
    user = str(sub).lower() if sub else account
    return _token_answer(state, user, scopes, "sa-delegated" if sub else "sa-self",
                         include_scope=False, sa=account, sa_self=not sub)


def _delegated(allowed, scopes):
    if isinstance(allowed, list):
        return set(scopes) <= set(allowed)
    return bool(allowed)


# ================================================================ /revoke, tokeninfo
def revoke(state, req):
    try:
        form = req.form() if req.method == "POST" else {}
    except (ValueError, UnicodeDecodeError):
        form = {}
    tok = form.get("token") or req.q("token")
    if not tok or not state.revoke(tok):
        return _oauth(400, "invalid_token", "Token expired or revoked")
    return json_resp(200, {})


def tokeninfo(state, req):
    try:
        form = req.form() if req.method == "POST" else {}
    except (ValueError, UnicodeDecodeError):
        form = {}
    tok = form.get("access_token") or req.q("access_token")
    rec = state.live_access(tok)
    if rec is None:
        return _oauth(400, "invalid_token", "Invalid Value")
    client = rec.get("client") or rec.get("sa") or ""
    body = {"azp": client, "aud": client, "sub": _numeric_id(rec["user"]),
            "scope": " ".join(rec["scopes"]), "exp": str(int(rec["expires"])),
            "expires_in": str(max(0, int(rec["expires"] - time.time()))),
            "email": rec["user"], "email_verified": "true"}
    if rec.get("refresh"):
        body["access_type"] = "offline"
    return json_resp(200, body)


def _numeric_id(email):
    return str(int(hashlib.sha1(email.encode()).hexdigest()[:15], 16))


# ================================================================ metadata server
_MD_HEADERS = [("Metadata-Flavor", "Google"), ("Server", "Metadata Server for VM")]
_MD_SA = re.compile(r"^/computeMetadata/v1/instance/service-accounts/([^/]+)/"
                    r"(token|email|scopes)/?$")


def metadata(state, req):
    if req.headers.get("metadata-flavor") != "Google":
        return text_resp(403, "Missing required header: Metadata-Flavor\n", _MD_HEADERS)
    if req.path.rstrip("/") == "/computeMetadata/v1/project/project-id":
        return text_resp(200, "test-project", _MD_HEADERS)
    m = _MD_SA.match(req.path)
    with state.lock:
        email = state.settings["runtime_sa_email"]
        scopes = list(state.settings["runtime_sa_scopes"])
    if not m or urllib.parse.unquote(m.group(1)) not in ("default", email):
        return text_resp(404, "Not Found\n", _MD_HEADERS, "text/html; charset=UTF-8")
    if m.group(2) == "email":
        return text_resp(200, email, _MD_HEADERS)
    if m.group(2) == "scopes":
        return text_resp(200, "\n".join(scopes) + "\n", _MD_HEADERS)
    if req.q("scopes"):
        scopes = [s for s in req.q("scopes").split(",") if s]
    access, lifetime = state.issue_access(email, scopes, "metadata", sa=email, sa_self=True)
    return Resp(200, dumps({"access_token": access, "expires_in": lifetime,
                            "token_type": "Bearer"}), JSON_TYPE, _MD_HEADERS)


def metadata_endpoint_name(path):
    m = _MD_SA.match(path)
    return "metadata." + m.group(2) if m else "metadata.other"


# ================================================================ IAM Credentials signJwt
SIGN_JWT_RX = re.compile(r"^/v1/projects/([^/]+)/serviceAccounts/([^/]+):signJwt$")


def _iam_error(code, message, status, reason=None, metadata=None):
    err = {"code": code, "message": message, "status": status}
    if reason:
        err["details"] = [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": reason,
                           "domain": "iam.googleapis.com", "metadata": metadata or {}}]
    return json_resp(code, {"error": err})


def sign_jwt(state, req):
    rec = state.live_access(req.bearer())
    if rec is None or not (rec["kind"] == "metadata" or
                           "https://www.googleapis.com/auth/cloud-platform" in rec["scopes"]):
        body = gerrors.unauthenticated()
        body["error"].pop("errors")
        return json_resp(401, body)
    email = urllib.parse.unquote(SIGN_JWT_RX.match(req.path).group(2))
    with state.lock:
        deny = state.settings["deny_sign_jwt"]
    if deny is True or (isinstance(deny, list) and email in deny):
        return _iam_error(403, "Permission 'iam.serviceAccounts.signJwt' denied on resource "
                          "(or it may not exist).", "PERMISSION_DENIED", "IAM_PERMISSION_DENIED",
                          {"permission": "iam.serviceAccounts.signJwt"})
    try:
        payload = req.json().get("payload")
        if not isinstance(payload, str) or not isinstance(json.loads(payload), dict):
            raise ValueError("payload")
    except (ValueError, UnicodeDecodeError):
        return _iam_error(400, "Invalid JSON payload received. Request contains an invalid "
                          "argument: payload must be a JSON object string.", "INVALID_ARGUMENT")
    if state.iam_key is None:
        return _iam_error(500, "fake-google: start with --iam-key to use signJwt", "INTERNAL")
    kid = hashlib.sha1(("%s:%x" % (email, state.iam_key["n"])).encode()).hexdigest()
    signed = _sign_raw(state.iam_key, {"alg": "RS256", "kid": kid, "typ": "JWT"}, payload)
    with state.lock:
        state.iam_kids[kid] = email
        state.signed_jwts.append({"email": email, "keyId": kid, "claims": json.loads(payload),
                                  "caller": rec["user"]})
    return json_resp(200, {"keyId": kid, "signedJwt": signed})


def _sign_raw(key, header, payload_text):
    """Sign the payload exactly as given (as IAM does)."""
    h = b64url_encode(json.dumps(header, separators=(",", ":")).encode())
    c = b64url_encode(payload_text.encode("utf-8"))
    return "%s.%s.%s" % (h, c, b64url_encode(rs256_sign(key, ("%s.%s" % (h, c)).encode())))

