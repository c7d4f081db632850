# Gmail API v1 of fake-google: routes from the discovery document, auth/scope/quota checks, methods.
import base64
import email.utils
import json
import re
import time
import urllib.parse

import gerrors
import gmail_store
from fg_http import bad_request, json_resp, Resp
from gerrors import api_error, rfc3339_ms
from gmail_store import QueryError, new_attachment_id, parse_query, query_mentions_spam_trash
from rsa_jwt import b64url_decode, b64url_encode

PREFIX = "gmail.users."
METADATA_SCOPE = "https://www.googleapis.com/auth/gmail.metadata"
WWW_AUTH = 'Bearer realm="https://accounts.google.com/"'
MAX_BATCH = 1000


class ApiError(Exception):
    """Raised by handlers to answer an error."""

    def __init__(self, resp):
        super().__init__(resp.status)
        self.resp = resp


def _err(code, message=None, reason=None, status=None):
    return ApiError(json_resp(code, api_error(code, message, reason, None, status)))


def _invalid(message):
    return ApiError(bad_request(message))


# ================================================================ routing
def build_routes(discovery):
    """[(http method, compiled regex, method id, upload?)] from the discovery document."""
    routes = []

    def walk(resource):
        for method in resource.get("methods", {}).values():
            paths = [("/" + method["flatPath"], False)]
            simple = method.get("mediaUpload", {}).get("protocols", {}).get("simple", {})
            if simple.get("path"):
                paths.append((simple["path"], True))
            for path, upload in paths:
                rx = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(path))
                routes.append((method["httpMethod"], re.compile("^" + rx + "$"), method["id"],
                               upload, len(re.sub(r"\{\w+\}", "", path))))
        for sub in resource.get("resources", {}).values():
            walk(sub)

    walk(discovery)
    routes.sort(key=lambda r: -r[4])
    return [r[:4] for r in routes]


def route(routes, http_method, path):
    """(method id, params, upload) or None."""
    for method, rx, mid, upload in routes:
        if method != http_method:
            continue
        m = rx.match(path)
        if m:
            params = {k: urllib.parse.unquote(v) for k, v in m.groupdict().items()}
            return mid, params, upload
    return None


def method_scopes(discovery, method_id):
    node = discovery
    parts = method_id.split(".")[1:]
    for name in parts[:-1]:
        node = node["resources"][name]
    return node["methods"][parts[-1]].get("scopes", [])


# ================================================================ pipeline
class Ctx:
    """What a method handler needs."""

    def __init__(self, state, req, params, user, token, scopes, upload):
        self.state, self.req, self.params = state, req, params
        self.user, self.token, self.upload = user, token, upload
        self.mb = state.mailbox(user)
        granted = set(token["scopes"]) & set(scopes)
        self.metadata_only = granted == {METADATA_SCOPE}


def handle(state, req, method_id, params, upload):
    """Authenticate, authorise, rate-limit, delay, then run one Gmail method."""
    short = method_id[len(PREFIX):]
    try:
        token, scopes, user = _authorise(state, req, method_id, params)
        return _limited(state, req, short, Ctx(state, req, params, user, token, scopes, upload))
    except ApiError as exc:
        return exc.resp


def _authorise(state, req, method_id, params):
    token = state.live_access(req.bearer())
    if token is None:
        raise ApiError(json_resp(401, gerrors.unauthenticated(),
                                 [("WWW-Authenticate", WWW_AUTH + ', error="invalid_token"')]))
    scopes = method_scopes(state.discovery, method_id)
    if not set(token["scopes"]) & set(scopes):
        body = api_error(403, "Request had insufficient authentication scopes.",
                         "insufficientPermissions", "global", "PERMISSION_DENIED")
        body["error"]["errors"][0]["message"] = "Insufficient Permission"
        raise ApiError(json_resp(403, body, [("WWW-Authenticate", WWW_AUTH + (
            ', error="insufficient_scope", scope="%s"' % " ".join(scopes)))]))
    if token.get("sa_self"):
        raise _err(400, "Precondition check failed.", "failedPrecondition", "FAILED_PRECONDITION")
    uid = params.get("userId", "me")
    if uid != "me" and uid.lower() != token["user"].lower():
        msg = "Delegation denied for %s" % token["user"]
        raise _err(403, msg, "forbidden", "PERMISSION_DENIED")
    return token, scopes, token["user"].lower()


