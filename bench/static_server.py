#!/usr/bin/python3
"""static_server.py - a static file server for the httpdirfs baseline.

`python3 -m http.server` with what a fair comparison needs:

* the same added latency per request as the platform simulator
  (--latency-ms), so httpdirfs pays the round trips apisecfs pays;
* HTTP/1.1 keep-alive and single-range requests (Range: bytes=a-b), which
  httpdirfs uses to read files;
* 127.0.0.1 only, a request counter on GET /_stats, and the first stdout
  line "listening on http://127.0.0.1:PORT".

    static_server.py --root DIR [--latency-ms 20] [--port 0]
"""

import argparse
import http.server
import json
import os
import re
import signal
import sys
import threading
import time

RANGE_RE = re.compile(r"bytes=(\d*)-(\d*)$")


class Handler(http.server.SimpleHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True   # as the simulator: no 40 ms ACK stalls

    def log_message(self, fmt, *args):
        """Quiet: the benchmark reads /_stats instead."""

    def delay(self):
        with self.server.lock:
            self.server.requests += 1
        if self.server.latency_s:
            time.sleep(self.server.latency_s)

    def do_GET(self):
        if self.path == "/_stats":
            body = json.dumps({"requests": self.server.requests}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        self.delay()
        rng = self.headers.get("Range")
        path = self.translate_path(self.path)
        if rng and os.path.isfile(path):
            self.send_range(path, rng)
        else:
            super().do_GET()

    def do_HEAD(self):
        self.delay()
        super().do_HEAD()

    def send_range(self, path, header):
        """Answer one byte range with 206 (or 416 when unsatisfiable)."""
        size = os.path.getsize(path)
        m = RANGE_RE.match(header.strip())
        if not m or (not m.group(1) and not m.group(2)):
            self.send_error(416)
            return
        if m.group(1):
            start = int(m.group(1))
            end = int(m.group(2)) if m.group(2) else size - 1
        else:   # suffix range: the last N bytes
            start = max(0, size - int(m.group(2)))
            end = size - 1
        end = min(end, size - 1)
        if start > end:
            self.send_response(416)
            self.send_header("Content-Range", f"bytes */{size}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        with open(path, "rb") as f:
            f.seek(start)
            data = f.read(end - start + 1)
        self.send_response(206)
        self.send_header("Content-Type", self.guess_type(path))
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def end_headers(self):
        if not self._headers_buffer or b"Accept-Ranges" not in b"".join(self._headers_buffer):
            self.send_header("Accept-Ranges", "bytes")
        super().end_headers()


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request, client_address):
        # A client that hangs up (httpdirfs killed at a time-out) is no error.
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--root", required=True)
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--latency-ms", type=float, default=0.0)
    args = p.parse_args(argv)

    root = os.path.abspath(args.root)

    def handler(*a, **kw):
        return Handler(*a, directory=root, **kw)

    server = Server(("127.0.0.1", args.port), handler)
    server.latency_s = args.latency_ms / 1000.0
    server.requests = 0
    server.lock = threading.Lock()
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(f"listening on http://127.0.0.1:{server.server_address[1]}", flush=True)
    while not stop.wait(1):
        pass
    server.shutdown()
    server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
