#!/usr/bin/env python3
"""seed-client.py: the seed's collect_from_gmail flow as a reference client
(Python standard library only), for bench/collect-quota.sh.

The seed (shared/seeds/collect-from-gmail-plan.txt, v1 sections 4 and 5, v2
section 2) does, per run:
  labels.list, and labels.create for a missing label (to get label ids);
  messages.list with the query, page after page (no maxResults: Gmail's
      default page of 100, as the Google client sends it);
  per message: messages.get (format=full, the default), walk the MIME tree
      ("certains fichiers sont imbriqués"), filter sender / MIME type / size,
      then per attachment messages.attachments.get, base64url-decode,
      sha256, dedup (run cache), write under incoming/YYYY/MM/DD/;
  per message handled: messages.modify, adding the "imported" label and
      removing UNREAD (APPLY_LABELS, MARK_AS_READ).
Rate limits: exponential backoff on 429/403 rateLimitExceeded and 5xx.

Usage: seed-client.py BASE_URL TOKEN_DIR QUERY OUTDIR [ALLOWED_SENDERS]
TOKEN_DIR holds token.json and client_secret.json as gmail-auth login left
them; the client refreshes the access token once (not a Gmail API call).
Prints one JSON object: messages, attachments, bytes, calls per method."""
import base64
import hashlib
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

ALLOWED_MIME = {"application/pdf", "image/jpeg", "image/png"}
MAX_SIZE = 20 * 1024 * 1024
LABEL = "gmail-ops/imported"


class Client:
    def __init__(self, base, token_dir):
        self.base = base.rstrip("/")
        self.calls = {}
        with open(os.path.join(token_dir, "token.json")) as f:
            tok = json.load(f)
        with open(os.path.join(token_dir, "client_secret.json")) as f:
            sec = json.load(f)["installed"]
        form = urllib.parse.urlencode({
            "grant_type": "refresh_token", "refresh_token": tok["refresh_token"],
            "client_id": sec["client_id"], "client_secret": sec["client_secret"]})
        with urllib.request.urlopen(sec["token_uri"], form.encode()) as r:
            self.token = json.load(r)["access_token"]

    def call(self, name, method, path, query=None, body=None):
        url = f"{self.base}/gmail/v1/users/me/{path}"
        if query:
            url += "?" + urllib.parse.urlencode(query)
        data = json.dumps(body).encode() if body is not None else None
        for attempt in range(8):
            req = urllib.request.Request(url, data=data, method=method)
            req.add_header("Authorization", "Bearer " + self.token)
            if data is not None:
                req.add_header("Content-Type", "application/json")
            self.calls[name] = self.calls.get(name, 0) + 1
            try:
                with urllib.request.urlopen(req) as r:
                    text = r.read()
                    return json.loads(text) if text else {}
            except urllib.error.HTTPError as e:
                if e.code in (429, 403, 500, 502, 503, 504) and attempt < 7:
                    e.read()
                    time.sleep(min(32.0, 0.5 * 2 ** attempt))
                    continue
                raise
        raise RuntimeError("unreachable")


def walk(part):
    yield part
    for p in part.get("parts", []) or []:
        yield from walk(p)


def header(payload, name):
    for h in payload.get("headers", []):
        if h["name"].lower() == name.lower():
            return h["value"]
    return ""


def sender_ok(frm, allowed):
    addr = frm.rsplit("<", 1)[-1].rstrip(">").strip().lower()
    return any(addr == a or (a.startswith("@") and addr.endswith(a)) for a in allowed)


def main():
    base, token_dir, query, outdir = sys.argv[1:5]
    allowed = [a.strip().lower() for a in (sys.argv[5] if len(sys.argv) > 5 else "").split(",")
               if a.strip()]
    c = Client(base, token_dir)
    labels = c.call("labels.list", "GET", "labels").get("labels", [])
    ids = {lab["name"]: lab["id"] for lab in labels}
    for name in ("gmail-ops", LABEL):
        if name not in ids:
            ids[name] = c.call("labels.create", "POST", "labels", body={"name": name})["id"]
    refs, token = [], None
    while True:
        q = {"q": query}
        if token:
            q["pageToken"] = token
        page = c.call("messages.list", "GET", "messages", q)
        refs += page.get("messages", [])
        token = page.get("nextPageToken")
        if not token:
            break
    seen, nmsg, natt, nbytes, ncollected = set(), 0, 0, 0, 0
    for ref in refs:
        msg = c.call("messages.get", "GET", "messages/" + ref["id"], {"format": "full"})
        nmsg += 1
        payload = msg["payload"]
        if allowed and not sender_ok(header(payload, "From"), allowed):
            continue
        day = time.strftime("%Y/%m/%d", time.gmtime(int(msg["internalDate"]) / 1000))
        handled = False
        for part in walk(payload):
            body = part.get("body", {})
            if not part.get("filename") or "attachmentId" not in body:
                continue
            if part.get("mimeType") not in ALLOWED_MIME or body.get("size", 0) > MAX_SIZE:
                continue
            att = c.call("messages.attachments.get", "GET",
                         f"messages/{ref['id']}/attachments/{body['attachmentId']}")
            data = base64.urlsafe_b64decode(att["data"])
            digest = hashlib.sha256(data).hexdigest()
            handled = True
            if digest in seen:
                continue
            seen.add(digest)
            d = os.path.join(outdir, "incoming", day)
            os.makedirs(d, exist_ok=True)
            name = os.path.basename(part["filename"]) or "attachment"
            with open(os.path.join(d, f"{digest[:12]}-{name}"), "wb") as f:
                f.write(data)
            natt += 1
            nbytes += len(data)
        if handled:
            ncollected += 1
            c.call("messages.modify", "POST", f"messages/{ref['id']}/modify",
                   body={"addLabelIds": [ids[LABEL]], "removeLabelIds": ["UNREAD"]})
    json.dump({"messages": nmsg, "collected": ncollected, "attachments": natt, "bytes": nbytes,
               "calls": c.calls, "total_calls": sum(c.calls.values())}, sys.stdout)
    print()


if __name__ == "__main__":
    main()