def _limited(state, req, short, ctx):
    handler = HANDLERS.get(short)
    if handler is None:
        raise _err(501, "fake-google does not implement gmail.users.%s" % short,
                   "notImplemented", "UNIMPLEMENTED")
    user = ctx.user
    with state.lock:
        limit = int(state.settings["max_concurrent"] or 0)
        if limit and state.in_flight[user] >= limit:
            state.counts["concurrency_rejects:" + user] += 1
            raise _err(429, "Too many concurrent requests for user", "rateLimitExceeded",
                       "RESOURCE_EXHAUSTED")
        state.in_flight[user] += 1
    try:
        _charge(state, user, short)
        delay = state.latency(PREFIX + short)
        if delay:
            time.sleep(delay)
        with state.lock:
            return handler(ctx)
    finally:
        with state.lock:
            if state.in_flight[user] > 0:  # a /_fake/reset may have cleared the counter
                state.in_flight[user] -= 1


def _charge(state, user, short):
    retry = state.charge(user, short, time.time())
    if retry is None:
        return
    msg = "User-rate limit exceeded.  Retry after %s" % rfc3339_ms(retry)
    if int(state.settings["quota_status"]) == 403:
        raise _err(403, msg, "userRateLimitExceeded", "PERMISSION_DENIED")
    raise _err(429, msg, "rateLimitExceeded", "RESOURCE_EXHAUSTED")


# ================================================================ helpers
def _body(ctx):
    try:
        return ctx.req.json()
    except (ValueError, UnicodeDecodeError):
        raise _invalid("Invalid JSON payload received.") from None


def _bool(value):
    return str(value).lower() in ("1", "true", "yes")


def _max_results(req, default=100, cap=500):
    value = req.q("maxResults")
    if value in (None, ""):
        return default
    try:
        n = int(value)
        if n < 0:
            raise ValueError
    except ValueError:
        raise _invalid("Invalid value at 'max_results' (TYPE_UINT32), \"%s\"" % value) from None
    return min(n, cap) if n else default


def _message(ctx, mid):
    msg = ctx.mb.messages.get(mid)
    if msg is None:
        if not re.fullmatch(r"[0-9a-fA-F]{1,16}", mid or ""):
            raise _invalid("Invalid id value")
        raise _err(404)
    return msg


def _label_ids(ctx, ids, field):
    if ids is None:
        return []
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise _invalid("Invalid value for %s" % field)
    for lid in ids:
        if lid not in ctx.mb.labels:
            raise _invalid("Invalid label: %s" % lid)
    return ids


def _page_token(token):
    try:
        return [int(x) for x in base64.urlsafe_b64decode(token.encode() + b"==").decode()
                .split(":")]
    except (ValueError, UnicodeDecodeError):
        raise _invalid("Invalid pageToken") from None


def _make_token(*numbers):
    return base64.urlsafe_b64encode(":".join(str(n) for n in numbers).encode()).decode().rstrip("=")


def message_json(ctx, msg, fmt, wanted_headers=None):
    d = {"id": msg.id, "threadId": msg.thread_id}
    if msg.label_ids:
        d["labelIds"] = list(msg.label_ids)
    d["snippet"] = msg.snippet()
    if fmt == "full":
        d["payload"] = gmail_store.render_payload(msg, _sink(ctx, msg))
    elif fmt == "metadata":
        headers = msg.headers()
        if wanted_headers:
            names = {h.lower() for h in wanted_headers}
            headers = [h for h in headers if h["name"].lower() in names]
        d["payload"] = {"partId": "", "mimeType": msg.msg.get_content_type(), "filename": "",
                        "headers": headers}
    d["sizeEstimate"] = len(msg.raw)
    if fmt == "raw":
        d["raw"] = b64url_encode(msg.raw, pad=True)
    d["historyId"] = str(msg.history_id)
    d["internalDate"] = str(msg.internal_date)
    return d


def _sink(ctx, msg):
    def sink(part_id, _data):
        aid = new_attachment_id()
        ctx.state.attachments[aid] = (ctx.user, msg.id, part_id)
        return aid
    return sink


def _format(ctx):
    fmt = (ctx.req.q("format") or "full").lower()
    if fmt not in ("full", "raw", "metadata", "minimal"):
        raise _invalid("Invalid value at 'format' (type.googleapis.com/"
                       "google.apps.gmail.v1.UsersMessagesGetFormat), \"%s\"" % fmt)
    if ctx.metadata_only and fmt in ("full", "raw"):
        raise _err(403, "Metadata scope doesn't allow format %s" % fmt.upper(), "forbidden")
    return fmt


