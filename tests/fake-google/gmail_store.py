# In-memory Gmail mailbox for fake-google: messages, labels, history, MIME payloads, search queries.
import datetime
import email
import email.header
import email.policy
import email.utils
import hashlib
import html
import os
import re
import secrets

from rsa_jwt import b64url_encode

SYSTEM_LABELS = ["INBOX", "UNREAD", "SENT", "SPAM", "TRASH", "STARRED", "IMPORTANT",
                 "DRAFT", "CHAT", "CATEGORY_PERSONAL", "CATEGORY_SOCIAL",
                 "CATEGORY_PROMOTIONS", "CATEGORY_UPDATES", "CATEGORY_FORUMS"]
# System labels Gmail lists without visibility fields (the others: hide / labelHide).
_NO_VISIBILITY = {"INBOX", "UNREAD", "SENT", "SPAM", "TRASH", "STARRED", "IMPORTANT",
                      "DRAFT", "CHAT"}
FIRST_HISTORY_ID = 1000


class QueryError(ValueError):
    """An unsupported or malformed q= search expression."""


def _decode_header(value):
    """RFC 2047-decode and unfold a header value; never fails."""
    value = re.sub(r"\r?\n[ \t]*", " ", str(value))
    try:
        return str(email.header.make_header(email.header.decode_header(value)))
    except Exception:  # malformed encoded-words: answer the raw text
        return value


def _part_text(part):
    payload = part.get_payload(decode=True) or b""
    charset = part.get_content_charset() or "utf-8"
    try:
        return payload.decode(charset, "replace")
    except LookupError:
        return payload.decode("utf-8", "replace")


def _snippet(text):
    text = re.sub(r"\s+", " ", text).strip()[:200]
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;").replace("'", "&#39;"))


class Message:
    """One stored message; parsed lazily from its raw RFC 822 bytes."""

    def __init__(self, mid, raw, label_ids, internal_date_ms):
        self.id = mid
        self.thread_id = mid
        self.raw = raw
        self.label_ids = list(label_ids)
        self.internal_date = int(internal_date_ms)
        self.history_id = 0
        self.msg = email.message_from_bytes(raw, policy=email.policy.compat32)

    def header(self, name):
        value = self.msg.get(name)
        return _decode_header(value) if value is not None else ""

    def headers(self):
        return [{"name": k, "value": _decode_header(v)} for k, v in self.msg.items()]

    def message_id(self):
        return self.msg.get("Message-ID", "").strip()

    def parents(self):
        """Message-IDs this message replies to: In-Reply-To, then References newest first."""
        ids = re.findall(r"<[^>]+>", self.msg.get("In-Reply-To", ""))
        ids += list(reversed(re.findall(r"<[^>]+>", self.msg.get("References", ""))))
        return ids

    def leaves(self):
        """Leaf parts of this message, not descending into attached messages."""
        out, stack = [], [self.msg]
        while stack:
            part = stack.pop()
            if part.get_content_maintype() == "multipart" and part.is_multipart():
                stack.extend(reversed(part.get_payload()))
            else:
                out.append(part)
        return out

    def text(self):
        """Plain text used for the snippet and word search (text/plain, else stripped HTML)."""
        plain = [_part_text(p) for p in self.leaves()
                 if p.get_content_type() == "text/plain" and not p.get_filename()]
        if plain:
            return "\n".join(plain)
        htmls = [_part_text(p) for p in self.leaves()
                 if p.get_content_type() == "text/html" and not p.get_filename()]
        return html.unescape(re.sub(r"<[^>]*>", " ", "\n".join(htmls)))

    def snippet(self):
        return _snippet(self.text())

    def has_attachment(self):
        return any(p.get_filename() for p in self.leaves())

    def from_address(self):
        return email.utils.parseaddr(self.header("From"))[1].lower()


# ---------------------------------------------------------------- payload rendering
def render_payload(msg, attachment_sink):
    """Gmail's MessagePart tree for format=full. attachment_sink(part_id, data) -> attachmentId."""
    return _render_part(msg.msg, "", attachment_sink)


