# The /_fake/ control API of fake-google (JSON, unauthenticated, never logged).
import re
import time

from fg_http import json_resp
from rsa_jwt import b64url_decode, b64url_encode


def _error(message, status=400):
    return json_resp(status, {"error": message})


def handle(state, req):
    path = req.path.rstrip("/")
    key = (req.method, path[len("/_fake"):])
    handler = ROUTES.get(key)
    if handler is None and req.method == "GET" and path.startswith("/_fake/messages/"):
        handler = get_message
    if handler is None:
        return _error("unknown control endpoint %s %s" % key, 404)
    try:
        body = req.json() if req.method in ("POST", "PUT") else {}
    except (ValueError, UnicodeDecodeError) as exc:
        return _error("body must be a JSON object: %s" % exc)
    try:
        return handler(state, req, body)
    except (ValueError, TypeError, KeyError, AttributeError, re.error) as exc:
        return _error("%s: %s" % (type(exc).__name__, exc))


def health(state, req, body):
    return json_resp(200, {"ok": True, "port": state.port, "scheme": state.scheme})


def get_config(state, req, body):
    return json_resp(200, state.snapshot()["settings"])


def post_config(state, req, body):
    return json_resp(200, state.update_settings(body))


def get_faults(state, req, body):
    return json_resp(200, {"rules": state.public_faults()})


def post_faults(state, req, body):
    rules = body.get("rules", [])
    if not isinstance(rules, list):
        raise ValueError("rules must be a list")
    state.set_faults(rules)
    return json_resp(200, {"rules": state.public_faults()})


def delete_faults(state, req, body):
    state.set_faults([])
    return json_resp(200, {"rules": []})


def expire_tokens(state, req, body):
    with state.lock:
        now = time.time()
        n = 0
        for rec in state.access.values():
            if rec["expires"] > now:
                rec["expires"] = now
                n += 1
    return json_resp(200, {"expired": n})


def revoke_refresh(state, req, body):
    with state.lock:
        n = 0
        for rec in state.refresh.values():
            if not rec["revoked"]:
                rec["revoked"] = True
                n += 1
    return json_resp(200, {"revoked": n})


def get_state(state, req, body):
    return json_resp(200, state.snapshot())


def get_sent(state, req, body):
    with state.lock:
        return json_resp(200, {"sent": list(state.sent)})


def post_message(state, req, body):
    if "raw" in body:
        raw = b64url_decode(body["raw"])
    elif "text" in body:
        raw = body["text"].replace("\r\n", "\n").replace("\n", "\r\n").encode("utf-8")
    else:
        raise ValueError("give 'raw' (base64url) or 'text'")
    user = (body.get("user") or state.settings["default_user"]).lower()
    labels = body.get("labelIds", ["INBOX", "UNREAD"])
    internal = body.get("internalDate")
    with state.lock:
        mb = state.mailbox(user)
        msg = mb.add(raw, labels, int(internal) if internal is not None else None,
                     thread_id=body.get("threadId"))
        return json_resp(200, {"id": msg.id, "threadId": msg.thread_id,
                               "labelIds": msg.label_ids, "historyId": str(msg.history_id)})


def get_message(state, req, body):
    mid = req.path.rstrip("/").rsplit("/", 1)[1]
    user = (req.q("user") or state.settings["default_user"]).lower()
    with state.lock:
        msg = state.mailbox(user).messages.get(mid)
        if msg is None:
            return _error("no message %s for %s" % (mid, user), 404)
        return json_resp(200, {"id": msg.id, "threadId": msg.thread_id,
                               "labelIds": msg.label_ids, "historyId": str(msg.history_id),
                               "internalDate": str(msg.internal_date),
                               "raw": b64url_encode(msg.raw, pad=True)})


def expire_history(state, req, body):
    user = (body.get("user") or state.settings["default_user"]).lower()
    with state.lock:
        mb = state.mailbox(user)
        mb.expire_history()
        return json_resp(200, {"historyFloor": str(mb.history_floor)})


def reset(state, req, body):
    state.reset(keep_config=bool(body.get("keep_config")), empty=bool(body.get("empty")))
    return json_resp(200, {"ok": True})


ROUTES = {
    ("GET", "/health"): health,
    ("GET", "/config"): get_config, ("POST", "/config"): post_config,
    ("GET", "/faults"): get_faults, ("POST", "/faults"): post_faults,
    ("DELETE", "/faults"): delete_faults,
    ("POST", "/expire-tokens"): expire_tokens, ("POST", "/revoke-refresh"): revoke_refresh,
    ("GET", "/state"): get_state, ("GET", "/sent"): get_sent,
    ("POST", "/messages"): post_message, ("POST", "/expire-history"): expire_history,
    ("POST", "/reset"): reset,
}
