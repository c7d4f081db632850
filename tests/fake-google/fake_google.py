#!/usr/bin/env python3
# fake-google: loopback fake of Google OAuth, the metadata server, IAM signJwt and Gmail, for tests.
import argparse
import json
import os
import signal
import socket
import socketserver
import ssl
import struct
import sys
import threading
import time
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.dont_write_bytecode = True  # no __pycache__ inside the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import control  # noqa: E402
import gerrors  # noqa: E402
import gmail_api  # noqa: E402
import oauth  # noqa: E402
from fg_http import Req, Resp, json_resp  # noqa: E402
from fg_state import DEFAULT_USER, State  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
MAX_BODY = 64 * 1024 * 1024
LOG_BODY_MAX = 64 * 1024


# ================================================================ request log
class RequestLog:
    """One JSON line per request, flushed, thread-safe."""

    def __init__(self, path):
        self.lock = threading.Lock()
        self.fh = open(path, "a", encoding="utf-8") if path else None

    def write(self, req, status, endpoint, note=None):
        if self.fh is None:
            return
        query = {k: (v[0] if len(v) == 1 else v) for k, v in req.query.items()}
        rec = {"t": req.t, "method": req.method, "path": req.path, "query": query,
               "headers": req.headers}
        if len(req.body) > LOG_BODY_MAX:
            rec["body_len"] = len(req.body)
        else:
            rec["body"] = req.body.decode("utf-8", "replace")
        rec.update(status=status, endpoint=endpoint)
        if note:
            rec["fault"] = note
        line = json.dumps(rec, ensure_ascii=False) + "\n"
        with self.lock:
            self.fh.write(line)
            self.fh.flush()


# ================================================================ routing
def route(state, routes, req):
    """(endpoint name, handler(state, req) -> Resp)."""
    path, method = req.path, req.method
    if path in ("/o/oauth2/auth", "/o/oauth2/v2/auth") and method == "GET":
        return "oauth.auth", oauth.auth
    if path in ("/token", "/o/oauth2/token", "/oauth2/v4/token") and method == "POST":
        return "oauth.token", oauth.token
    if path in ("/revoke", "/o/oauth2/revoke") and method in ("POST", "GET"):
        return "oauth.revoke", oauth.revoke
    if path in ("/oauth2/v3/tokeninfo", "/tokeninfo") and method in ("GET", "POST"):
        return "oauth.tokeninfo", oauth.tokeninfo
    if path.startswith("/computeMetadata/") and method == "GET":
        return oauth.metadata_endpoint_name(path), oauth.metadata
    if oauth.SIGN_JWT_RX.match(path) and method == "POST":
        return "iam.signJwt", oauth.sign_jwt
    found = gmail_api.route(routes, method, path)
    if found:
        mid, params, upload = found
        return mid, lambda st, rq: gmail_api.handle(st, rq, mid, params, upload)
    return "unknown", lambda st, rq: Resp(404, gerrors.gfe_error_page(404),
                                          "text/html; charset=UTF-8")


# reason -> (message, status) for fault rules that name a reason but no message.
REASON_DEFAULTS = {
    "failedPrecondition": ("Precondition check failed.", "FAILED_PRECONDITION"),
    "invalidArgument": ("Request contains an invalid argument.", "INVALID_ARGUMENT"),
    "notFound": ("Requested entity was not found.", "NOT_FOUND"),
    "userRateLimitExceeded": ("User-rate limit exceeded.", None),
    "rateLimitExceeded": ("Rate Limit Exceeded", None),
    "dailyLimitExceeded": ("Daily Limit Exceeded", None),
    "quotaExceeded": ("Quota exceeded.", None),
    "concurrentLimitExceeded": ("Too many concurrent requests for user", None),
}


