# Lock-protected state of fake-google: settings, clients, keys, tokens, quota, faults, mailboxes.
import collections
import copy
import json
import os
import random
import re
import secrets
import threading
import time

import gmail_store
from rsa_jwt import load_pem_key

DEFAULT_CLIENT = ("test-client.apps.googleusercontent.com", "test-secret")
DEFAULT_USER = "user@example.com"
RUNTIME_SA = "runtime@test-project.iam.gserviceaccount.com"
CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform"

# Per-method quota units (Google's "Usage limits" table; methods missing from it: GET 1, other 5).
QUOTA_UNITS = {
    "drafts.create": 10, "drafts.delete": 10, "drafts.get": 5, "drafts.list": 5,
    "drafts.send": 100, "drafts.update": 15, "getProfile": 1, "history.list": 2,
    "labels.create": 5, "labels.delete": 5, "labels.get": 1, "labels.list": 1,
    "labels.update": 5, "labels.patch": 5, "messages.attachments.get": 5,
    "messages.batchDelete": 50, "messages.batchModify": 50, "messages.delete": 10,
    "messages.get": 5, "messages.import": 25, "messages.insert": 25, "messages.list": 5,
    "messages.modify": 5, "messages.send": 100, "messages.trash": 5, "messages.untrash": 5,
    "settings.delegates.create": 100, "settings.delegates.delete": 5,
    "settings.delegates.get": 1, "settings.delegates.list": 1, "settings.filters.create": 5,
    "settings.filters.delete": 5, "settings.filters.get": 1, "settings.filters.list": 1,
    "settings.forwardingAddresses.create": 100, "settings.forwardingAddresses.delete": 5,
    "settings.forwardingAddresses.get": 1, "settings.forwardingAddresses.list": 1,
    "settings.getAutoForwarding": 1, "settings.getImap": 1, "settings.getPop": 1,
    "settings.getVacation": 1, "settings.sendAs.create": 100, "settings.sendAs.delete": 5,
    "settings.sendAs.get": 1, "settings.sendAs.list": 1, "settings.sendAs.update": 100,
    "settings.sendAs.patch": 100, "settings.sendAs.verify": 100,
    "settings.updateAutoForwarding": 5, "settings.updateImap": 5, "settings.updatePop": 100,
    "settings.updateVacation": 5, "stop": 50, "threads.delete": 20, "threads.get": 10,
    "threads.list": 10, "threads.modify": 10, "threads.trash": 10, "threads.untrash": 10,
    "watch": 100,
}
REGIMES = {
    "2026": {"limit": 6000, "overrides": {"messages.get": 20, "messages.attachments.get": 20,
                                          "drafts.get": 20}},
    "legacy": {"limit": 15000, "overrides": {}},
}


def _load_sa_key(path):
    with open(path, encoding="utf-8") as fh:
        info = json.load(fh)
    key = load_pem_key(info["private_key"])
    key.update(email=info["client_email"], kid=info.get("private_key_id", ""),
               client_id=info.get("client_id", ""), project_id=info.get("project_id", ""))
    return key