def _minimal(msg):
    d = {"id": msg.id, "threadId": msg.thread_id}
    if msg.label_ids:
        d["labelIds"] = list(msg.label_ids)
    return d


# ================================================================ profile, messages
def get_profile(ctx):
    return json_resp(200, ctx.mb.profile())


def _filtered(ctx):
    q = ctx.req.q("q")
    if q and ctx.metadata_only:
        raise _err(403, "Metadata scope does not support 'q' parameter", "forbidden")
    try:
        node = parse_query(q)
    except QueryError:
        raise _invalid("Invalid query") from None
    label_ids = ctx.req.qlist("labelIds")
    include = _bool(ctx.req.q("includeSpamTrash")) or query_mentions_spam_trash(node) \
        or any(l in ("SPAM", "TRASH") for l in label_ids)
    now, out = time.time(), []
    for msg in ctx.mb.sorted_messages():
        if not include and ("SPAM" in msg.label_ids or "TRASH" in msg.label_ids):
            continue
        if any(l not in msg.label_ids for l in label_ids):
            continue
        if gmail_store.matches(node, msg, ctx.mb, now):
            out.append(msg)
    return out


def messages_list(ctx):
    size = _max_results(ctx.req)
    found = _filtered(ctx)
    token = ctx.req.q("pageToken")
    if token:
        after = tuple(_page_token(token))
        page_from = [m for m in found if gmail_store.sort_key(m) < after]
    else:
        page_from = found
    page = page_from[:size]
    if not found:
        return json_resp(200, {"resultSizeEstimate": 0})
    body = {"messages": [{"id": m.id, "threadId": m.thread_id} for m in page]}
    if len(page_from) > size:
        body["nextPageToken"] = _make_token(*gmail_store.sort_key(page[-1]))
    body["resultSizeEstimate"] = len(found)
    return json_resp(200, body)


def messages_get(ctx):
    fmt = _format(ctx)
    msg = _message(ctx, ctx.params["id"])
    return json_resp(200, message_json(ctx, msg, fmt, ctx.req.qlist("metadataHeaders")))


def attachments_get(ctx):
    msg = _message(ctx, ctx.params["messageId"])
    ref = ctx.state.attachments.get(ctx.params["id"])
    if ref is None or ref[:2] != (ctx.user, msg.id):
        raise _invalid("Invalid attachment token")
    part = gmail_store.find_part(msg, ref[2])
    data = gmail_store.part_bytes(part) if part is not None else b""
    return json_resp(200, {"size": len(data), "data": b64url_encode(data, pad=True)})


def messages_modify(ctx):
    msg = _message(ctx, ctx.params["id"])
    body = _body(ctx)
    add = _label_ids(ctx, body.get("addLabelIds"), "addLabelIds")
    remove = _label_ids(ctx, body.get("removeLabelIds"), "removeLabelIds")
    ctx.mb.modify(msg, add, remove)
    return json_resp(200, _minimal(msg))


def _batch_ids(ctx, body):
    ids = body.get("ids")
    if not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids):
        raise _invalid("ids must be specified")
    if len(ids) > MAX_BATCH:
        raise _invalid("Too many ids specified. The maximum is %d." % MAX_BATCH)
    for mid in ids:
        if not re.fullmatch(r"[0-9a-fA-F]{1,16}", mid):
            raise _invalid("Invalid id value")
    return ids


def messages_batch_modify(ctx):
    body = _body(ctx)
    ids = _batch_ids(ctx, body)
    add = _label_ids(ctx, body.get("addLabelIds"), "addLabelIds")
    remove = _label_ids(ctx, body.get("removeLabelIds"), "removeLabelIds")
    if not add and not remove:
        raise _invalid("No label add or removes specified")
    for mid in ids:
        if mid in ctx.mb.messages:
            ctx.mb.modify(ctx.mb.messages[mid], add, remove)
    return Resp(204, b"", None)


def messages_trash(ctx):
    msg = _message(ctx, ctx.params["id"])
    ctx.mb.modify(msg, ["TRASH"], ["INBOX", "SPAM"])
    return json_resp(200, _minimal(msg))


