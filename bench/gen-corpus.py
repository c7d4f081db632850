#!/usr/bin/env python3
"""gen-corpus.py: a local corpus of realistic receipt mails for
bench/local-throughput.sh, as a Maildir.

Usage: gen-corpus.py [--ndjson] N DIR [MEAN_KB]

Writes DIR/maildir/{new,cur,tmp}/ with N messages (one file each, LF line
ends), DIR/manifest.tsv (one line per attachment: message file, offset and
length of its base64 text in the file, decoded size, sha256, part kind) and
DIR/senders.txt (the ALLOWED_SENDERS that admit every message); with
--ndjson also DIR/fetch.ndjson, the same messages as gmail-fetch's "raw"
records (base64url, a Gmail-like id from the file name).
Deterministic: the same N and MEAN_KB give the same bytes.

Each message: From a receipt sender (some display names RFC 2047
encoded), Received, DKIM-Signature and the usual headers; multipart/mixed
with a multipart/alternative text/plain + text/html body (about a third
quoted-printable, with UTF-8 accents; the rest 8bit or 7bit), then 1 to 3
attachments, PDF (60 %), JPEG (25 %) or PNG (15 %), base64 in 76-column
lines, whose decoded sizes are log-normal (sigma 0.8) with mean MEAN_KB
(default 80: 5,000 messages come to about 1 GB, about 200 KB a message;
clipped to 4 KB .. 4 MB); named in ASCII, in RFC 2047 encoded words (name=
and filename=), or in RFC 2231 (filename*=, some with continuations).
One message in ten is a forward: text/plain and the receipt as a
message/rfc822 part. The bytes of each attachment are random (as the
compressed streams of real PDFs and images are), inside a valid frame: a
PDF ends with %%EOF, a JPEG starts FF D8 FF and ends FF D9, a PNG has IHDR,
IDAT and IEND, so that receipt-store stores them all."""
import base64
import hashlib
import json
import math
import os
import quopri
import random
import struct
import sys
import zlib

DOMAINS = ["shop.example", "cafe.example", "rail.example", "telecom.example",
           "energie.example", "librairie.example", "pharmacie.example",
           "taxi.example", "hotel.example", "airline.example", "cloud.example",
           "assurance.example", "garage.example", "supermarche.example",
           "opticien.example", "restaurant.example", "parking.example",
           "musee.example", "sport.example", "presse.example"]
NAMES = ["Billing", "Service client", "Facturation", "Reçus", "Comptabilité",
         "No-reply", "Boutique", "Société Générale d'Exemple"]
ITEMS = ["Café crème", "Croissant", "Billet TGV Paris–Lyon", "Forfait mobile",
         "Électricité, octobre", "Livre de poche", "Doliprane 1000 mg",
         "Course Orly → Paris", "Nuitée, chambre double", "Bagage en soute",
         "Stockage 2 To", "Assurance habitation", "Vidange", "Panier courses",
         "Monture + verres", "Menu du jour", "Stationnement 3 h", "Entrée adulte",
         "Abonnement salle", "Quotidien, novembre"]


def pdf(rng, size):
    head = (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<</Type/Catalog/Pages 2 0 R>>\nendobj\n"
            b"2 0 obj\n<</Type/Pages/Kids[3 0 R]/Count 1>>\nendobj\n"
            b"3 0 obj\n<</Type/Page/Parent 2 0 R/Contents 4 0 R>>\nendobj\n"
            b"4 0 obj\n<</Length %010d/Filter/FlateDecode>>\nstream\n")
    tail = b"\nendstream\nendobj\nxref\n0 5\ntrailer\n<</Size 5/Root 1 0 R>>\nstartxref\n9\n%%EOF\n"
    n = max(64, size - len(head) - len(tail) - 8)
    return head.replace(b"%010d", b"%010d" % n) + rng.randbytes(n) + tail


