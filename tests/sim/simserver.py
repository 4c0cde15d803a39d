"""simserver.py - the simulator's HTTP/1.1 server and request pipeline.

A ThreadingHTTPServer (optionally TLS, handshaking in the worker thread)
whose handler runs every request through the same steps: count it, apply
faults and latency, rate limit, route, authenticate, check the scope,
replay or record Idempotency-Key, call the handler, add ETag / 304, and
write one response with an exact Content-Length (or a deliberately
truncated one).  Every non-2xx carries {"code","message","requestId"}.
"""

import hashlib
import json
import secrets
import socket
import ssl
import struct
import sys
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from simapi import PUBLIC, Reply, Request
from simconv import etag, etag_matches
from simerr import ApiError, bad_request, missing_scope

MAX_BODY = 16 * 1024 * 1024    # a spec upload larger than this is refused
IDLE_TIMEOUT = 120             # seconds a keep-alive connection may sit idle
HANDSHAKE_TIMEOUT = 10


class Dropped(Exception):
    """The connection is to end without a response (down, or shutdown)."""


class SimServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False          # hung requests must not hold up exit
    allow_reuse_address = True
    # socketserver's default listen backlog is 5: a client opening 16
    # connections at once (apisecfs -o max_conns=16) saw some dropped and
    # stalled for a second on TCP's retransmit, which no real platform
    # behind a load balancer does.
    request_queue_size = 128

    def __init__(self, address, api, admin, limiter, idem, latency_ms, ssl_ctx):
        super().__init__(address, Handler)
        self.api, self.admin = api, admin
        self.faults, self.stats = admin.faults, admin.stats
        self.limiter, self.idem = limiter, idem
        self.latency_ms = latency_ms
        self.ssl_ctx = ssl_ctx

    def finish_request(self, request, client_address):
        if not self.ssl_ctx:
            super().finish_request(request, client_address)
            return
        # Wrapping detaches the raw socket, which is all that socketserver
        # closes afterwards, so the TLS socket is closed here.
        request.settimeout(HANDSHAKE_TIMEOUT)
        try:
            tls = self.ssl_ctx.wrap_socket(request, server_side=True)
        except OSError:
            return
        try:
            super().finish_request(tls, client_address)
        finally:
            tls.close()

    def handle_error(self, request, client_address):
        # Clients that hang up (timeouts, truncation tests) are not errors.
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError,
                                              ssl.SSLError)):
            super().handle_error(request, client_address)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "apisec-platform-sim/1.0"
    sys_version = ""
    disable_nagle_algorithm = True
    timeout = IDLE_TIMEOUT
    state_time = None       # the instant this answer's Date shows, when set

    def log_message(self, fmt, *args):
        """Quiet: /_sim/stats is the request log."""

    def send_error(self, code, message=None, explain=None):
        """Malformed requests and unknown methods, in the contract's shape."""
        if code == 501:
            err = ApiError(405, "method_not_allowed", message or "unsupported method")
        else:
            err = ApiError(code, "bad_request", message or "malformed request")
        rid = "req_" + secrets.token_hex(8)
        self.close_connection = True
        self.write(self.error_reply(err, rid), rid)

    def do_GET(self):
        self.dispatch()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_GET

    # -- request ----------------------------------------------------------------

    def read_body(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks, size = [], 0
            while True:
                n = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if n == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                size += n
                if size > MAX_BODY:
                    raise ValueError("body too large")
                chunks.append(self.rfile.read(n))
                self.rfile.readline()
        n = int(self.headers.get("Content-Length") or 0)
        if not 0 <= n <= MAX_BODY:
            raise ValueError("bad Content-Length")
        return self.rfile.read(n)

    def dispatch(self):
        rid = "req_" + secrets.token_hex(8)
        url = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(url.query, keep_blank_values=True))
        try:
            body = self.read_body()
        except ValueError as exc:
            self.close_connection = True
            self.write(self.error_reply(bad_request(str(exc)), rid), rid)
            return
        req = Request(self.command, url.path, query, self.headers, body,
                      self.client_address[0])
        if url.path.startswith("/_sim"):
            self.write(self.admin(req, rid), rid)
            return
        route, params, key = self.server.api.match(self.command, url.path)
        inm = self.headers.get("If-None-Match")
        entry = self.server.stats.arrive(self.command, key, url.path, url.query,
                                         bool(inm), self.headers.get("Idempotency-Key"))
        try:
            faults = self.network_faults(url.path)
            reply = self.process(req, route, params, rid)
        except Dropped:
            self.drop()
            return
        if self.command == "GET" and reply.status == 200:
            reply.headers["ETag"] = tag = etag(reply.body)
            if etag_matches(inm, tag):
                reply = Reply(304, headers=dict(reply.headers))
        self.server.stats.answered(entry, reply.status)
        pad = faults.get("pad_bytes", 0)
        if pad and reply.body and reply.ctype == "application/json":
            # Trailing whitespace: still valid JSON, only bigger.
            reply = Reply(reply.status, reply.body + b" " * pad,
                          reply.ctype, reply.headers)
        self.write(reply, rid, truncate=self.server.faults.cut_body(faults))

    def admin(self, req, rid):
        try:
            status, obj = self.server.admin.handle(req.method, req.path, req.json())
        except ApiError as err:
            return self.error_reply(err, rid)
        if obj is None:
            return Reply(status)
        return Reply(status, json.dumps(obj, ensure_ascii=False).encode())

    def network_faults(self, path):
        """Apply down / hang / latency; returns the fault set in force."""
        faults = self.server.faults
        cfg = faults.active(path)
        if cfg.get("down"):
            raise Dropped
        if cfg.get("hang"):
            if faults.wait_unhung(path):
                raise Dropped
            cfg = faults.active(path)
        delay = self.server.latency_ms + cfg.get("latency_ms", 0)
        if delay:
            time.sleep(delay / 1000.0)
        return cfg

    def process(self, req, route, params, rid):
        """Rate limit, injected errors, routing, auth, scope, handler."""
        srv = self.server
        limit_headers = {}
        # The Date header shows this instant, taken before the scans are
        # brought up to it: whatever this answer does not show changed at
        # or after its Date, so updatedSince=<Date> loses nothing.
        self.state_time = time.time()
        srv.api.store.advance()
        try:
            auth_header = self.headers.get("Authorization")
            key = ("auth:" + hashlib.sha256(auth_header.encode()).hexdigest()[:24]
                   if auth_header else "addr:" + req.address)
            limit_headers = srv.limiter.hit(key)
            srv.faults.check_errors(req.path)
            if route is None:
                raise srv.api.unrouted(req.method, req.path)
            req.params = params
            if route.scope != PUBLIC:
                req.principal = srv.api.auth.authenticate(auth_header, req.address)
                if route.scope and route.scope not in req.principal.scopes:
                    raise missing_scope(route.scope)
            idem_key = self.headers.get("Idempotency-Key")
            if req.method == "POST" and idem_key and req.principal:
                reply = srv.idem.run(req.principal.ident, idem_key,
                                     lambda: self.call(route, req, rid))
            else:
                reply = self.call(route, req, rid)
        except ApiError as err:
            reply = self.error_reply(err, rid)
        reply = Reply(reply.status, reply.body, reply.ctype,
                      dict(reply.headers, **limit_headers))
        return reply

    def call(self, route, req, rid):
        try:
            return route.handler(self.server.api, req)
        except ApiError as err:
            return self.error_reply(err, rid)

    # -- response -----------------------------------------------------------------

    @staticmethod
    def error_reply(err, rid):
        body = {"code": err.code, "message": err.message, "requestId": rid}
        return Reply(err.status, json.dumps(body, ensure_ascii=False).encode(),
                     headers=dict(err.headers))

    def write(self, reply, rid, truncate=False):
        """One response; truncate sends half the body under the full
        Content-Length and then closes the connection.  Every response has
        a Date (clients estimate clock skew from it)."""
        body = b"" if self.command == "HEAD" else reply.body
        head = [f"HTTP/1.1 {reply.status} {self.responses.get(reply.status, ('',))[0]}",
                f"Server: {self.server_version}",
                f"Date: {self.date_time_string(self.state_time)}",
                f"Content-Length: {len(reply.body)}",
                f"X-Request-Id: {rid}"]
        if reply.body:
            head.append(f"Content-Type: {reply.ctype}; charset=utf-8")
        head += [f"{k}: {v}" for k, v in reply.headers.items()]
        if truncate:
            body = body[:len(body) // 2]
            self.close_connection = True
        if self.close_connection:
            head.append("Connection: close")
        self.wfile.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)
        self.state_time = None
        self.wfile.flush()

    def drop(self):
        """Reset the connection without answering (RST, not FIN)."""
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                       struct.pack("ii", 1, 0))
        except OSError:
            pass