class State:
    """Everything the fake knows; every access goes through self.lock."""

    def __init__(self, args, discovery):
        self.lock = threading.RLock()
        self.args = args
        self.discovery = discovery
        self.port = 0
        self.scheme = "http"
        self.clients = dict([DEFAULT_CLIENT])
        for spec in args.client or []:
            cid, _, secret = spec.partition(":")
            self.clients[cid] = secret
        self.sa_keys = {}
        for path in args.sa_key or []:
            key = _load_sa_key(path)
            self.sa_keys[key["email"]] = key
        self.iam_key = load_pem_key(open(args.iam_key, encoding="utf-8").read()) \
            if args.iam_key else None
        self.initial_settings = self._initial_settings()
        self.reset()

    def _initial_settings(self):
        a = self.args
        return {
            "latency_ms": 0, "jitter_ms": 0, "latency_match": "",
            "quota_window": 60,
            "quota_regime": a.quota_regime, "quota_limit": a.quota_limit,
            "quota_status": 429, "token_lifetime": a.token_lifetime,
            "max_concurrent": 0, "fail_rate": 0.0, "fail_statuses": [503],
            "fail_match": r"^gmail\.", "seed": 0,
            "runtime_sa_email": RUNTIME_SA, "runtime_sa_scopes": [CLOUD_PLATFORM],
            "deny_sign_jwt": False, "delegation": {e: True for e in self.sa_keys},
            "send_as": {}, "default_user": a.user, "auth_deny": False,
        }

    # ------------------------------------------------------------ reset
    def reset(self, keep_config=False, empty=False):
        with self.lock:
            if not keep_config:
                self.settings = copy.deepcopy(self.initial_settings)
            self.rng = random.Random(self.settings["seed"])
            self.codes, self.refresh, self.access = {}, {}, {}
            self.faults = []
            self.quota = {}
            self.in_flight = collections.Counter()
            self.endpoint_counts = collections.Counter()
            self.counts = collections.Counter()
            self.assertions, self.signed_jwts, self.sent = [], [], []
            self.iam_kids = {}
            self.attachments = {}
            self.mailboxes = {}
            if self.args.mailbox and not empty:
                self._load_mailboxes(self.args.mailbox)

    def _load_mailboxes(self, directory):
        gmail_store.load_dir(self.mailbox(self.settings["default_user"]), directory)
        for name in sorted(os.listdir(directory)):
            sub = os.path.join(directory, name)
            if "@" in name and os.path.isdir(sub):
                gmail_store.load_dir(self.mailbox(name.lower()), sub)

    def mailbox(self, user):
        user = user.lower()
        with self.lock:
            if user not in self.mailboxes:
                self.mailboxes[user] = gmail_store.Mailbox(user)
            return self.mailboxes[user]

    # ------------------------------------------------------------ settings
    def update_settings(self, patch):
        """Merge a /_fake/config body; raises ValueError on a bad value."""
        with self.lock:
            for key, value in patch.items():
                if key not in self.settings:
                    raise ValueError("unknown setting %r" % key)
                _check_type(key, value)
                if key == "quota_regime" and value not in REGIMES:
                    raise ValueError("quota_regime must be 2026 or legacy")
                if key == "quota_status" and value not in (403, 429):
                    raise ValueError("quota_status must be 429 or 403")
                if key == "delegation":
                    if not isinstance(value, dict):
                        raise ValueError("delegation must be an object")
                    self.settings[key].update(value)
                    continue
                if key == "send_as":
                    for user, conf in _send_as_patch(value, self.settings["default_user"]).items():
                        self.settings[key].setdefault(user, {}).update(conf)
                    continue
                if key in ("fail_match", "latency_match"):
                    re.compile(value)
                self.settings[key] = value
            if "seed" in patch:
                self.rng = random.Random(self.settings["seed"])
            return copy.deepcopy(self.settings)

    def token_lifetime(self):
        return int(self.settings["token_lifetime"])

    def token_uri_ok(self, aud):
        ours = {"%s://%s:%d/token" % (self.scheme, host, self.port)
                for host in ("127.0.0.1", "localhost")}
        ours |= {"https://oauth2.googleapis.com/token",
                 "https://www.googleapis.com/oauth2/v4/token",
                 "https://accounts.google.com/o/oauth2/token"}
        return aud in ours

    # ------------------------------------------------------------ tokens
    def issue_access(self, user, scopes, kind, **extra):
        token = "ya29.fake-" + secrets.token_urlsafe(32)
        lifetime = self.token_lifetime()
        with self.lock:
            rec = {"user": user, "scopes": list(scopes), "kind": kind,
                   "issued": time.time(), "expires": time.time() + lifetime, "revoked": False}
            rec.update(extra)
            self.access[token] = rec
            self.counts["access_tokens_issued"] += 1
        return token, lifetime

    def issue_refresh(self, user, scopes, client):
        token = "1//fake-" + secrets.token_urlsafe(40)
        with self.lock:
            self.refresh[token] = {"user": user, "scopes": list(scopes), "client": client,
                                   "revoked": False}
            self.counts["refresh_tokens_issued"] += 1
        return token

    def live_access(self, token):
        with self.lock:
            rec = self.access.get(token) if token else None
            if rec and not rec["revoked"] and rec["expires"] > time.time():
                return rec
            return None

    def revoke(self, token):
        """Revoke an access or refresh token (and the whole grant). False if unknown."""
        with self.lock:
            rt = token if token in self.refresh else None
            rec = self.access.get(token)
            if rec is not None:
                if rec["revoked"] or rec["expires"] <= time.time():
                    return False
                rec["revoked"] = True
                rt = rec.get("refresh")
            elif rt is None or self.refresh[rt]["revoked"]:
                return False
            if rt:
                self.refresh[rt]["revoked"] = True
                for other in self.access.values():
                    if other.get("refresh") == rt:
                        other["revoked"] = True
            self.counts["revocations"] += 1
            return True

    # ------------------------------------------------------------ quota
    def quota_limit(self):
        limit = self.settings["quota_limit"]
        return int(limit) if limit else REGIMES[self.settings["quota_regime"]]["limit"]

    def units(self, method):
        regime = REGIMES[self.settings["quota_regime"]]
        if method in regime["overrides"]:
            return regime["overrides"][method]
        return QUOTA_UNITS.get(method, 1 if method.endswith((".get", ".list")) else 5)

    def charge(self, user, method, now):
        """Consume quota units; returns None, or the time (epoch) when the call would fit."""
        with self.lock:
            units = self.units(method)
            limit = self.quota_limit()
            span = float(self.settings["quota_window"])
            q = self.quota.setdefault(user, {"units": 0, "calls": 0, "rejects": 0,
                                             "window": collections.deque()})
            win = q["window"]
            while win and win[0][0] <= now - span:
                win.popleft()
            used = sum(u for _, u in win)
            if used + units <= limit:
                win.append((now, units))
                q["units"] += units
                q["calls"] += 1
                return None
            q["rejects"] += 1
            need, freed = used + units - limit, 0
            for t, u in win:
                freed += u
                if freed >= need:
                    return t + span
            return now + span

    def latency(self, endpoint):
        """Seconds to delay a request to endpoint (latency_ms ± jitter_ms, uniform)."""
        with self.lock:
            s = self.settings
            if not s["latency_ms"] and not s["jitter_ms"]:
                return 0.0
            if s["latency_match"] and not re.search(s["latency_match"], endpoint):
                return 0.0
            jitter = float(s["jitter_ms"] or 0)
            delay = float(s["latency_ms"] or 0)
            if jitter:
                delay += self.rng.uniform(-jitter, jitter)
            return max(0.0, delay) / 1000.0

    # ------------------------------------------------------------ faults
    def set_faults(self, rules):
        checked = []
        for rule in rules:
            if not isinstance(rule, dict) or "match" not in rule:
                raise ValueError("each rule needs a 'match' regex")
            rule = dict(rule)
            rule["_rx"] = re.compile(rule["match"])
            rule.setdefault("kind", "error")
            if rule["kind"] not in ("error", "reset", "truncate", "hang"):
                raise ValueError("kind must be error, reset, truncate or hang")
            rule["seconds"] = float(rule.get("seconds", 10))
            rule["status"] = int(rule.get("status", 503))
            times = rule.get("times", 1)
            rule["remaining"] = -1 if times is None or int(times) < 0 else int(times)
            rule["fired"] = 0
            checked.append(rule)
        with self.lock:
            self.faults = checked

    def public_faults(self):
        with self.lock:
            return [{k: v for k, v in r.items() if k != "_rx"} for r in self.faults]

    def pick_fault(self, method, path, endpoint):
        """The fault rule to apply to this request, if any (spends one of its times)."""
        with self.lock:
            for rule in self.faults:
                if rule["remaining"] == 0:
                    continue
                if rule.get("method") and rule["method"].upper() != method:
                    continue
                if not (rule["_rx"].search(path) or rule["_rx"].search(endpoint)):
                    continue
                if rule["remaining"] > 0:
                    rule["remaining"] -= 1
                rule["fired"] += 1
                return rule
            s = self.settings
            if s["fail_rate"] and re.search(s["fail_match"], endpoint) \
                    and self.rng.random() < float(s["fail_rate"]):
                self.counts["random_faults"] += 1
                pick = self.rng.choice(s["fail_statuses"] or [503])
                if isinstance(pick, dict):  # a rule's answer: kind, status, reason
                    return dict(pick, kind=pick.get("kind", "error"),
                                status=int(pick.get("status", 503)), random=True)
                return {"status": int(pick), "kind": "error", "random": True}
        return None

    # ------------------------------------------------------------ send-as
    def send_as(self, user):
        with self.lock:
            conf = self.settings["send_as"].get(user, {})
            primary = {"sendAsEmail": user, "displayName": conf.get("displayName", "Test User"),
                       "replyToAddress": conf.get("replyToAddress", ""),
                       "signature": conf.get("signature", "<div>-- <br><b>Test User</b></div>"),
                       "isPrimary": True, "isDefault": not conf.get("aliases")
                       or not any(a.get("isDefault") for a in conf["aliases"])}
            aliases = []
            for alias in conf.get("aliases", []):
                entry = {"sendAsEmail": alias["sendAsEmail"],
                         "displayName": alias.get("displayName", ""),
                         "replyToAddress": alias.get("replyToAddress", ""),
                         "signature": alias.get("signature", ""),
                         "isDefault": bool(alias.get("isDefault")), "treatAsAlias": True,
                         "verificationStatus": alias.get("verificationStatus", "accepted")}
                aliases.append(entry)
            return [primary] + aliases

    # ------------------------------------------------------------ snapshot
    def snapshot(self):
        with self.lock:
            now = time.time()
            quota = {u: {"units": q["units"], "calls": q["calls"], "rejects": q["rejects"],
                         "window_units": sum(x for t, x in q["window"]
                                             if t > now - float(self.settings["quota_window"]))}
                     for u, q in self.quota.items()}
            boxes = {u: _mailbox_view(mb) for u, mb in self.mailboxes.items()}
            live = sum(1 for r in self.access.values()
                       if not r["revoked"] and r["expires"] > now)
            return {
                "quota": quota, "quota_limit": self.quota_limit(),
                "endpoints": dict(self.endpoint_counts),
                "tokens_issued": self.counts["access_tokens_issued"],
                "tokens": {"access_issued": self.counts["access_tokens_issued"],
                           "refresh_issued": self.counts["refresh_tokens_issued"],
                           "codes_issued": self.counts["codes_issued"],
                           "live_access": live, "revocations": self.counts["revocations"]},
                "jwt_claims": [a["claims"] for a in self.assertions],
                "jwt_assertions": self.assertions,
                "signed_jwts": self.signed_jwts,
                "mailboxes": boxes, "sent": self.sent,
                "faults": self.public_faults(), "random_faults": self.counts["random_faults"],
                "in_flight": dict(self.in_flight),
                "settings": copy.deepcopy(self.settings),
            }


