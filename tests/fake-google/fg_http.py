# Request/response value objects shared by the fake-google handlers.
import json
import urllib.parse

from gerrors import JSON_TYPE, dumps, invalid_argument


class Req:
    """A parsed HTTP request (the body fully read)."""

    def __init__(self, method, target, headers, body, t):
        parts = urllib.parse.urlsplit(target)
        self.method = method
        self.path = parts.path
        self.query = urllib.parse.parse_qs(parts.query, keep_blank_values=True)
        self.headers = headers          # lowercased name -> value
        self.body = body
        self.t = t

    def q(self, name, default=None):
        values = self.query.get(name)
        return values[0] if values else default

    def qlist(self, name):
        """Repeated query parameter; accepts both name=a&name=b and name=a,b."""
        out = []
        for value in self.query.get(name, []):
            out.extend(v for v in value.split(",") if v)
        return out

    def content_type(self):
        return self.headers.get("content-type", "").split(";")[0].strip().lower()

    def form(self):
        """Form fields (first value each) from an x-www-form-urlencoded or JSON body."""
        if self.content_type() == "application/json":
            obj = json.loads(self.body.decode("utf-8") or "{}")
            if not isinstance(obj, dict):
                raise ValueError("JSON body must be an object")
            return {k: str(v) for k, v in obj.items()}
        text = self.body.decode("utf-8", "replace")
        return {k: v[0] for k, v in urllib.parse.parse_qs(text, keep_blank_values=True).items()}

    def json(self):
        """The JSON object body ({} when empty); raises ValueError when not an object."""
        if not self.body.strip():
            return {}
        obj = json.loads(self.body.decode("utf-8"))
        if not isinstance(obj, dict):
            raise ValueError("JSON body must be an object")
        return obj

    def bearer(self):
        auth = self.headers.get("authorization", "")
        scheme, _, token = auth.partition(" ")
        return token.strip() if scheme.lower() == "bearer" and token.strip() else None


class Resp:
    """An answer; action 'reset' or 'truncate' makes the server misbehave on purpose."""

    def __init__(self, status, body=b"", ctype=JSON_TYPE, headers=None):
        self.status = status
        self.body = body if isinstance(body, bytes) else body.encode("utf-8")
        self.headers = list(headers or [])
        if ctype and status != 204:
            self.headers.insert(0, ("Content-Type", ctype))
        self.action = None
        self.note = None            # e.g. the fault kind, for the log


def json_resp(status, obj, headers=None):
    return Resp(status, dumps(obj), JSON_TYPE, headers)


def bad_request(message):
    return json_resp(400, invalid_argument(message))


def text_resp(status, text, headers=None, ctype="text/plain; charset=UTF-8"):
    return Resp(status, text, ctype, headers)