def fault_response(rule, endpoint):
    """The answer a kind=error fault rule gives, shaped like Google's for that status."""
    status = int(rule.get("status", 503))
    headers = []
    if rule.get("retry_after") is not None:
        headers.append(("Retry-After", str(int(rule["retry_after"]))))
    if "body" in rule:
        body = rule["body"]
        if isinstance(body, (dict, list)):
            return json_resp(status, body, headers)
        return Resp(status, str(body), rule.get("content_type", "text/plain; charset=UTF-8"),
                    headers)
    if status == 502 and not rule.get("json"):
        return Resp(status, gerrors.gfe_error_page(502), "text/html; charset=UTF-8", headers)
    message = rule.get("message")
    reason = rule.get("reason")
    status_name = rule.get("status_name")
    if reason in REASON_DEFAULTS and message is None and not (
            status == 429 and reason in ("rateLimitExceeded", "userRateLimitExceeded")):
        message, status_name = REASON_DEFAULTS[reason][0], status_name or REASON_DEFAULTS[reason][1]
    if rule.get("retry_after_message") is not None:
        base = message or gerrors.DEFAULTS.get(status, ("Error",))[0]
        message = "%s  Retry after %s" % (base, gerrors.rfc3339_ms(
            time.time() + float(rule["retry_after_message"])))
    if endpoint.startswith("oauth.") and status < 500:
        return json_resp(status, gerrors.oauth_error(reason or "invalid_request",
                                                     message or "Bad Request"), headers)
    if endpoint.startswith("metadata."):
        return Resp(status, (message or "error") + "\n", "text/plain; charset=UTF-8",
                    headers + [("Metadata-Flavor", "Google")])
    return json_resp(status, gerrors.api_error(status, message, reason, None, status_name), headers)