_NUMBERS = {"latency_ms", "jitter_ms", "quota_limit", "quota_window", "quota_status",
            "token_lifetime", "max_concurrent", "fail_rate", "seed"}
_STRINGS = {"latency_match", "fail_match", "runtime_sa_email", "default_user"}


def _check_type(key, value):
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if key in _NUMBERS and not number and not (key == "quota_limit" and value is None):
        raise ValueError("%s must be a number" % key)
    if key in _STRINGS and not isinstance(value, str):
        raise ValueError("%s must be a string" % key)
    if key == "fail_statuses" and not (isinstance(value, list) and all(
            (isinstance(v, int) and not isinstance(v, bool)) or (
                isinstance(v, dict) and v.get("kind", "error") in ("error", "reset", "truncate")
                and set(v) <= {"kind", "status", "reason", "message", "status_name"})
            for v in value)):
        raise ValueError("fail_statuses must be a list of HTTP statuses or of "
                         "{kind: error|reset|truncate, status, reason, message, status_name}")
    if key == "runtime_sa_scopes" and not (isinstance(value, list) and all(
            isinstance(v, str) for v in value)):
        raise ValueError("runtime_sa_scopes must be a list of strings")
    if key == "auth_deny" and not isinstance(value, bool):
        raise ValueError("auth_deny must be true or false")
    if key == "deny_sign_jwt" and not isinstance(value, (bool, list)):
        raise ValueError("deny_sign_jwt must be a bool or a list of emails")


def _mailbox_view(mb):
    return {"historyId": str(mb.history_id), "historyFloor": str(mb.history_floor),
            "labels": [{"id": l["id"], "name": l["name"], "type": l["type"]}
                       for l in mb.labels.values()],
            "messages": {m.id: {"threadId": m.thread_id, "labelIds": list(m.label_ids),
                                "historyId": str(m.history_id),
                                "internalDate": str(m.internal_date),
                                "subject": m.header("Subject")}
                         for m in mb.messages.values()}}


def _send_as_patch(value, default_user):
    """send_as accepts {"user": U, "signature": ..} (user defaults) or {U: {...}}."""
    if not isinstance(value, dict):
        raise ValueError("send_as must be an object")
    fields = {"signature", "displayName", "replyToAddress", "aliases", "user"}
    if value and set(value) <= fields:
        value = dict(value)
        user = value.pop("user", default_user).lower()
        return {user: value}
    return {k.lower(): v for k, v in value.items()}