def _render_part(part, part_id, sink):
    filename = part.get_filename() or ""
    node = {"partId": part_id, "mimeType": part.get_content_type(),
            "filename": _decode_header(filename) if filename else "",
            "headers": [{"name": k, "value": _decode_header(v)} for k, v in part.items()]}
    if part.get_content_maintype() == "multipart" and part.is_multipart():
        node["body"] = {"size": 0}
        prefix = part_id + "." if part_id else ""
        node["parts"] = [_render_part(child, "%s%d" % (prefix, i), sink)
                         for i, child in enumerate(part.get_payload())]
        return node
    data = part_bytes(part)
    if not data:
        node["body"] = {"size": 0}
    elif filename:
        node["body"] = {"attachmentId": sink(part_id, data), "size": len(data)}
    else:
        node["body"] = {"size": len(data), "data": b64url_encode(data, pad=True)}
    return node


def part_bytes(part):
    """Transfer-decoded content of a leaf part (message/rfc822 parts: the inner message)."""
    if part.is_multipart():
        inner = part.get_payload()
        return b"".join(m.as_bytes() for m in inner) if isinstance(inner, list) else b""
    return part.get_payload(decode=True) or b""


def find_part(msg, part_id):
    """The email part with Gmail partId part_id, or None."""
    node = msg.msg
    if part_id == "":
        return node
    for index in part_id.split("."):
        if not node.is_multipart() or not index.isdigit():
            return None
        children = node.get_payload()
        if int(index) >= len(children):
            return None
        node = children[int(index)]
    return node


# ---------------------------------------------------------------- mailbox
class Mailbox:
    """Messages, labels and history of one Gmail user."""

    def __init__(self, address):
        self.address = address
        self.messages = {}          # id -> Message, insertion ordered
        self.labels = {}            # id -> label dict (without counts)
        self.next_label = 1
        self.history = []           # records: {"id", "type", "message", "labelIds"}
        self.history_id = FIRST_HISTORY_ID
        self.history_floor = 0      # startHistoryId below this → 404
        self.seq = 0
        self.drafts = {}            # draft id -> message id
        for lid in SYSTEM_LABELS:
            label = {"id": lid, "name": lid, "type": "system"}
            if lid not in _NO_VISIBILITY:
                label.update(messageListVisibility="hide", labelListVisibility="labelHide")
            self.labels[lid] = label

    # -- labels
    def find_label(self, ref):
        """Label by id, or by name (case-insensitive; '-' matches ' ' and '/')."""
        if ref in self.labels:
            return self.labels[ref]
        want = _label_key(ref)
        for label in self.labels.values():
            if _label_key(label["name"]) == want or _label_key(label["id"]) == want:
                return label
        return None

    def name_conflicts(self, name, except_id=None):
        key = name.strip().lower()
        return any(l["name"].lower() == key and l["id"] != except_id for l in self.labels.values())

    def create_label(self, name, extra=None):
        while "Label_%d" % self.next_label in self.labels:
            self.next_label += 1
        label = {"id": "Label_%d" % self.next_label, "name": name,
                 "messageListVisibility": "show", "labelListVisibility": "labelShow",
                 "type": "user"}
        label.update(extra or {})
        self.labels[label["id"]] = label
        return label

    def label_counts(self, lid):
        msgs = [m for m in self.messages.values() if lid in m.label_ids]
        unread = [m for m in msgs if "UNREAD" in m.label_ids]
        return {"messagesTotal": len(msgs), "messagesUnread": len(unread),
                "threadsTotal": len({m.thread_id for m in msgs}),
                "threadsUnread": len({m.thread_id for m in unread})}

    # -- history
    def bump(self):
        self.history_id += 1
        return self.history_id

    def _record(self, kind, msg, label_ids=None):
        hid = self.bump()
        msg.history_id = hid
        self.history.append({"id": hid, "type": kind, "message": msg.id,
                             "threadId": msg.thread_id, "labelIds": list(label_ids or []),
                             "msgLabels": list(msg.label_ids)})
        return hid

    def expire_history(self):
        self.history = []
        self.history_floor = self.history_id

    # -- messages
    def new_id(self, raw, name=None):
        if name is not None:
            mid = hashlib.sha1(name.encode("utf-8", "surrogateescape")).hexdigest()[:16]
        else:
            self.seq += 1
            mid = hashlib.sha1(b"%d:%s:" % (self.seq, self.address.encode()) + raw).hexdigest()[:16]
        while mid in self.messages:
            mid = "%016x" % ((int(mid, 16) + 1) % (1 << 64))
        return mid

    def add(self, raw, label_ids, internal_date_ms=None, name=None, thread_id=None, mtime=None):
        mid = self.new_id(raw, name)
        msg = Message(mid, raw, [], 0)
        self.seq += 1
        msg.seq = self.seq
        msg.label_ids = self._valid_labels(label_ids)
        msg.internal_date = internal_date_ms if internal_date_ms is not None else \
            _date_ms(msg.msg.get("Date"), mtime)
        msg.thread_id = thread_id if thread_id in {m.thread_id for m in self.messages.values()} \
            else self._thread_for(msg)
        self.messages[mid] = msg
        self._record("messageAdded", msg)
        return msg

    def _valid_labels(self, label_ids):
        out = []
        for ref in label_ids:
            label = self.find_label(ref) or self.create_label(ref)
            if label["id"] not in out:
                out.append(label["id"])
        return out

    def _thread_for(self, msg):
        by_msgid = {m.message_id(): m for m in self.messages.values() if m.message_id()}
        for parent in msg.parents():
            if parent in by_msgid:
                return by_msgid[parent].thread_id
        return msg.id

    def modify(self, msg, add_ids, remove_ids):
        """Apply a label change; records labelAdded/labelRemoved history for real changes."""
        added = [l for l in add_ids if l not in msg.label_ids]
        removed = [l for l in remove_ids if l in msg.label_ids and l not in added]
        msg.label_ids = [l for l in msg.label_ids if l not in removed] + added
        if added:
            self._record("labelAdded", msg, added)
        if removed:
            self._record("labelRemoved", msg, removed)

    def delete(self, msg):
        del self.messages[msg.id]
        self._record("messageDeleted", msg)

    def profile(self):
        return {"emailAddress": self.address, "messagesTotal": len(self.messages),
                "threadsTotal": len({m.thread_id for m in self.messages.values()}),
                "historyId": str(self.history_id)}

    def sorted_messages(self):
        """Newest first, as messages.list answers."""
        return sorted(self.messages.values(), key=sort_key, reverse=True)


