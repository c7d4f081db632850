#!/usr/bin/env python3
"""gen-mailbox.py DIR [N [KB]]: a mailbox (RFC 822 .eml files) for the fault and
crash tests, deterministic: every outcome of receipt-store ingest, several
attachments per message, names that collide, the same bytes twice in one
message and across messages, mail from a sender not allowed.

Subjects name what each message is for; "Plain" marks one whose bytes,
name and date are its own, so failing it alone cannot change another
message's receipt (tests/faults.bats).  N more messages (default 0), each
with one PDF of its own name and KB kilobytes (default 2), make a longer
run or fill a disk."""
import base64
import os
import random
import struct
import sys
import zlib

SENDERS_OK = ["billing@shop.example", "receipts@cafe.example",
              "no-reply@rail.example"]


def pdf(seed, size=6000):
    pad = random.Random(seed).randbytes(size)
    return (b"%PDF-1.4\n1 0 obj\n<</Type/Catalog>>\nendobj\nstream\n" + pad
            + b"\nendstream\n%%EOF\n")


def broken_pdf(seed):
    return pdf(seed, 3000)[:-7]            # no %%EOF


def png(seed, size=4000):
    raw = random.Random(seed).randbytes(size)

    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
    ihdr = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"tEXt", b"c\0" + raw)
            + chunk(b"IDAT", zlib.compress(b"\0\0\0\0")) + chunk(b"IEND", b""))


def jpeg(seed, size=5000):
    return (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
            + random.Random(seed).randbytes(size).replace(b"\xff", b"\xfe") + b"\xff\xd9")


def auth(dom, ok=True):
    if not ok:
        return ("Authentication-Results: mx.google.com;\n"
                f"       dkim=fail header.i=@{dom};\n"
                "       spf=fail smtp.mailfrom=bounce@evil.example;\n"
                f"       dmarc=fail (p=REJECT) header.from={dom}\n")
    return ("Authentication-Results: mx.google.com;\n"
            f"       dkim=pass header.i=@{dom};\n"
            f"       spf=pass smtp.mailfrom=bounce@{dom};\n"
            f"       dmarc=pass (p=REJECT) header.from={dom}\n")


def message(i, sender, subject, day, atts, authentic=True):
    dom = sender.split("@")[1]
    b = f"b{i}"
    out = [auth(dom, authentic),
           f"From: Sender {i} <{sender}>\nTo: user@example.com\n",
           f"Subject: {subject}\n",
           f"Date: Mon, {day:02d} Nov 2026 10:{i % 60:02d}:00 +0000\n",
           f"Message-ID: <m{i}@{dom}>\nMIME-Version: 1.0\n",
           f'Content-Type: multipart/mixed; boundary="{b}"\n\n',
           f"--{b}\nContent-Type: text/plain; charset=utf-8\n\nMessage {i}.\n\n"]
    for name, ctype, data in atts:
        out.append(f'--{b}\nContent-Type: {ctype}; name="{name}"\n'
                   f'Content-Disposition: attachment; filename="{name}"\n'
                   "Content-Transfer-Encoding: base64\n\n"
                   + base64.encodebytes(data).decode())
    out.append(f"--{b}--\n")
    return "".join(out)


def main():
    out = sys.argv[1]
    extra = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    kb = int(sys.argv[3]) if len(sys.argv) > 3 else 2
    os.makedirs(out, exist_ok=True)
    shared = pdf(1000)                      # sent twice, in two messages
    twice = pdf(1001)                       # twice in one message
    PDF, PNG, JPG = "application/pdf", "image/png", "image/jpeg"
    shop, cafe, rail = SENDERS_OK
    msgs = [
        (shop, "Plain invoice 1", 2, [("invoice-1.pdf", PDF, pdf(1))]),
        (shop, "Two files of one name", 3,
         [("receipt.pdf", PDF, pdf(2)), ("receipt.pdf", PDF, pdf(15)),
          ("shared.pdf", PDF, shared)]),
        (cafe, "Mixed: a photo and a broken scan", 4,
         [("photo.png", PNG, png(3)), ("scan.pdf", PDF, broken_pdf(4))]),
        (cafe, "Again the shared receipt", 5, [("copy.pdf", PDF, shared)]),
        (rail, "Three parts, one twice", 6,
         [("ticket.pdf", PDF, twice), ("ticket-copy.pdf", PDF, twice),
          ("seat.jpg", JPG, jpeg(5))]),
        (shop, "Spoofed invoice", 7, [("pay-now.pdf", PDF, pdf(6))], False),
        (cafe, "Only bad files", 8,
         [("empty.pdf", PDF, b""), ("invoice.pdf", "application/zip",
                                   b"PK\x03\x04\x14\0\0\0\0\0" + bytes(500))]),
        (rail, "Ticket A", 9, [("ticket.pdf", PDF, pdf(8))]),
        (rail, "Ticket B", 9, [("ticket.pdf", PDF, pdf(9))]),
        (rail, "Ticket C", 9, [("ticket.pdf", PDF, pdf(10)), ("map.png", PNG, png(11))]),
        (shop, "Big invoice", 10, [("big.pdf", PDF, pdf(12, 60000))]),
        (cafe, "Receipts 1 to 3", 11,
         [(f"r{k}.pdf", PDF, pdf(20 + k)) for k in range(1, 4)]),
        (shop, "Late invoice", 12, [("invoice-2.pdf", PDF, pdf(13))]),
        ("news@shop-deals.example", "Not an allowed sender", 13,
         [("deals.pdf", PDF, pdf(14))]),
    ]
    for k in range(extra):
        msgs.append((SENDERS_OK[k % 3], f"Bulk receipt {k}", 14 + k % 15,
                     [(f"bulk-{k}.pdf", PDF, pdf(100 + k, kb * 1000))]))
    for i, m in enumerate(msgs, 1):
        sender, subject, day, atts = m[:4]
        authentic = m[4] if len(m) > 4 else True
        with open(os.path.join(out, f"{i:03d}.eml"), "w", encoding="utf-8") as f:
            f.write(message(i, sender, subject, day, atts, authentic))


if __name__ == "__main__":
    main()
