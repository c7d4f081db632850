#!/usr/bin/env python3
"""gen.py: hostile messages for tests/hostile.bats, written into DIR.

    gen.py DIR [NAME ...]
    gen.py --pdf TAG [SIZE]
    gen.py --record ID FILE

Without names, writes them all; --pdf writes the PDF tagged TAG (with
backslash escapes) that a message carries, to check what was found
against; --record writes FILE as gmail-fetch's record for message ID. Each is one RFC 822 file, NAME.eml, from
billing@shop.example (an allowed sender in the suite), with a PDF that a
sane reader would find where there is one to find. The big ones are
written in pieces, never held whole.
"""

import base64
import os
import sys

HEAD = (b"From: Shop <billing@shop.example>\n"
        b"To: me@example.com\n"
        b"Date: Mon, 16 Nov 2026 10:00:00 +0000\n"
        b"MIME-Version: 1.0\n")


def pdf(tag, size=0):
    """A whole PDF naming tag, padded to at least size bytes."""
    body = b"%PDF-1.4\n% " + tag.encode() + b"\n"
    if size > len(body) + 6:
        body += b"%" * (size - len(body) - 6)
    return body + b"\n%%EOF"


def b64(data):
    return base64.encodebytes(data)


def attachment(name, data, boundary, extra=b""):
    return (b"--" + boundary + b"\n"
            b"Content-Type: application/pdf\n"
            b"Content-Disposition: attachment; filename=\"" + name + b"\"\n"
            + extra +
            b"Content-Transfer-Encoding: base64\n\n" + b64(data))


def parts_10000(f):
    """10,000 parts in one multipart/mixed."""
    f.write(HEAD + b"Subject: 10000 parts\n"
            b"Content-Type: multipart/mixed; boundary=m\n\n")
    for i in range(10000):
        f.write(attachment(b"p%d.pdf" % i, pdf("part %d" % i), b"m"))
    f.write(b"--m--\n")


def nest_1000(f):
    """1,000 nested multiparts around a PDF."""
    f.write(HEAD + b"Subject: 1000 deep\n")
    for i in range(1000):
        f.write(b"Content-Type: multipart/mixed; boundary=\"b%d\"\n\n"
                b"--b%d\n" % (i, i))
    f.write(b"Content-Type: application/pdf\n"
            b"Content-Disposition: attachment; filename=\"deep.pdf\"\n\n"
            + pdf("deep") + b"\n")
    for i in range(999, -1, -1):
        f.write(b"--b%d--\n" % i)


def nest_rfc822_1000(f):
    """1,000 messages, each attached to the one above, around a PDF."""
    f.write(HEAD + b"Subject: 1000 deep\n")
    for i in range(1000):
        f.write(b"Content-Type: message/rfc822\n\n" + HEAD +
                b"Subject: level %d\n" % i)
    f.write(b"Content-Type: application/pdf\n"
            b"Content-Disposition: attachment; filename=\"deep.pdf\"\n\n"
            + pdf("deep") + b"\n")


def header_line(f, size):
    line = b"a" * (1 << 20)
    f.write(HEAD + b"Subject: long header\nX-Long: ")
    for _ in range(size >> 20):
        f.write(line)
    f.write(b"\nContent-Type: multipart/mixed; boundary=m\n\n"
            + attachment(b"after.pdf", pdf("after"), b"m") + b"--m--\n")


def header_100mb(f):
    """One 100 MB header line (the message is past the 64 MiB bound)."""
    header_line(f, 100 << 20)


def header_60mb(f):
    """One 60 MB header line: under the message bound, over the line's."""
    header_line(f, 60 << 20)


def part_header_60mb(f):
    """A 60 MB header line in a part's header, not the message's."""
    f.write(HEAD + b"Subject: long part header\n"
            b"Content-Type: multipart/mixed; boundary=m\n\n"
            b"--m\nContent-Type: text/plain\nX-Long: ")
    line = b"a" * (1 << 20)
    for _ in range(60):
        f.write(line)
    f.write(b"\n\nbody\n" + attachment(b"after.pdf", pdf("after"), b"m")
            + b"--m--\n")


def nul(f):
    """NUL bytes in a header, a filename, a boundary line and bodies."""
    f.write(HEAD + b"Subject: nul\0bytes\n"
            b"X-Nul: a\0b\n"
            b"Content-Type: multipart/mixed; boundary=m\n\n"
            b"--m\nContent-Type: text/plain\n\nbody\0with\0nuls\n"
            b"--m\0junk\n"
            + attachment(b"in\0voice.pdf", pdf("nul name"), b"m")
            + b"--m\nContent-Type: application/pdf\n"
            b"Content-Disposition: attachment; filename=\"raw.pdf\"\n"
            b"Content-Transfer-Encoding: binary\n\n"
            + pdf("binary\0with\0nuls") + b"\n--m--\n")