def sort_key(msg):
    return (msg.internal_date, msg.seq)


def _label_key(text):
    return re.sub(r"[ /\-_]+", "-", text.strip().strip('"').lower())


def _date_ms(date_header, mtime):
    if date_header:
        try:
            dt = email.utils.parsedate_to_datetime(date_header)
            if dt.tzinfo is None:
                dt = dt.replace(tzinfo=datetime.timezone.utc)
            return int(dt.timestamp() * 1000)
        except (TypeError, ValueError, IndexError, OverflowError):
            pass
    if mtime is not None:
        return int(mtime * 1000)
    import time
    return int(time.time() * 1000)


def load_dir(mailbox, directory):
    """Load *.eml files (sorted by name) with optional NAME.eml.labels sidecars."""
    names = sorted(n for n in os.listdir(directory) if n.endswith(".eml"))
    pending = []
    for name in names:
        path = os.path.join(directory, name)
        with open(path, "rb") as fh:
            raw = fh.read()
        labels = ["INBOX", "UNREAD"]
        if os.path.exists(path + ".labels"):
            with open(path + ".labels", encoding="utf-8", errors="replace") as fh:
                labels = [l.strip() for l in fh if l.strip() and not l.startswith("#")]
        pending.append(mailbox.add(raw, labels, name=name, mtime=os.path.getmtime(path)))
    _rethread(mailbox, pending)
    return len(pending)


def _rethread(mailbox, msgs):
    """Second pass so replies loaded before their parents still join the parent's thread."""
    by_msgid = {m.message_id(): m for m in mailbox.messages.values() if m.message_id()}

    def root(msg, seen):
        for parent in msg.parents():
            p = by_msgid.get(parent)
            if p is not None and p.id not in seen:
                seen.add(p.id)
                return root(p, seen)
        return msg.id

    for msg in msgs:
        msg.thread_id = root(msg, {msg.id})


