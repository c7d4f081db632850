#!/usr/bin/env python3
"""gen-mailbox.py: writes N receipt-like mails (RFC 822 .eml) for benchmarks:
trusted, authenticated senders, one PDF or PNG attachment each, distinct
contents, realistic sizes (SIZE_KB per attachment, default 60)."""
import base64
import os
import random
import sys
import zlib
import struct

def pdf(i, size):
    body = b"%PDF-1.4\n1 0 obj\n<</Type/Catalog>>\nendobj\n"
    pad = random.Random(i).randbytes(max(0, size - len(body) - 20))
    return body + b"stream\n" + pad + b"\nendstream\n%%EOF\n"

def png(i, size):
    raw = random.Random(i).randbytes(max(16, size))
    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
    ihdr = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"tEXt", b"c\0" + raw)
            + chunk(b"IDAT", zlib.compress(b"\0\0\0\0")) + chunk(b"IEND", b""))

def main():
    n, out = int(sys.argv[1]), sys.argv[2]
    size = int(sys.argv[3]) * 1024 if len(sys.argv) > 3 else 60 * 1024
    os.makedirs(out, exist_ok=True)
    senders = ["billing@shop.example", "receipts@cafe.example", "no-reply@rail.example"]
    for i in range(n):
        frm = senders[i % len(senders)]
        dom = frm.split("@")[1]
        kind = "pdf" if i % 4 else "png"
        data = pdf(i, size) if kind == "pdf" else png(i, size)
        ctype = "application/pdf" if kind == "pdf" else "image/png"
        b64 = base64.encodebytes(data).decode()
        day = 1 + i % 28
        msg = (f"Authentication-Results: mx.google.com;\n"
               f"       dkim=pass header.i=@{dom};\n"
               f"       spf=pass smtp.mailfrom=bounce@{dom};\n"
               f"       dmarc=pass (p=REJECT) header.from={dom}\n"
               f"From: Billing <{frm}>\nTo: user@example.com\n"
               f"Subject: Receipt {i}\nDate: {['Mon','Tue','Wed'][i % 3]}, {day:02d} Oct 2026 10:{i % 60:02d}:00 +0000\n"
               f"Message-ID: <r{i}@{dom}>\nMIME-Version: 1.0\n"
               f"Content-Type: multipart/mixed; boundary=\"b{i}\"\n\n"
               f"--b{i}\nContent-Type: text/plain; charset=utf-8\n\nReceipt number {i}.\n\n"
               f"--b{i}\nContent-Type: {ctype}; name=\"receipt-{i}.{kind}\"\n"
               f"Content-Disposition: attachment; filename=\"receipt-{i}.{kind}\"\n"
               f"Content-Transfer-Encoding: base64\n\n{b64}--b{i}--\n")
        with open(os.path.join(out, f"{i:06d}.eml"), "w") as f:
            f.write(msg)

if __name__ == "__main__":
    main()
