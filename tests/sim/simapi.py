"""simapi.py - the contract's routes: what each /v1, /oauth2 and /auth call does.

A route is (method, template, scope, handler).  The template names every
path parameter ``{id}``, which is also the key /_sim/stats counts under.
Handlers take the Api (store + auth) and a Request and return a Reply; the
server does authentication, scope checks, idempotency, ETags and errors
around them.
"""

import base64
import binascii
import json
import re
import urllib.parse
from dataclasses import dataclass, field

import simreport
from simconv import paginate
from simerr import ApiError, bad_request, not_found

PUBLIC = "public"   # scope marker: no credential needed


@dataclass
class Request:
    method: str
    path: str
    query: dict
    headers: object          # email.message.Message from http.server
    body: bytes
    address: str
    params: tuple = ()
    principal: object = None

    def text(self):
        try:
            return self.body.decode("utf-8")
        except UnicodeDecodeError:
            raise bad_request("body is not UTF-8") from None

    def json(self):
        """The body as a JSON object ({} when empty)."""
        if not self.body.strip():
            return {}
        try:
            obj = json.loads(self.text())
        except ValueError as exc:
            raise bad_request(f"body is not valid JSON: {exc}") from None
        if not isinstance(obj, dict):
            raise bad_request("body must be a JSON object")
        return obj

    def form(self):
        return dict(urllib.parse.parse_qsl(self.text(), keep_blank_values=True))


@dataclass
class Reply:
    status: int
    body: bytes = b""
    ctype: str = "application/json"
    headers: dict = field(default_factory=dict)


def wire(text):
    """Text to answer bytes. Lone surrogates U+DC80..U+DCFF become the raw
    bytes 0x80..0xFF (invalid UTF-8): only text planted through
    /_sim/vuln-text holds them."""
    return text.encode("utf-8", "surrogateescape")


def json_reply(status, obj):
    return Reply(status, wire(json.dumps(obj, ensure_ascii=False)))


def page_reply(texts, token):
    """A list page from already-serialized items."""
    body = '{"items":[' + ",".join(texts) + '],"nextToken":' + json.dumps(token) + "}"
    return Reply(200, wire(body))


def page_of(req, items):
    """Page a list of JSON-able objects, serializing only that page."""
    page, token = paginate(items, req.path, req.query)
    return page_reply([json.dumps(x, ensure_ascii=False) for x in page], token)


@dataclass
class Route:
    method: str
    template: str
    scope: str
    handler: object
    regex: re.Pattern


ROUTES = []


def route(method, template, scope=None):
    """Register a handler; scope None means any valid credential."""
    pattern = "^" + re.escape(template).replace(r"\{id\}", "([^/]+)") + "$"

    def register(fn):
        ROUTES.append(Route(method, template, scope, fn, re.compile(pattern)))
        return fn
    return register


class Api:
    def __init__(self, store, auth):
        self.store, self.auth = store, auth

    @staticmethod
    def match(method, path):
        """(route, path parameters, stats key); route is None when nothing
        matches, and then the key is the literal path."""
        for r in ROUTES:
            m = r.regex.match(path)
            if m and r.method == method:
                return r, m.groups(), f"{method} {r.template}"
        return None, (), f"{method} {path}"

    @staticmethod
    def unrouted(method, path):
        """The 405 (with Allow) or 404 for a request no route takes."""
        allowed = [r.method for r in ROUTES if r.regex.match(path)]
        if allowed:
            return ApiError(405, "method_not_allowed", f"{method} not allowed on {path}",
                            {"Allow": ", ".join(allowed)})
        return ApiError(404, "not_found", f"no such route {path}")


# -- identity and sessions ---------------------------------------------------

