#!/usr/bin/env python3
"""py-extract.py: the Python peer of bench/local-throughput.sh: Python's
email package doing mime-extract's extraction and hashing.

Usage: py-extract.py MAILDIR OUTDIR

For each message of MAILDIR (new/ then cur/, sorted by name): parse it
with email.parser.BytesParser(policy=email.policy.default), walk the MIME
tree (into message/rfc822 parts too), and for each attachment (a leaf that
is not a text body without filename or attachment disposition) decode it,
sha256 it and write it to its own file in OUTDIR. One process for the
whole corpus. Prints one JSON object: messages, attachments, bytes, and
the sha256 of every attachment in order (to check against the manifest)."""
import hashlib
import json
import os
import sys
from email import policy
from email.parser import BytesParser


def main():
    md, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    parser = BytesParser(policy=policy.default)
    nmsg = natt = nbytes = 0
    digests = []
    for sub in ("new", "cur"):
        d = os.path.join(md, sub)
        for name in sorted(os.listdir(d)):
            with open(os.path.join(d, name), "rb") as f:
                msg = parser.parse(f)
            nmsg += 1
            for part in msg.walk():
                if part.is_multipart():
                    continue
                filename = part.get_filename()
                disp = part.get_content_disposition()
                if part.get_content_maintype() == "text" and not filename \
                        and disp != "attachment":
                    continue
                data = part.get_payload(decode=True) or b""
                digest = hashlib.sha256(data).hexdigest()
                safe = os.path.basename(filename or "attachment").lstrip(".") or "attachment"
                fd = os.open(os.path.join(out, f"{natt:07d}-{safe}"),
                             os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "wb") as w:
                    w.write(data)
                natt += 1
                nbytes += len(data)
                digests.append(digest)
    json.dump({"messages": nmsg, "attachments": natt, "bytes": nbytes,
               "sha256": digests}, sys.stdout)
    print()


if __name__ == "__main__":
    main()