# ================================================================ HTTP handler
class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "ESF"
    sys_version = ""
    timeout = 300

    def setup(self):
        super().setup()
        try:
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass

    def version_string(self):
        return "ESF"

    def log_message(self, fmt, *args):  # quiet unless --verbose
        if self.server.verbose:
            sys.stderr.write("fake-google: %s\n" % (fmt % args))

    def do_GET(self):
        self.dispatch()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_GET

    # -- reading
    def _read_body(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks, total = [], 0
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                total += size
                if total > MAX_BODY:
                    raise ValueError("body too large")
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        if length < 0 or length > MAX_BODY:
            raise ValueError("body too large")
        return self.rfile.read(length) if length else b""

    def _headers_dict(self):
        out = {}
        for name, value in self.headers.items():
            key = name.lower()
            out[key] = out[key] + ", " + value if key in out else value
        return out

    # -- writing
    def _send(self, resp, truncate=False):
        body = b"" if self.command == "HEAD" else resp.body
        self.log_request(resp.status)
        self.send_response_only(resp.status)
        if not any(name.lower() == "server" for name, _ in resp.headers):
            self.send_header("Server", self.version_string())
        self.send_header("Date", self.date_time_string())
        for name, value in resp.headers:
            self.send_header(name, value)
        if resp.status != 204:
            self.send_header("Content-Length", str(len(resp.body)))
        if truncate:
            self.send_header("Connection", "close")
            self.close_connection = True
        # One write for headers and body: avoids Nagle/delayed-ACK stalls on keep-alive.
        self._headers_buffer.append(b"\r\n")
        self._headers_buffer.append(body[:len(body) // 2] if truncate else body)
        self.flush_headers()

    def _reset(self):
        """Drop the connection with a TCP RST and no answer."""
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                       struct.pack("ii", 1, 0))
            self.connection.close()
        except OSError:
            pass

    # -- main
    def dispatch(self):
        state = self.server.state
        t = time.time()
        try:
            body = self._read_body()
        except (ValueError, OSError):
            self.close_connection = True
            self._send(json_resp(413, gerrors.api_error(413, "Request too large.")))
            return
        req = Req(self.command, self.path, self._headers_dict(), body, t)
        if req.path.startswith("/_fake/"):
            self._send(self._safe(control.handle, state, req))
            return
        endpoint, handler = route(state, self.server.routes, req)
        with state.lock:
            state.endpoint_counts[endpoint] += 1
        rule = state.pick_fault(req.method, req.path, endpoint)
        kind = rule.get("kind", "error") if rule else None
        if kind == "reset" and not rule.get("after"):
            self.server.log.write(req, 0, endpoint, "reset")
            self._reset()
            return
        if kind == "error" and not rule.get("after"):
            resp = fault_response(rule, endpoint)
            note = "random" if rule.get("random") else "error"
        else:
            delay = 0 if endpoint.startswith("gmail.") else state.latency(endpoint)
            if delay:
                time.sleep(delay)  # Gmail calls sleep inside, holding a concurrency slot
            resp = self._safe(handler, state, req)
            note = kind
            if kind == "error":  # "after": the request ran, the answer is an error
                resp = fault_response(rule, endpoint)
        self.server.log.write(req, 0 if kind in ("reset", "hang") else resp.status, endpoint,
                              note)
        if kind == "hang":  # the request ran; no answer until the client gives up
            time.sleep(rule["seconds"])
            self._reset()
            return
        if kind == "reset":
            self._reset()
            return
        self._send(resp, truncate=(kind == "truncate"))

    def _safe(self, fn, state, req):
        try:
            return fn(state, req)
        except Exception:  # never crash: answer Google's 500
            traceback.print_exc(file=sys.stderr)
            return json_resp(500, gerrors.api_error(500))


# ================================================================ server
class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def server_bind(self):
        socketserver.TCPServer.server_bind(self)  # skip HTTPServer's slow getfqdn()
        self.server_name, self.server_port = self.server_address[:2]

    def finish_request(self, request, client_address):
        if isinstance(request, ssl.SSLSocket):
            try:
                request.settimeout(30)
                request.do_handshake()
                request.settimeout(None)
            except (ssl.SSLError, OSError):
                return
        super().finish_request(request, client_address)

    def handle_error(self, request, client_address):
        if self.verbose:
            super().handle_error(request, client_address)


def parse_args(argv):
    p = argparse.ArgumentParser(description="Loopback fake of Google OAuth/Gmail for tests.")
    p.add_argument("--port-file", help="write the bound port here (atomically)")
    p.add_argument("--port", type=int, default=0, help="port to bind (default: random)")
    p.add_argument("--log", help="append one JSON line per request here")
    p.add_argument("--tls-cert")
    p.add_argument("--tls-key")
    p.add_argument("--sa-key", action="append", help="service-account key JSON (repeatable)")
    p.add_argument("--iam-key", help="PEM RSA private key used by IAM signJwt")
    p.add_argument("--mailbox", help="directory of *.eml files for the default user")
    p.add_argument("--quota-regime", choices=["2026", "legacy"], default="2026")
    p.add_argument("--quota-limit", type=int, help="units per user per minute")
    p.add_argument("--token-lifetime", type=int, default=3599)
    p.add_argument("--client", action="append", help="extra OAuth client ID:SECRET")
    p.add_argument("--user", default=DEFAULT_USER, help="default (OAuth) user")
    p.add_argument("--discovery", default=os.path.join(HERE, "gmail.v1.json"))
    p.add_argument("--verbose", action="store_true")
    args = p.parse_args(argv)
    if bool(args.tls_cert) != bool(args.tls_key):
        p.error("--tls-cert and --tls-key go together")
    args.user = args.user.lower()
    return args


def write_port_file(path, port):
    tmp = "%s.tmp.%d" % (path, os.getpid())
    with open(tmp, "w", encoding="ascii") as fh:
        fh.write("%d\n" % port)
    os.replace(tmp, path)


def make_server(args):
    """Load everything and bind; raises OSError/ValueError/KeyError on bad input."""
    with open(args.discovery, encoding="utf-8") as fh:
        discovery = json.load(fh)
    state = State(args, discovery)
    server = Server(("127.0.0.1", args.port), Handler)
    server.state, server.verbose = state, args.verbose
    server.routes = gmail_api.build_routes(discovery)
    server.log = RequestLog(args.log)
    if args.tls_cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(args.tls_cert, args.tls_key)
        server.socket = ctx.wrap_socket(server.socket, server_side=True,
                                        do_handshake_on_connect=False)
        state.scheme = "https"
    state.port = server.server_address[1]
    return server


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        server = make_server(args)
    except (OSError, ValueError, KeyError) as exc:
        sys.stderr.write("fake-google: cannot start: %s: %s\n" % (type(exc).__name__, exc))
        return 2

    def stop(_signum, _frame):
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    if args.port_file:
        write_port_file(args.port_file, server.state.port)
    if args.verbose:
        sys.stderr.write("fake-google: listening on %s://127.0.0.1:%d\n"
                         % (server.state.scheme, server.state.port))
    server.serve_forever(poll_interval=0.2)
    server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