def basic_credentials(header):
    """(client_id, client_secret) from an HTTP Basic header, else None."""
    scheme, _, value = (header or "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        raw = base64.b64decode(value.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise bad_request("malformed Basic credentials") from None
    cid, _, secret = raw.partition(":")
    return urllib.parse.unquote_plus(cid), urllib.parse.unquote_plus(secret)


@route("POST", "/oauth2/token", PUBLIC)
def oauth_token(api, req):
    reply = json_reply(200, api.auth.oauth_token(
        req.form(), basic_credentials(req.headers.get("Authorization"))))
    reply.headers["Cache-Control"] = "no-store"
    return reply


@route("POST", "/auth/login", PUBLIC)
def login(api, req):
    return json_reply(200, api.auth.login(req.json()))


@route("GET", "/v1/me")
def me(api, req):
    return json_reply(200, api.auth.me(req.principal))


# -- applications --------------------------------------------------------------

@route("GET", "/v1/applications", "apps:read")
def list_apps(api, req):
    return page_of(req, api.store.list_apps())


@route("POST", "/v1/applications", "apps:write")
def create_app(api, req):
    return json_reply(201, api.store.create_app(req.json()))


@route("GET", "/v1/applications/{id}", "apps:read")
def get_app(api, req):
    return json_reply(200, api.store.get_app(req.params[0]))


@route("DELETE", "/v1/applications/{id}", "apps:delete")
def delete_app(api, req):
    api.store.delete_app(req.params[0])
    return Reply(204)


@route("GET", "/v1/applications/{id}/instances/{id}/endpoints", "apps:read")
def endpoints(api, req):
    return page_of(req, api.store.endpoints(*req.params))


@route("GET", "/v1/applications/{id}/instances/{id}/spec", "apps:read")
def get_spec(api, req):
    ctype, text = api.store.get_spec(*req.params)
    return Reply(200, text.encode(), ctype)


@route("PUT", "/v1/applications/{id}/instances/{id}/spec", "apps:write")
def put_spec(api, req):
    return json_reply(200, api.store.put_spec(*req.params, req.text()))


# -- scans and reports --------------------------------------------------------

@route("POST", "/v1/applications/{id}/instances/{id}/scans", "scans:write")
def start_scan(api, req):
    return json_reply(202, api.store.start_scan(*req.params, req.json()))


@route("GET", "/v1/scans", "scans:read")
def list_scans(api, req):
    q = req.query
    return page_of(req, api.store.list_scans(q.get("applicationId"), q.get("status"),
                                             q.get("updatedSince")))


@route("GET", "/v1/scans/{id}", "scans:read")
def get_scan(api, req):
    return json_reply(200, api.store.get_scan(req.params[0]))


@route("POST", "/v1/scans/{id}/cancel", "scans:write")
def cancel_scan(api, req):
    return json_reply(202, api.store.cancel_scan(req.params[0]))


@route("GET", "/v1/scans/{id}/report", "reports:read")
def report(api, req):
    fmt = req.query.get("format", "json")
    render = {"json": simreport.json_report, "sarif": simreport.sarif_report}.get(fmt)
    if render is None:
        raise bad_request("format must be json or sarif")
    reply = json_reply(200, render(*api.store.scan_findings(req.params[0])))
    if fmt == "sarif":
        reply.ctype = "application/sarif+json"
    return reply


# -- vulnerabilities -----------------------------------------------------------

@route("GET", "/v1/vulnerabilities", "vulns:read")
def list_vulns(api, req):
    q = req.query
    ids = api.store.vuln_ids(q.get("applicationId"), q.get("scanId"),
                             q.get("severity"), q.get("status"), q.get("updatedSince"))
    page, token = paginate(ids, req.path, q)
    return page_reply(api.store.vuln_texts(page), token)


@route("GET", "/v1/vulnerabilities/{id}", "vulns:read")
def get_vuln(api, req):
    return Reply(200, wire(api.store.get_vuln(req.params[0])))


@route("PATCH", "/v1/vulnerabilities/{id}", "vulns:write")
def patch_vuln(api, req):
    return json_reply(200, api.store.patch_vuln(req.params[0], req.json()))


# -- teams and tokens ----------------------------------------------------------

@route("GET", "/v1/teams", "teams:read")
def list_teams(api, req):
    return page_of(req, api.store.list_teams())


@route("GET", "/v1/teams/{id}", "teams:read")
def get_team(api, req):
    return json_reply(200, api.store.get_team(req.params[0]))


@route("GET", "/v1/tokens", "tokens:read")
def list_tokens(api, req):
    return page_of(req, api.auth.list_tokens())


@route("POST", "/v1/tokens", "tokens:write")
def create_token(api, req):
    return json_reply(201, api.auth.create_token_request(req.principal, req.json()))


@route("GET", "/v1/tokens/{id}", "tokens:read")
def get_token(api, req):
    tok = api.auth.get_token(req.params[0])
    if tok is None:
        raise not_found("token", req.params[0])
    return json_reply(200, tok)


@route("DELETE", "/v1/tokens/{id}", "tokens:delete")
def delete_token(api, req):
    if not api.auth.delete_token(req.params[0]):
        raise not_found("token", req.params[0])
    return Reply(204)