def messages_untrash(ctx):
    msg = _message(ctx, ctx.params["id"])
    ctx.mb.modify(msg, [], ["TRASH"])
    return json_resp(200, _minimal(msg))


def messages_delete(ctx):
    ctx.mb.delete(_message(ctx, ctx.params["id"]))
    return Resp(204, b"", None)


def messages_batch_delete(ctx):
    for mid in _batch_ids(ctx, _body(ctx)):
        if mid in ctx.mb.messages:
            ctx.mb.delete(ctx.mb.messages[mid])
    return Resp(204, b"", None)


# ---------------------------------------------------------------- raw message intake
def _split_multipart(req):
    """(metadata JSON object, payload bytes) of a multipart/related upload."""
    m = re.search(r'boundary="?([^";]+)"?', req.headers.get("content-type", ""))
    if not m:
        raise _invalid("Missing multipart boundary")
    parts = req.body.split(b"--" + m.group(1).encode())
    sections = []
    for part in parts[1:]:
        if part.startswith(b"--"):
            break
        head, _, content = part.lstrip(b"\r\n").partition(b"\r\n\r\n")
        if not _:
            head, _, content = part.lstrip(b"\n").partition(b"\n\n")
        sections.append((head.decode("latin-1"), content[:-2] if content.endswith(b"\r\n")
                         else content.rstrip(b"\n")))
    if len(sections) != 2:
        raise _invalid("Multipart upload must have exactly two parts")
    try:
        meta = json.loads(sections[0][1].decode("utf-8") or "{}")
    except (ValueError, UnicodeDecodeError):
        raise _invalid("Invalid JSON payload received.") from None
    return (meta if isinstance(meta, dict) else {}), sections[1][1]


def _intake(ctx, wrapper=None):
    """(raw bytes, metadata dict) from a JSON body or an /upload request."""
    req = ctx.req
    if ctx.upload:
        kind = req.q("uploadType", "")
        if kind == "media":
            ctype = req.content_type()
            if not ctype.startswith("message/"):
                raise _invalid("Media type '%s' is not supported. Valid media types: "
                               "[message/*]" % ctype)
            return req.body, {}
        if kind == "multipart":
            meta, raw = _split_multipart(req)
            return raw, (meta.get(wrapper, {}) if wrapper else meta)
        raise _invalid("Invalid upload type: %s" % kind)
    body = _body(ctx)
    meta = body.get(wrapper, {}) if wrapper else body
    if not isinstance(meta, dict):
        raise _invalid("Invalid value for %s" % wrapper)
    raw = meta.get("raw")
    if not raw:
        raise _invalid("'raw' RFC822 payload message string or uploading message via /upload/* "
                       "URL required")
    try:
        return b64url_decode(raw), meta
    except (ValueError, TypeError):
        raise _invalid("Invalid value for ByteString: %s" % str(raw)[:40]) from None


def _check_recipients(raw):
    msg = email.message_from_bytes(raw)
    for header in ("To", "Cc", "Bcc"):
        for _, addr in email.utils.getaddresses(msg.get_all(header, [])):
            if addr and "@" not in addr:
                raise _invalid("Invalid %s header" % header)
    if not any(addr for _, addr in email.utils.getaddresses(
            sum((msg.get_all(h, []) for h in ("To", "Cc", "Bcc")), []))):
        raise _invalid("Recipient address required")


def messages_send(ctx):
    raw, meta = _intake(ctx)
    _check_recipients(raw)
    msg = _store_sent(ctx, raw, meta.get("threadId"))
    return json_resp(200, _minimal(msg))


def _store_sent(ctx, raw, thread_id):
    msg = ctx.mb.add(raw, ["SENT"], int(time.time() * 1000), thread_id=thread_id)
    _record_sent(ctx, msg)
    return msg


def _record_sent(ctx, msg):
    ctx.state.sent.append({"user": ctx.user, "id": msg.id, "threadId": msg.thread_id,
                           "labelIds": list(msg.label_ids),
                           "raw": b64url_encode(msg.raw, pad=True), "t": time.time()})


def messages_insert(ctx):
    raw, meta = _intake(ctx)
    labels = _label_ids(ctx, meta.get("labelIds"), "labelIds")
    source = ctx.req.q("internalDateSource") or (
        "dateHeader" if ctx.params.get("_import") else "receivedTime")
    when = None if source == "dateHeader" else int(time.time() * 1000)
    msg = ctx.mb.add(raw, labels, when, thread_id=meta.get("threadId"))
    return json_resp(200, _minimal(msg))


