#!/usr/bin/env python3
"""compare.py: real-world messages through mime-extract, checked against
Python's email package (policy=default).

    compare.py [--timeout S] [--expect FILE] NAME=DIR:GLOB ...

Each file under DIR matching GLOB (recursively) is one message. It goes
through `mime-extract FILE` (the bytes inline as "data") under a time
bound; a crash (exit other than 0 or 1, a signal), a hang, output that is
not one valid NDJSON record a line, or "data" that does not decode to the
record's size and sha256 fails at once.

Python's side: BytesParser(policy=policy.default) gives the tree, each
part's type, disposition, filename (get_filename()), Content-ID and
decoded bytes (get_payload(decode=True)); the choice of parts is
mime-extract(1)'s, "What is an attachment", restated in attachments()
below: the same walk, section numbers and exclusions. Both sides then
give, per message, {part: (filename, size, sha256)}; every difference is
one line

    ["NAME/FILE", "PART", "FIELD", mime-extract's, Python's]

FIELD is filename, size or sha256; "only-mime-extract" or "only-python"
for a part one side reports and the other not (the values are then
[filename, size]); "error" for a message mime-extract refused (PART "-",
the error and the number of parts Python found); "messages" when
mime-extract read the file as more than one message (an mbox).

With --expect, the differences must be exactly the lines of FILE, each
followed by "# why": a new one or a vanished one is listed and fails.
Prints one summary line per corpus and a total; exits 0 or 1.
"""

import argparse
import base64
import email
import email.policy
import hashlib
import json
import os
import pathlib
import re
import subprocess
import sys
import time

# GMime parses these as an attached message (GMimeMessagePart); other
# message/* types are leaves for it, where Python parses them as messages.
MESSAGE_PARTS = ("message/rfc822", "message/news", "message/global",
                 "message/rfc2822")
SIGNATURES = ("application/pgp-signature", "application/pkcs7-signature",
              "application/x-pkcs7-signature")
MAX_REF = 998
MAX_REFS = 10000


def fail(msg):
    print("compare.py: " + msg, file=sys.stderr)
    sys.exit(1)


def ctype(part):
    return part.get_content_type().lower()


def filename(part):
    """get_filename() as mime-extract writes it: valid UTF-8 (raw 8-bit
    bytes come as surrogates), "" as none."""
    name = part.get_filename()
    if not name:
        return None
    return name.encode("utf-8", "surrogateescape").decode("utf-8",
                                                          "replace")


def disposition(part):
    """RFC 2183: an unknown disposition counts as attachment."""
    d = part.get_content_disposition()
    if not d:
        return None
    return "inline" if d == "inline" else "attachment"


def url_stop(c):
    return c <= " " or c == "\x7f" or c in "\"'<>`"


def scan_cids(html, refs):
    """cid: URLs in an HTML body, %-decoded, as mime.c's scan_cids."""
    p = 0
    low = html.lower()
    while len(refs) < MAX_REFS:
        p = low.find("cid:", p)
        if p < 0:
            break
        if p > 0 and html[p - 1].isascii() and html[p - 1].isalnum():
            p += 4
            continue
        p += 4
        e = p
        while (e < len(html) and not url_stop(html[e]) and html[e] != ")"
               and e - p < MAX_REF):
            e += 1
        if e == p:
            continue
        refs.append(re.sub(r"%([0-9A-Fa-f]{2})",
                           lambda m: chr(int(m.group(1), 16)), html[p:e]))
        p = e


def text(part):
    """A text part's content as GMime gives it: in an unknown charset,
    the bytes as UTF-8."""
    try:
        return part.get_content()
    except LookupError:
        raw = part.get_payload(decode=True) or b""
        return raw.decode("utf-8", "replace")


def content_id(part):
    cid = part.get("Content-ID")
    if cid is None:
        return None
    cid = str(cid).strip()
    if cid.startswith("<") and cid.endswith(">"):
        cid = cid[1:-1]
    return cid.strip() or None


def section(prefix, n):
    return str(n) if prefix == "" else "%s.%d" % (prefix, n)


def attachments(msg):
    """mime-extract(1)'s attachments of msg: {section: (filename, bytes)}.
    The walk follows walk_obj() and walk_body() of lib/mime.c."""
    cands = []
    refs = []

    def walk_body(body, prefix):
        if body.get_content_maintype() == "multipart" and body.is_multipart():
            walk_obj(body, prefix, False)
        else:
            walk_obj(body, section(prefix, 1), False)

    def walk_obj(obj, path, signature):
        t = ctype(obj)
        if t == "multipart/encrypted":
            return
        if obj.get_content_maintype() == "multipart":
            if not obj.is_multipart():
                return          # no boundary: GMime finds no parts either
            signed = t == "multipart/signed"
            for i, child in enumerate(obj.get_payload()):
                walk_obj(child, section(path, i + 1), signed and i == 1)
            return
        if t in MESSAGE_PARTS:
            inner = obj.get_payload()
            if isinstance(inner, list) and inner:
                walk_body(inner[0], path)
            return
        leaf(obj, path, signature)

    def leaf(obj, path, signature):
        t = ctype(obj)
        if signature or t in SIGNATURES:
            return
        name = filename(obj)
        disp = disposition(obj)
        if (name is None and disp in (None, "inline") and
                (t.startswith("text/") or t.startswith("message/"))):
            if t == "text/html":
                scan_cids(text(obj), refs)
            return
        if obj.is_multipart():
            # another message/* type, a leaf for GMime: its bytes are
            # the raw text, which Python no longer has
            data = None
        else:
            data = obj.get_payload(decode=True) or b""
        cands.append((path, name, data, content_id(obj)))

    body = msg
    walk_body(body, "")
    out = {}
    for path, name, data, cid in cands:
        if cid is not None and any(r.lower() == cid.lower() for r in refs):
            continue
        out[path] = (name, data)
    return out