def names(f):
    """Filenames: invalid UTF-8, right-to-left overrides, paths."""
    rlo = "\u202e".encode()
    f.write(HEAD + b"Subject: names\n"
            b"Content-Type: multipart/mixed; boundary=m\n\n")
    f.write(attachment(b"bad\xff\xfeutf8\xc3.pdf", pdf("1"), b"m"))
    f.write(attachment(b"invoice" + rlo + b"fdp.exe", pdf("2"), b"m"))
    # the same two, RFC 2231 and RFC 2047 encoded
    f.write(b"--m\nContent-Type: application/pdf\n"
            b"Content-Disposition: attachment;"
            b" filename*=UTF-8''receipt%E2%80%AEfdp.js%FF%C0\n"
            b"Content-Transfer-Encoding: base64\n\n" + b64(pdf("3")))
    f.write(b"--m\nContent-Type: application/pdf;"
            b" name=\"=?UTF-8?B?" + base64.b64encode(
                "../../etc/\u202egnp.pdf".encode()) + b"?=\"\n"
            b"Content-Disposition: attachment\n"
            b"Content-Transfer-Encoding: base64\n\n" + b64(pdf("4")))
    f.write(attachment(b"/abs/path\\win\\x.pdf", pdf("5"), b"m"))
    f.write(attachment(b"\xe2\x80\x8f\xe2\x81\xa6..\x01\x7f.pdf", pdf("6"),
                       b"m"))
    f.write(b"--m--\n")


def unclosed(f):
    """A multipart whose closing delimiter never comes."""
    f.write(HEAD + b"Subject: unclosed\n"
            b"Content-Type: multipart/mixed; boundary=m\n\n"
            b"--m\nContent-Type: text/plain\n\nbody\n"
            + attachment(b"open.pdf", pdf("open"), b"m"))


def no_boundary(f):
    """A boundary that never appears at all, and one that is missing."""
    f.write(HEAD + b"Subject: no boundary\n"
            b"Content-Type: multipart/mixed; boundary=never\n\n"
            b"preamble only\n"
            + attachment(b"lost.pdf", pdf("lost"), b"other")
            + b"--other--\n")


def b64_garbage(f):
    """base64 with garbage: junk characters between the good ones (skipped,
    the PDF comes out whole), then '=' in the middle of a group of one,
    which ends its data (RFC 2045 6.8; Python's email reads it so): the
    rest, junk and base64 alike, is not decoded."""
    good = b64(pdf("garbage"))
    junk = b"".join(bytes([c]) + b"!\xff*~ \t" for c in good)
    f.write(HEAD + b"Subject: garbage\n"
            b"Content-Type: multipart/mixed; boundary=m\n\n"
            b"--m\nContent-Type: application/pdf\n"
            b"Content-Disposition: attachment; filename=\"junk.pdf\"\n"
            b"Content-Transfer-Encoding: base64\n\n" + junk + b"\n"
            b"--m\nContent-Type: application/pdf\n"
            b"Content-Disposition: attachment; filename=\"cut.pdf\"\n"
            b"Content-Transfer-Encoding: base64\n\n"
            + good[:22] + b"==@@==" + good[22:40] + b"\x00\x80=\n"
            b"--m--\n")


def attach_30mb(f):
    """One 30 MB PDF, base64 (40 MB of message)."""
    data = pdf("30 MB", 30 << 20)
    f.write(HEAD + b"Subject: 30 MB\n"
            b"Content-Type: multipart/mixed; boundary=m\n\n"
            b"--m\nContent-Type: text/plain\n\nbig one attached\n"
            b"--m\nContent-Type: application/pdf\n"
            b"Content-Disposition: attachment; filename=\"big.pdf\"\n"
            b"Content-Transfer-Encoding: base64\n\n")
    step = 57 * 20000
    for i in range(0, len(data), step):
        f.write(b64(data[i:i + step]))
    f.write(b"--m--\n")


GEN = {
    "parts-10000": parts_10000,
    "nest-1000": nest_1000,
    "nest-rfc822-1000": nest_rfc822_1000,
    "header-100mb": header_100mb,
    "header-60mb": header_60mb,
    "part-header-60mb": part_header_60mb,
    "nul": nul,
    "names": names,
    "unclosed": unclosed,
    "no-boundary": no_boundary,
    "b64-garbage": b64_garbage,
    "attach-30mb": attach_30mb,
}


def main():
    if len(sys.argv) < 2:
        print("usage: gen.py dir [name ...]", file=sys.stderr)
        return 2
    if sys.argv[1] == "--pdf":
        tag = sys.argv[2].encode().decode("unicode_escape")   # "\\0": NUL
        sys.stdout.buffer.write(pdf(tag, int(sys.argv[3]) if
                                    len(sys.argv) > 3 else 0))
        return 0
    if sys.argv[1] == "--record":
        with open(sys.argv[3], "rb") as f:
            raw = base64.urlsafe_b64encode(f.read()).rstrip(b"=")
        sys.stdout.buffer.write(b'{"type":"raw","id":"' +
                                sys.argv[2].encode() + b'","raw":"' + raw +
                                b'"}\n')
        return 0
    top = sys.argv[1]
    os.makedirs(top, exist_ok=True)
    for name in sys.argv[2:] or sorted(GEN):
        if name not in GEN:
            print("gen.py: %s: no such message" % name, file=sys.stderr)
            return 2
        with open(os.path.join(top, name + ".eml"), "wb") as f:
            GEN[name](f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