def messages_import(ctx):
    ctx.params["_import"] = True
    return messages_insert(ctx)


# ================================================================ threads
def threads_get(ctx):
    fmt = _format(ctx)
    msgs = sorted((m for m in ctx.mb.messages.values() if m.thread_id == ctx.params["id"]),
                  key=gmail_store.sort_key)
    if not msgs:
        raise _err(404)
    headers = ctx.req.qlist("metadataHeaders")
    return json_resp(200, {"id": ctx.params["id"],
                           "historyId": str(max(m.history_id for m in msgs)),
                           "messages": [message_json(ctx, m, fmt, headers) for m in msgs]})


def threads_list(ctx):
    size = _max_results(ctx.req)
    seen, threads = set(), []
    for msg in _filtered(ctx):
        if msg.thread_id not in seen:
            seen.add(msg.thread_id)
            threads.append(msg)
    start = _page_token(ctx.req.q("pageToken"))[0] if ctx.req.q("pageToken") else 0
    page = threads[start:start + size]
    if not threads:
        return json_resp(200, {"resultSizeEstimate": 0})
    body = {"threads": [{"id": m.thread_id, "snippet": m.snippet(),
                         "historyId": str(m.history_id)} for m in page]}
    if start + size < len(threads):
        body["nextPageToken"] = _make_token(start + size)
    body["resultSizeEstimate"] = len(threads)
    return json_resp(200, body)


# ================================================================ labels
def _label_full(ctx, label):
    out = dict(label)
    out.update(ctx.mb.label_counts(label["id"]))
    return out


def labels_list(ctx):
    return json_resp(200, {"labels": [dict(l) for l in ctx.mb.labels.values()]})


def _label(ctx):
    label = ctx.mb.labels.get(ctx.params["id"])
    if label is None:
        raise _err(404)
    return label


def labels_get(ctx):
    return json_resp(200, _label_full(ctx, _label(ctx)))


def _label_fields(body):
    extra = {}
    for key in ("messageListVisibility", "labelListVisibility", "color"):
        if key in body:
            extra[key] = body[key]
    return extra


def _check_name(ctx, name, except_id=None):
    if not isinstance(name, str) or not name.strip():
        raise _invalid("Invalid label name")
    if name.strip().upper() in gmail_store.SYSTEM_LABELS and except_id is None:
        raise _invalid("Invalid label name")
    if ctx.mb.name_conflicts(name, except_id):
        msg = "Label name exists or conflicts"
        raise _err(409, msg, "duplicate", "ABORTED")


def labels_create(ctx):
    body = _body(ctx)
    _check_name(ctx, body.get("name"))
    label = ctx.mb.create_label(body["name"].strip(), _label_fields(body))
    ctx.mb.bump()
    return json_resp(200, label)


def labels_update(ctx):
    label = _label(ctx)
    if label["type"] == "system":
        raise _invalid("Invalid update request")
    body = _body(ctx)
    if "name" in body or ctx.req.method == "PUT":
        _check_name(ctx, body.get("name"), label["id"])
        label["name"] = body["name"].strip()
    label.update(_label_fields(body))
    ctx.mb.bump()
    return json_resp(200, label)


def labels_delete(ctx):
    label = _label(ctx)
    if label["type"] == "system":
        raise _invalid("Invalid delete request")
    for msg in list(ctx.mb.messages.values()):
        if label["id"] in msg.label_ids:
            ctx.mb.modify(msg, [], [label["id"]])
    del ctx.mb.labels[label["id"]]
    return Resp(204, b"", None)


# ================================================================ history
HISTORY_FIELDS = {"messageAdded": "messagesAdded", "messageDeleted": "messagesDeleted",
                  "labelAdded": "labelsAdded", "labelRemoved": "labelsRemoved"}


def history_list(ctx):
    start = ctx.req.q("startHistoryId")
    if not start:
        raise _invalid("Missing required parameter: startHistoryId")
    if not start.isdigit():
        raise _invalid("Invalid startHistoryId")
    start = int(start)
    types = ctx.req.qlist("historyTypes")
    if any(t not in HISTORY_FIELDS for t in types):
        raise _invalid("Invalid value at 'history_types'")
    if start < ctx.mb.history_floor:
        raise _err(404)
    size = _max_results(ctx.req)
    after = _page_token(ctx.req.q("pageToken"))[0] if ctx.req.q("pageToken") else start
    label = ctx.req.q("labelId")
    records = [r for r in ctx.mb.history if r["id"] > after and (not types or r["type"] in types)
               and (not label or label in r["msgLabels"] or label in r["labelIds"])]
    body = {}
    page = records[:size]
    if page:
        body["history"] = [_history_json(r) for r in page]
    if len(records) > size:
        body["nextPageToken"] = _make_token(page[-1]["id"])
    body["historyId"] = str(ctx.mb.history_id)
    return json_resp(200, body)