def run_mime_extract(prog, path, timeout):
    """The records of mime-extract on path; fails on a crash or a hang."""
    t0 = time.monotonic()
    try:
        p = subprocess.run([prog, path], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=timeout)
    except subprocess.TimeoutExpired:
        fail("%s: mime-extract took more than %g s" % (path, timeout))
    took = time.monotonic() - t0
    if p.returncode not in (0, 1):
        fail("%s: mime-extract exited %d: %s" % (path, p.returncode,
             p.stderr.decode("utf-8", "replace").strip()))
    try:
        text = p.stdout.decode("utf-8")
        recs = [json.loads(line) for line in text.splitlines()]
    except ValueError as e:
        fail("%s: bad output: %s" % (path, e))
    if (p.returncode == 1) != any(r.get("error") for r in recs):
        fail("%s: exit %d does not match the records" % (path, p.returncode))
    for r in recs:
        if r["type"] != "attachment":
            continue
        data = base64.b64decode(r["data"], validate=True)
        if (len(data) != r["size"] or
                hashlib.sha256(data).hexdigest() != r["sha256"]):
            fail("%s: part %s: data is not size/sha256" % (path, r["part"]))
    return recs, took


def compare(name, path, recs):
    """Differences for one message, as lists."""
    diffs = []
    msgs = [r for r in recs if r["type"] == "message"]
    # bytes, not a file: message_from_binary_file reads through a text
    # layer that turns CRLF into LF, in the bodies too
    with open(path, "rb") as f:
        msg = email.message_from_bytes(f.read(), policy=email.policy.default)
    py = attachments(msg)
    if len(msgs) != 1:
        diffs.append([name, "-", "messages", len(msgs), 1])
        return diffs, 0, 0
    if msgs[0]["error"] is not None:
        diffs.append([name, "-", "error", msgs[0]["error"], len(py)])
        return diffs, 0, 0
    me = {r["part"]: r for r in recs if r["type"] == "attachment"}
    compared = agreed = 0
    for part in sorted(set(me) | set(py),
                       key=lambda s: [int(x) for x in s.split(".")]):
        if part not in py:
            diffs.append([name, part, "only-mime-extract",
                          [me[part]["filename"], me[part]["size"]], None])
            continue
        pname, pdata = py[part]
        if part not in me:
            diffs.append([name, part, "only-python",
                          None, [pname, None if pdata is None else
                                 len(pdata)]])
            continue
        compared += 1
        r = me[part]
        d = []
        if r["filename"] != pname:
            d.append([name, part, "filename", r["filename"], pname])
        if pdata is None:
            d.append([name, part, "size", r["size"], None])
        elif r["size"] != len(pdata):
            d.append([name, part, "size", r["size"], len(pdata)])
        elif r["sha256"] != hashlib.sha256(pdata).hexdigest():
            d.append([name, part, "sha256", r["sha256"],
                      hashlib.sha256(pdata).hexdigest()])
        if not d:
            agreed += 1
        diffs += d
    return diffs, compared, agreed


def key(d):
    return json.dumps(d, ensure_ascii=False)


def read_expect(path):
    """{line key: why}: each line a JSON array, then "# why"."""
    want = {}
    dec = json.JSONDecoder()
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            try:
                d, end = dec.raw_decode(line)
            except ValueError as e:
                fail("%s:%d: %s" % (path, n, e))
            why = line[end:].strip()
            if not why.startswith("#") or not why[1:].strip():
                fail("%s:%d: no \"# why\"" % (path, n))
            want[key(d)] = why
    return want


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--timeout", type=float, default=10)
    ap.add_argument("--expect")
    ap.add_argument("--mime-extract", default="mime-extract")
    ap.add_argument("corpora", nargs="+", metavar="NAME=DIR:GLOB")
    a = ap.parse_args()

    found = []
    totals = [0, 0, 0, 0]
    slowest = 0.0
    for spec in a.corpora:
        cname, _, rest = spec.partition("=")
        top, _, pattern = rest.rpartition(":")
        if not os.path.isdir(top):
            fail("%s: no such directory (is its package installed?)" % top)
        files = sorted(str(p) for p in pathlib.Path(top).rglob(pattern))
        if not files:
            fail("%s: no %s" % (top, pattern))
        counts = [0, 0, 0, 0]
        for path in files:
            recs, took = run_mime_extract(a.mime_extract, path, a.timeout)
            slowest = max(slowest, took)
            name = cname + "/" + os.path.relpath(path, top)
            d, compared, agreed = compare(name, path, recs)
            found += d
            counts[0] += 1
            counts[1] += compared
            counts[2] += agreed
            counts[3] += len(d)
        print("%s: %d messages, %d attachments compared, %d agree, "
              "%d differences" % (cname, *counts))
        totals = [x + y for x, y in zip(totals, counts)]
    print("total: %d messages, %d attachments compared, %d agree, "
          "%d differences" % tuple(totals))
    print("slowest message: %.2f s (bound %g s)" % (slowest, a.timeout))

    got = {key(d) for d in found}
    if a.expect is None:
        for k in sorted(got):
            print(k)
        return 0
    want = read_expect(a.expect)
    new = sorted(got - set(want))
    gone = sorted(set(want) - got)
    for k in new:
        print("new difference: " + k)
    for k in gone:
        print("vanished difference: " + k + "  " + want[k])
    return 1 if new or gone else 0


if __name__ == "__main__":
    sys.exit(main())