# ---------------------------------------------------------------- search (q=)
_TOKEN = re.compile(r'\s*(\(|\)|-?[A-Za-z_][A-Za-z0-9_]*:"[^"]*"|-?[A-Za-z_][A-Za-z0-9_]*:\(|"[^"]*"|-|[^\s()"]+)')
KNOWN_OPS = {"from", "to", "cc", "bcc", "subject", "label", "is", "in", "has", "after",
             "before", "older", "newer", "newer_than", "older_than", "rfc822msgid",
             "filename", "list", "deliveredto"}


def _tokenize(q):
    tokens, pos = [], 0
    while pos < len(q):
        m = _TOKEN.match(q, pos)
        if not m:
            if q[pos:].strip() == "":
                break
            raise QueryError("Invalid query")
        if m.group(1):
            tokens.append(m.group(1))
        pos = m.end()
    return tokens


class _Parser:
    """expr := and ('OR' and)* ; and := unary+ ; unary := '-' unary | '(' expr ')' | term."""

    def __init__(self, tokens):
        self.toks = tokens
        self.pos = 0

    def peek(self):
        return self.toks[self.pos] if self.pos < len(self.toks) else None

    def take(self):
        tok = self.peek()
        self.pos += 1
        return tok

    def expr(self):
        node = self.and_()
        alts = [node]
        while self.peek() in ("OR", "|"):
            self.take()
            alts.append(self.and_())
        return alts[0] if len(alts) == 1 else ("or", alts)

    def and_(self):
        items = []
        while self.peek() not in (None, ")", "OR", "|"):
            items.append(self.unary())
        if not items:
            raise QueryError("Invalid query")
        return items[0] if len(items) == 1 else ("and", items)

    def unary(self):
        tok = self.take()
        if tok == "-":
            return ("not", self.unary())
        if tok == "(":
            node = self.expr()
            if self.take() != ")":
                raise QueryError("Invalid query")
            return node
        if tok.startswith("-") and ":" in tok:
            self.pos -= 1
            self.toks[self.pos] = tok[1:]
            return ("not", self.unary())
        if re.match(r"^[A-Za-z_][A-Za-z0-9_]*:", tok):
            op, value = tok.split(":", 1)
            op = op.lower()
            if op not in KNOWN_OPS:
                raise QueryError("Invalid query")
            if value == "(":
                return ("op", op, self.group(op))
            if value == "":
                raise QueryError("Invalid query")
            value = value.strip('"')
            _validate(op, value)
            return ("op", op, ("any", [value]))
        return ("word", tok.strip('"'))

    def group(self, op):
        """Values of op:( ... ): 'a OR b' → any, 'a b' → all."""
        values, mode = [], "all"
        while True:
            tok = self.take()
            if tok is None:
                raise QueryError("Invalid query")
            if tok == ")":
                break
            if tok in ("OR", "|"):
                mode = "any"
                continue
            values.append(tok.strip('"'))
        if not values:
            raise QueryError("Invalid query")
        for value in values:
            _validate(op, value)
        return (mode, values)


def _validate(op, value):
    """Reject values the matcher cannot evaluate, even when the mailbox is empty."""
    v = value.lower()
    if op == "is" and v not in ("unread", "read", "starred", "important"):
        raise QueryError("Invalid query")
    if op == "has" and v not in ("attachment", "userlabels", "nouserlabels"):
        raise QueryError("Invalid query")
    if op in ("after", "before", "newer", "older"):
        _date_bound(value)
    if op in ("newer_than", "older_than"):
        _age_ms(value)


def parse_query(q):
    """Parse a q= string into a predicate tree; raises QueryError."""
    tokens = _tokenize(q or "")
    if not tokens:
        return None
    parser = _Parser(tokens)
    node = parser.expr()
    if parser.peek() is not None:
        raise QueryError("Invalid query")
    return node


def query_mentions_spam_trash(node):
    if node is None:
        return False
    kind = node[0]
    if kind in ("and", "or"):
        return any(query_mentions_spam_trash(n) for n in node[1])
    if kind == "not":
        return query_mentions_spam_trash(node[1])
    if kind == "op" and node[1] in ("in", "label"):
        return any(v.lower() in ("spam", "trash", "anywhere") for v in node[2][1])
    return False