def _history_json(rec):
    ref = {"id": rec["message"], "threadId": rec["threadId"]}
    full = dict(ref)
    if rec["msgLabels"]:
        full["labelIds"] = list(rec["msgLabels"])
    item = {"message": full}
    if rec["type"] in ("labelAdded", "labelRemoved"):
        item["labelIds"] = list(rec["labelIds"])
    return {"id": str(rec["id"]), "messages": [ref], HISTORY_FIELDS[rec["type"]]: [item]}


# ================================================================ settings.sendAs
def send_as_list(ctx):
    return json_resp(200, {"sendAs": ctx.state.send_as(ctx.user)})


def send_as_get(ctx):
    want = ctx.params["sendAsEmail"].lower()
    for entry in ctx.state.send_as(ctx.user):
        if entry["sendAsEmail"].lower() == want:
            return json_resp(200, entry)
    raise _err(404)


# ================================================================ drafts
def _draft(ctx):
    mid = ctx.mb.drafts.get(ctx.params["id"])
    if mid is None or mid not in ctx.mb.messages:
        raise _err(404)
    return ctx.mb.messages[mid]


def drafts_create(ctx):
    raw, meta = _intake(ctx, "message")
    msg = ctx.mb.add(raw, ["DRAFT"], int(time.time() * 1000), thread_id=meta.get("threadId"))
    did = "r%d" % (int(msg.id, 16) % 10 ** 19)
    ctx.mb.drafts[did] = msg.id
    return json_resp(200, {"id": did, "message": _minimal(msg)})


def drafts_get(ctx):
    fmt = _format(ctx)
    return json_resp(200, {"id": ctx.params["id"], "message": message_json(ctx, _draft(ctx), fmt)})


def drafts_list(ctx):
    items = [{"id": did, "message": {"id": mid, "threadId": ctx.mb.messages[mid].thread_id}}
             for did, mid in ctx.mb.drafts.items() if mid in ctx.mb.messages]
    if not items:
        return json_resp(200, {"resultSizeEstimate": 0})
    return json_resp(200, {"drafts": items, "resultSizeEstimate": len(items)})


def drafts_delete(ctx):
    msg = _draft(ctx)
    ctx.mb.delete(msg)
    del ctx.mb.drafts[ctx.params["id"]]
    return Resp(204, b"", None)


def drafts_send(ctx):
    body = _body(ctx) if not ctx.upload else {}
    ctx.params["id"] = body.get("id", "")
    msg = _draft(ctx)
    _check_recipients(msg.raw)
    del ctx.mb.drafts[ctx.params["id"]]
    msg.internal_date = int(time.time() * 1000)
    ctx.mb.modify(msg, ["SENT"], ["DRAFT"])
    _record_sent(ctx, msg)
    return json_resp(200, _minimal(msg))


HANDLERS = {
    "getProfile": get_profile,
    "messages.list": messages_list, "messages.get": messages_get,
    "messages.attachments.get": attachments_get, "messages.modify": messages_modify,
    "messages.batchModify": messages_batch_modify, "messages.send": messages_send,
    "messages.trash": messages_trash, "messages.untrash": messages_untrash,
    "messages.delete": messages_delete, "messages.batchDelete": messages_batch_delete,
    "messages.insert": messages_insert, "messages.import": messages_import,
    "threads.get": threads_get, "threads.list": threads_list,
    "labels.list": labels_list, "labels.get": labels_get, "labels.create": labels_create,
    "labels.update": labels_update, "labels.patch": labels_update, "labels.delete": labels_delete,
    "history.list": history_list,
    "settings.sendAs.list": send_as_list, "settings.sendAs.get": send_as_get,
    "drafts.create": drafts_create, "drafts.get": drafts_get, "drafts.list": drafts_list,
    "drafts.delete": drafts_delete, "drafts.send": drafts_send,
}
