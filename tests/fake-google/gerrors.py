# Google-shaped error bodies (API v1 JSON errors, OAuth errors, HTML pages) for fake-google.
import datetime
import json

STATUS_NAMES = {
    400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED",
    404: "NOT_FOUND", 409: "ABORTED", 412: "FAILED_PRECONDITION", 413: "OUT_OF_RANGE",
    429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 501: "UNIMPLEMENTED",
    502: "UNAVAILABLE", 503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED",
}

# Default (message, reason, domain) per HTTP status, as Google's front ends answer them.
DEFAULTS = {
    400: ("Bad Request", "badRequest", "global"),
    401: ("Request had invalid authentication credentials. Expected OAuth 2 access token, "
          "login cookie or other valid authentication credential. See "
          "https://developers.google.com/identity/sign-in/web/devconsole-project.",
          "authError", "global"),
    403: ("The caller does not have permission", "forbidden", "global"),
    404: ("Requested entity was not found.", "notFound", "global"),
    409: ("Requested entity already exists", "duplicate", "global"),
    429: ("User-rate limit exceeded.", "rateLimitExceeded", "usageLimits"),
    500: ("Internal error encountered.", "backendError", "global"),
    501: ("Operation is not implemented, or supported, or enabled.", "notImplemented", "global"),
    502: ("Bad Gateway", "backendError", "global"),
    503: ("The service is currently unavailable.", "backendError", "global"),
    504: ("Deadline expired before operation could complete.", "backendError", "global"),
}

RATE_REASONS = {"rateLimitExceeded", "userRateLimitExceeded", "dailyLimitExceeded",
                "quotaExceeded", "concurrentLimitExceeded"}

UNAUTH_MESSAGE = DEFAULTS[401][0]
JSON_TYPE = "application/json; charset=UTF-8"


def dumps(obj):
    """Google pretty-prints its JSON answers with two-space indentation."""
    return (json.dumps(obj, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def api_error(code, message=None, reason=None, domain=None, status=None, **extra):
    """The {"error": {...}} body of Google's JSON APIs (Gmail, IAM)."""
    d_msg, d_reason, d_domain = DEFAULTS.get(code, ("Error", "backendError", "global"))
    message = d_msg if message is None else message
    reason = reason or d_reason
    if domain is None:
        domain = "usageLimits" if reason in RATE_REASONS else d_domain
    item = {"message": message, "domain": domain, "reason": reason}
    item.update(extra)
    return {"error": {"code": code, "message": message, "errors": [item],
                      "status": status or STATUS_NAMES.get(code, "UNKNOWN")}}


def unauthenticated():
    body = api_error(401, UNAUTH_MESSAGE, "authError", "global", None,
                     location="Authorization", locationType="header")
    body["error"]["errors"][0]["message"] = "Invalid Credentials"
    return body


def invalid_argument(message):
    return api_error(400, message, "invalidArgument", "global", "INVALID_ARGUMENT")


def not_found():
    return api_error(404)


def oauth_error(error, description):
    return {"error": error, "error_description": description}


def rfc3339_ms(ts):
    """2026-11-21T10:00:05.123Z"""
    dt = datetime.datetime.fromtimestamp(ts, datetime.timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (dt.microsecond // 1000)


def html_error_page(code, error, detail):
    """Accounts-style error page ("Error 400: redirect_uri_mismatch")."""
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<title>Error %d: %s</title></head><body>\n"
            "<h1>Access blocked: authorisation error</h1>\n"
            "<p>%s</p>\n<p>Error %d: %s</p>\n</body></html>\n"
            % (code, error, detail, code, error)).encode("utf-8")


def gfe_error_page(code):
    """The Google front end's HTML page (used for 502 and unknown URLs)."""
    texts = {
        404: "The requested URL was not found on this server.",
        502: "The server encountered a temporary error and could not complete your "
             "request.<p>Please try again in 30 seconds.",
    }
    title = {404: "Not Found", 502: "Server Error"}.get(code, "Error")
    return ("<!DOCTYPE html>\n<html lang=en>\n<meta charset=utf-8>\n"
            "<title>Error %d (%s)!!1</title>\n<p><b>%d.</b> <ins>That\u2019s an error.</ins>\n"
            "<p>%s  <ins>That\u2019s all we know.</ins>\n"
            % (code, title, code, texts.get(code, "Error."))).encode("utf-8")