def jpeg(rng, size):
    head = (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x48\x00\x48\x00\x00"
            b"\xff\xdb\x00\x43\x00" + bytes(range(1, 65)) +
            b"\xff\xc0\x00\x11\x08\x04\x38\x07\x80\x03\x01\x22\x00\x02\x11\x01\x03\x11\x01"
            b"\xff\xda\x00\x0c\x03\x01\x00\x02\x11\x03\x11\x00\x3f\x00")
    n = max(64, size - len(head) - 2)
    # Entropy-coded data never holds FF D9 before the end: stuff FF as FF 00.
    body = rng.randbytes(n).replace(b"\xff", b"\xff\x00")[:n]
    if body.endswith(b"\xff"):
        body = body[:-1] + b"\x00"
    return head + body + b"\xff\xd9"


def png(rng, size):
    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
    ihdr = struct.pack(">IIBBBBB", 1240, 1754, 8, 2, 0, 0, 0)
    n = max(64, size - 57)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", rng.randbytes(n))
            + chunk(b"IEND", b""))


KINDS = [("pdf", "application/pdf", pdf, 0.60), ("jpg", "image/jpeg", jpeg, 0.25),
         ("png", "image/png", png, 0.15)]


def b2047(text):
    return "=?UTF-8?B?" + base64.b64encode(text.encode()).decode() + "?="


def q2047(text):
    enc = quopri.encodestring(text.encode(), header=True).decode()
    return "=?UTF-8?Q?" + enc.replace("?", "=3F") + "?="


def pct(text):
    return "".join(c if c.isalnum() and c.isascii() or c in "-._" else
                   "".join(f"%{b:02X}" for b in c.encode()) for c in text)


def name_headers(rng, stem, ext, ctype):
    """Content-Type and Content-Disposition lines naming the attachment."""
    style = rng.random()
    if style < 0.5:
        name = f"{stem}.{ext}"
        return (f'Content-Type: {ctype}; name="{name}"\n'
                f'Content-Disposition: attachment; filename="{name}"\n')
    uname = rng.choice(["Reçu", "Facture", "Billet électronique", "Quittance",
                        "Relevé", "Ticket de caisse"]) + f" n°{stem[-5:]}.{ext}"
    if style < 0.75:
        enc = b2047(uname) if rng.random() < 0.5 else q2047(uname)
        return (f'Content-Type: {ctype}; name="{enc}"\n'
                f'Content-Disposition: attachment; filename="{enc}"\n')
    p = pct(uname)
    if style < 0.9:
        disp = f"Content-Disposition: attachment;\n filename*=UTF-8''{p}\n"
    else:
        cut = len(p) // 2
        while "%" in p[cut - 2:cut]:
            cut += 1
        disp = (f"Content-Disposition: attachment;\n filename*0*=UTF-8''{p[:cut]};\n"
                f" filename*1*={p[cut:]}\n")
    return f"Content-Type: {ctype}\n" + disp


def body_parts(rng, i, shop, items):
    total = sum(p for _, p in items)
    lines = [f"Bonjour,\n\nMerci pour votre achat chez {shop}.\n",
             f"Commande n° {i:08d}\n"]
    lines += [f"  {name:<30} {price:>8.2f} €\n" for name, price in items]
    lines.append(f"\nTotal TTC : {total:.2f} € (TVA 20 % incluse : {total / 6:.2f} €)\n")
    lines.append("\nVotre reçu est en pièce jointe.\nCordialement,\nL'équipe " + shop + "\n")
    text = "".join(lines)
    rows = "".join(f'<tr><td style="padding:4px 8px;border-bottom:1px solid #eee">{n}</td>'
                   f'<td style="padding:4px 8px;text-align:right">{p:.2f}&nbsp;€</td></tr>\n'
                   for n, p in items)
    html = ("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Reçu</title></head>\n"
            "<body style=\"font-family:Helvetica,Arial,sans-serif;color:#222\">\n"
            f"<h1 style=\"font-size:18px\">Merci pour votre achat chez {shop}</h1>\n"
            f"<p>Commande n°&nbsp;{i:08d}</p>\n<table style=\"border-collapse:collapse;width:100%\">\n"
            f"{rows}<tr><td><b>Total TTC</b></td><td style=\"text-align:right\"><b>{total:.2f}&nbsp;€"
            "</b></td></tr>\n</table>\n<p>Votre reçu est en pièce jointe.</p>\n"
            "<p style=\"font-size:11px;color:#888\">Vous recevez ce message car vous avez passé "
            "commande. Conformément à la réglementation, conservez ce reçu.</p>\n</body></html>\n")
    out = []
    for ctype, content in (("text/plain", text), ("text/html", html)):
        if rng.random() < 0.35:
            enc = quopri.encodestring(content.encode()).decode()
            out.append(f"Content-Type: {ctype}; charset=\"utf-8\"\n"
                       f"Content-Transfer-Encoding: quoted-printable\n\n{enc}")
        else:
            out.append(f"Content-Type: {ctype}; charset=\"utf-8\"\n"
                       f"Content-Transfer-Encoding: 8bit\n\n{content}")
    return out