def matches(node, msg, mailbox, now):
    if node is None:
        return True
    kind = node[0]
    if kind == "and":
        return all(matches(n, msg, mailbox, now) for n in node[1])
    if kind == "or":
        return any(matches(n, msg, mailbox, now) for n in node[1])
    if kind == "not":
        return not matches(node[1], msg, mailbox, now)
    if kind == "word":
        return _word_match(node[1], msg)
    mode, values = node[2]
    results = (_op_match(node[1], v, msg, mailbox, now) for v in values)
    return any(results) if mode == "any" else all(results)


def _word_match(word, msg):
    word = word.lower()
    hay = " ".join(msg.header(h) for h in ("Subject", "From", "To", "Cc")) + "\n" + msg.text()
    for part in msg.leaves():
        if part.get_filename():
            hay += "\n" + _decode_header(part.get_filename())
    return word in hay.lower()


def _address_match(value, header_text):
    value = value.lower()
    text = header_text.lower()
    if value.startswith("@"):
        return any(addr.lower().endswith(value) for _, addr in email.utils.getaddresses([text]))
    return value in text


def _op_match(op, value, msg, mailbox, now):
    v = value.lower()
    if op in ("from", "to", "cc", "bcc", "deliveredto"):
        name = {"deliveredto": "Delivered-To"}.get(op, op.capitalize())
        return _address_match(value, msg.header(name))
    if op == "subject":
        return v in msg.header("Subject").lower()
    if op == "label":
        label = mailbox.find_label(value)
        return label is not None and label["id"] in msg.label_ids
    if op == "in":
        if v == "anywhere":
            return True
        label = mailbox.find_label(value)
        return label is not None and label["id"] in msg.label_ids
    if op == "is":
        return _is_match(v, msg)
    if op == "has":
        if v == "attachment":
            return msg.has_attachment()
        if v in ("userlabels", "nouserlabels"):
            has = any(mailbox.labels.get(l, {}).get("type") == "user" for l in msg.label_ids)
            return has if v == "userlabels" else not has
        raise QueryError("Invalid query")
    if op in ("after", "before", "newer", "older"):
        bound = _date_bound(value)
        return msg.internal_date >= bound if op in ("after", "newer") else msg.internal_date < bound
    if op in ("newer_than", "older_than"):
        bound = now * 1000 - _age_ms(value)
        return msg.internal_date >= bound if op == "newer_than" else msg.internal_date < bound
    if op == "rfc822msgid":
        return msg.message_id().strip("<>").lower() == v.strip("<>")
    if op == "filename":
        return any(v in _decode_header(p.get_filename()).lower()
                   for p in msg.leaves() if p.get_filename())
    if op == "list":
        return v in msg.header("List-Id").lower()
    raise QueryError("Invalid query")


def _is_match(v, msg):
    flags = {"unread": "UNREAD", "starred": "STARRED", "important": "IMPORTANT"}
    if v in flags:
        return flags[v] in msg.label_ids
    if v == "read":
        return "UNREAD" not in msg.label_ids
    raise QueryError("Invalid query")


def _date_bound(value):
    """after:/before: take YYYY/MM/DD (or YYYY-MM-DD, or epoch seconds); midnight UTC."""
    if value.isdigit():
        return int(value) * 1000
    m = re.fullmatch(r"(\d{4})[/-](\d{1,2})[/-](\d{1,2})", value)
    if not m:
        raise QueryError("Invalid query")
    try:
        dt = datetime.datetime(int(m.group(1)), int(m.group(2)), int(m.group(3)),
                               tzinfo=datetime.timezone.utc)
    except ValueError:
        raise QueryError("Invalid query") from None
    return int(dt.timestamp() * 1000)


def _age_ms(value):
    m = re.fullmatch(r"(\d+)([dmy])", value.lower())
    if not m:
        raise QueryError("Invalid query")
    days = int(m.group(1)) * {"d": 1, "m": 30, "y": 365}[m.group(2)]
    return days * 86400 * 1000


def new_attachment_id():
    """Opaque, unstable like Gmail's (which start with 'ANGjdJ')."""
    return "ANGjdJ" + secrets.token_urlsafe(96)
