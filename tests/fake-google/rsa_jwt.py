# Pure-Python RSA (PKCS#8/PKCS#1 DER parsing, RS256 sign/verify) and JWT helpers for fake-google.
import base64
import hashlib
import json
import re

# DER DigestInfo prefix for SHA-256 (RFC 8017, section 9.2, note 1).
_SHA256_PREFIX = bytes.fromhex("3031300d060960864801650304020105000420")
_RSA_OID = bytes.fromhex("2a864886f70d010101")  # 1.2.840.113549.1.1.1


class KeyError_(ValueError):
    """Raised when a key cannot be parsed."""


def b64url_encode(data, pad=False):
    text = base64.urlsafe_b64encode(data).decode("ascii")
    return text if pad else text.rstrip("=")


def b64url_decode(text):
    """Decode base64url, padded or not; also tolerates standard base64 alphabet."""
    if isinstance(text, bytes):
        text = text.decode("ascii")
    text = re.sub(r"\s+", "", text).replace("+", "-").replace("/", "_")
    if not re.fullmatch(r"[A-Za-z0-9_\-]*={0,2}", text):
        raise ValueError("invalid base64url")
    text = text.rstrip("=")
    if len(text) % 4 == 1:
        raise ValueError("invalid base64url length")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


# ---------------------------------------------------------------- DER
def _der_read(data, pos):
    """Read one TLV at pos; return (tag, value bytes, next pos)."""
    if pos + 2 > len(data):
        raise KeyError_("truncated DER")
    tag = data[pos]
    length = data[pos + 1]
    pos += 2
    if length & 0x80:
        nbytes = length & 0x7F
        if nbytes == 0 or nbytes > 4 or pos + nbytes > len(data):
            raise KeyError_("bad DER length")
        length = int.from_bytes(data[pos:pos + nbytes], "big")
        pos += nbytes
    if pos + length > len(data):
        raise KeyError_("truncated DER value")
    return tag, data[pos:pos + length], pos + length


def _der_sequence(data):
    """Return the list of (tag, value) children of a DER SEQUENCE."""
    tag, value, _ = _der_read(data, 0)
    if tag != 0x30:
        raise KeyError_("expected SEQUENCE")
    items, pos = [], 0
    while pos < len(value):
        t, v, pos = _der_read(value, pos)
        items.append((t, v))
    return items


def _der_int(item):
    tag, value = item
    if tag != 0x02:
        raise KeyError_("expected INTEGER")
    return int.from_bytes(value, "big", signed=True)


def _parse_rsa_private(der):
    """RSAPrivateKey (PKCS#1) → dict with n, e, d, p, q."""
    items = _der_sequence(der)
    if len(items) < 9:
        raise KeyError_("RSAPrivateKey too short")
    n, e, d, p, q = (_der_int(items[i]) for i in range(1, 6))
    return {"n": n, "e": e, "d": d, "p": p, "q": q}


def _parse_pkcs8(der):
    items = _der_sequence(der)
    if len(items) < 3 or items[2][0] != 0x04:
        raise KeyError_("not a PKCS#8 PrivateKeyInfo")
    if _RSA_OID not in items[1][1]:
        raise KeyError_("PKCS#8 key is not RSA")
    return _parse_rsa_private(items[2][1])


def _parse_spki(der):
    items = _der_sequence(der)
    if len(items) < 2 or items[1][0] != 0x03:
        raise KeyError_("not a SubjectPublicKeyInfo")
    pub = _der_sequence(items[1][1][1:])  # skip the unused-bits byte
    return {"n": _der_int(pub[0]), "e": _der_int(pub[1]), "d": None}


def load_pem_key(text):
    """Parse a PEM RSA key (PKCS#8, PKCS#1 or public SPKI) into {n, e, d, ...}."""
    m = re.search(r"-----BEGIN ([A-Z ]+)-----(.*?)-----END \1-----", text, re.S)
    if not m:
        raise KeyError_("no PEM block found")
    kind = m.group(1)
    try:
        der = base64.b64decode(re.sub(r"\s+", "", m.group(2)), validate=True)
    except ValueError as exc:
        raise KeyError_("bad PEM base64: %s" % exc) from None
    if kind == "PRIVATE KEY":
        key = _parse_pkcs8(der)
    elif kind == "RSA PRIVATE KEY":
        key = _parse_rsa_private(der)
    elif kind == "PUBLIC KEY":
        key = _parse_spki(der)
    else:
        raise KeyError_("unsupported PEM type %s" % kind)
    key["bits"] = key["n"].bit_length()
    return key


# ---------------------------------------------------------------- RSASSA-PKCS1-v1_5
def _emsa_sha256(message, k):
    digest_info = _SHA256_PREFIX + hashlib.sha256(message).digest()
    if k < len(digest_info) + 11:
        raise ValueError("RSA modulus too short")
    return b"\x00\x01" + b"\xff" * (k - len(digest_info) - 3) + b"\x00" + digest_info


def rs256_sign(key, message):
    if not key.get("d"):
        raise ValueError("not a private key")
    n = key["n"]
    k = (n.bit_length() + 7) // 8
    m = int.from_bytes(_emsa_sha256(message, k), "big")
    p, q = key.get("p"), key.get("q")
    if p and q:  # CRT: ~4x faster than pow(m, d, n)
        d = key["d"]
        s1, s2 = pow(m, d % (p - 1), p), pow(m, d % (q - 1), q)
        h = (pow(q, -1, p) * (s1 - s2)) % p
        s = s2 + h * q
    else:
        s = pow(m, key["d"], n)
    return s.to_bytes(k, "big")


def rs256_verify(key, message, signature):
    n = key["n"]
    k = (n.bit_length() + 7) // 8
    if len(signature) != k:
        return False
    s = int.from_bytes(signature, "big")
    if s >= n:
        return False
    em = pow(s, key["e"], n).to_bytes(k, "big")
    return em == _emsa_sha256(message, k)


# ---------------------------------------------------------------- JWT
def jwt_encode(key, header, claims):
    """Compact RS256 JWT; header/claims are dicts (serialised compactly, in order)."""
    h = b64url_encode(json.dumps(header, separators=(",", ":")).encode())
    c = b64url_encode(json.dumps(claims, separators=(",", ":")).encode())
    signing_input = ("%s.%s" % (h, c)).encode("ascii")
    return "%s.%s.%s" % (h, c, b64url_encode(rs256_sign(key, signing_input)))


def jwt_decode(token):
    """Split and decode a compact JWT. Returns (header, claims, signing_input, signature).

    Raises ValueError on any malformation (no signature check here)."""
    parts = token.strip().split(".")
    if len(parts) != 3:
        raise ValueError("JWT must have 3 parts")
    header = json.loads(b64url_decode(parts[0]))
    claims = json.loads(b64url_decode(parts[1]))
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise ValueError("JWT header and claims must be JSON objects")
    signature = b64url_decode(parts[2])
    return header, claims, ("%s.%s" % (parts[0], parts[1])).encode("ascii"), signature