class Msg:
    """A message as a list of byte chunks, with the manifest's offsets."""
    def __init__(self):
        self.chunks, self.len, self.atts = [], 0, []

    def add(self, s):
        b = s.encode() if isinstance(s, str) else s
        self.chunks.append(b)
        self.len += len(b)


def receipt(rng, i, m, mean, depth):
    """Writes one receipt message (headers and body) into m."""
    dom = DOMAINS[rng.randrange(len(DOMAINS))]
    local = rng.choice(["billing", "receipts", "no-reply", "facturation", "service"])
    name = rng.choice(NAMES)
    disp = b2047(name) if not name.isascii() or rng.random() < 0.2 else name
    day, hh, mm = 1 + i % 28, i % 24, (i * 7) % 60
    items = [(rng.choice(ITEMS), round(rng.uniform(1, 250), 2))
             for _ in range(rng.randint(1, 6))]
    shop = dom.split(".")[0].capitalize()
    subj = rng.choice([f"Votre reçu {shop} n°{i:08d}", f"Receipt for order {i:08d}",
                       f"Facture {i:08d} – {shop}"])
    subj = subj if subj.isascii() else q2047(subj)
    bnd, alt = f"=_mix_{i:08x}_{depth}_{rng.getrandbits(48):012x}", f"=_alt_{i:08x}_{depth}"
    if depth == 0:
        m.add(f"Return-Path: <bounce-{i}@{dom}>\nDelivered-To: user@example.com\n"
              f"Received: from mail.{dom} (mail.{dom} [192.0.2.{i % 250 + 1}])\n"
              f"\tby mx.example.com with ESMTPS id {rng.getrandbits(64):016x}\n"
              f"\tfor <user@example.com>; {day:02d} Oct 2026 {hh:02d}:{mm:02d}:05 +0000\n"
              f"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d={dom}; s=s2026;\n"
              f"\th=from:to:subject:date:message-id:mime-version:content-type;\n"
              f"\tbh={base64.b64encode(rng.randbytes(32)).decode()};\n"
              f"\tb={base64.b64encode(rng.randbytes(256)).decode()}\n")
    m.add(f"From: {disp} <{local}@{dom}>\nTo: user@example.com\nSubject: {subj}\n"
          f"Date: {['Mon', 'Tue', 'Wed', 'Thu', 'Fri'][i % 5]}, {day:02d} Oct 2026 "
          f"{hh:02d}:{mm:02d}:00 +0000\nMessage-ID: <r{i}.{depth}@{dom}>\nMIME-Version: 1.0\n"
          f"Content-Type: multipart/mixed; boundary=\"{bnd}\"\n\n"
          "This is a multi-part message in MIME format.\n\n"
          f"--{bnd}\nContent-Type: multipart/alternative; boundary=\"{alt}\"\n\n")
    for p in body_parts(rng, i, shop, items):
        m.add(f"--{alt}\n{p}\n")
    m.add(f"--{alt}--\n\n")
    mu = math.log(mean) - 0.8 ** 2 / 2
    for k in range(rng.choice([1, 1, 2, 2, 2, 3])):
        r, acc = rng.random(), 0.0
        for ext, ctype, make, share in KINDS:
            acc += share
            if r < acc:
                break
        size = int(min(4 << 20, max(4096, rng.lognormvariate(mu, 0.8))))
        data = make(rng, size)
        b64 = base64.encodebytes(data)
        stem = f"{rng.choice(['invoice', 'receipt', 'facture', 'recu', 'ticket'])}-{i:06d}-{k}"
        m.add(f"--{bnd}\n" + name_headers(rng, stem, ext, ctype) +
              "Content-Transfer-Encoding: base64\n\n")
        m.atts.append((m.len, len(b64), len(data), hashlib.sha256(data).hexdigest(), ext))
        m.add(b64)
        m.add("\n")
    m.add(f"--{bnd}--\n")
    return dom


def main():
    args = sys.argv[1:]
    ndjson = args[:1] == ["--ndjson"]
    if ndjson:
        args = args[1:]
    n, out = int(args[0]), args[1]
    mean = int(args[2]) * 1024 if len(args) > 2 else 80 * 1024
    md = os.path.join(out, "maildir")
    for d in ("new", "cur", "tmp"):
        os.makedirs(os.path.join(md, d), exist_ok=True)
    domains = set()
    fetch = open(os.path.join(out, "fetch.ndjson"), "w") if ndjson else None
    with open(os.path.join(out, "manifest.tsv"), "w") as man:
        for i in range(n):
            rng = random.Random(i * 7919 + 17)
            m = Msg()
            if rng.random() < 0.1:
                dom = rng.choice(DOMAINS)
                b = f"=_fwd_{i:08x}"
                m.add(f"Return-Path: <fwd-{i}@{dom}>\nFrom: Compta <compta@{dom}>\n"
                      f"To: user@example.com\nSubject: {q2047('Fwd: votre reçu')}\n"
                      f"Date: Fri, {1 + i % 28:02d} Oct 2026 12:00:00 +0000\n"
                      f"Message-ID: <f{i}@{dom}>\nMIME-Version: 1.0\n"
                      f"Content-Type: multipart/mixed; boundary=\"{b}\"\n\n"
                      f"--{b}\nContent-Type: text/plain; charset=utf-8\n"
                      "Content-Transfer-Encoding: 8bit\n\nPour la compta, ci-joint.\n\n"
                      f"--{b}\nContent-Type: message/rfc822\n"
                      "Content-Disposition: inline\n\n")
                domains.add(dom)
                domains.add(receipt(rng, i, m, mean, 1))
                m.add(f"\n--{b}--\n")
            else:
                domains.add(receipt(rng, i, m, mean, 0))
            name = f"{1793000000 + i}.M{i:06d}P1.bench"
            path = os.path.join(md, "new", name)
            with open(path, "wb") as f:
                f.writelines(m.chunks)
            if fetch:
                gid = hashlib.sha1(name.encode()).hexdigest()[:16]
                raw = b"".join(m.chunks)
                json.dump({"type": "raw", "id": gid, "threadId": gid,
                           "labelIds": ["INBOX", "UNREAD"], "internalDate": "1791000000000",
                           "historyId": "1000", "sizeEstimate": len(raw),
                           "raw": base64.urlsafe_b64encode(raw).decode()},
                          fetch, separators=(",", ":"))
                fetch.write("\n")
            for off, ln, size, sha, kind in m.atts:
                man.write(f"new/{name}\t{off}\t{ln}\t{size}\t{sha}\t{kind}\n")
    if fetch:
        fetch.close()
    with open(os.path.join(out, "senders.txt"), "w") as f:
        f.write(",".join("@" + d for d in sorted(domains)) + "\n")


if __name__ == "__main__":
    main()
