"""simctl.py - start, drive and stop the platform simulator from tests.

    with Sim(vulns=1234, scan_seconds=1) as sim:
        status, headers, data = sim.request("GET", "/v1/me",
                                            token=sim.creds["admin_token"])
        assert sim.route_count("GET /v1/me") == 1

The filesystem's tests and the simulator's own tests import this module;
its API is a contract between them (see tests/sim/README.md).
"""

import http.client
import json
import os
import select
import signal
import ssl
import subprocess
import tempfile
import time
import urllib.parse

SIM = os.path.join(os.path.dirname(os.path.abspath(__file__)), "platform_sim.py")
PYTHON = "/usr/bin/python3"
START_TIMEOUT = 30
STOP_TIMEOUT = 10
REQUEST_TIMEOUT = 30


class Sim:
    def __init__(self, apps=10, vulns=200, seed=1, scan_seconds=3, latency_ms=0,
                 rate_limit=0, tls=False, token_ttl=None, extra_args=(),
                 rate_window=60):
        self.args = ["--apps", str(apps), "--vulns", str(vulns), "--seed", str(seed),
                     "--scan-seconds", str(scan_seconds), "--latency-ms", str(latency_ms),
                     "--rate-limit", str(rate_limit),
                     "--rate-window", str(rate_window)]
        if tls:
            self.args.append("--tls")
        if token_ttl is not None:
            self.args += ["--token-ttl", str(token_ttl)]
        self.args += list(extra_args)
        self.proc = None
        self.tmpdir = None
        self.url = None
        self.creds = None
        self.creds_path = None
        self.ssl_ctx = None

    # -- lifecycle ----------------------------------------------------------------

    def start(self):
        self.tmpdir = tempfile.TemporaryDirectory(prefix="apisec-sim-")
        self.creds_path = os.path.join(self.tmpdir.name, "credentials.json")
        cmd = [PYTHON, SIM, "--port", "0"] + self.args + \
              ["--write-credentials", self.creds_path]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        line = self.read_line(START_TIMEOUT)
        if not line.startswith("listening on "):
            self.stop()
            raise RuntimeError(f"simulator did not start: {line!r}")
        self.url = line.split(" ", 2)[2].strip()
        with open(self.creds_path) as f:
            self.creds = json.load(f)
        if self.creds["ca_file"]:
            self.ssl_ctx = ssl.create_default_context(cafile=self.creds["ca_file"])
        return self

    def read_line(self, timeout):
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not ready:
            return ""
        return self.proc.stdout.readline()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc:
            self.proc.stdout.close()
        if self.tmpdir:
            self.tmpdir.cleanup()
            self.tmpdir = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # -- requests -----------------------------------------------------------------

    def connection(self, timeout=REQUEST_TIMEOUT):
        parts = urllib.parse.urlsplit(self.url)
        if parts.scheme == "https":
            return http.client.HTTPSConnection(parts.hostname, parts.port,
                                               timeout=timeout, context=self.ssl_ctx)
        return http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)

    def request(self, method, path, token=None, body=None, headers=None, form=None,
                timeout=REQUEST_TIMEOUT):
        """(status, lower-cased headers, data): data is the parsed JSON when
        the body is JSON, else the raw bytes, '' when empty."""
        hdrs = dict(headers or {})
        if token is not None:
            hdrs["Authorization"] = f"Bearer {token}"
        payload = None
        if form is not None:
            payload = urllib.parse.urlencode(form).encode()
            hdrs.setdefault("Content-Type", "application/x-www-form-urlencoded")
        elif isinstance(body, (dict, list)):
            payload = json.dumps(body).encode()
            hdrs.setdefault("Content-Type", "application/json")
        elif isinstance(body, str):
            payload = body.encode()
        elif body is not None:
            payload = body
        conn = self.connection(timeout)
        try:
            conn.request(method, path, body=payload, headers=hdrs)
            resp = conn.getresponse()
            raw = resp.read()
            resp_headers = {k.lower(): v for k, v in resp.getheaders()}
            status = resp.status
        finally:
            conn.close()
        return status, resp_headers, decode(raw, resp_headers.get("content-type", ""))

    def admin(self, method, path, body=None):
        status, _, data = self.request(method, path, body=body)
        if status >= 300:
            raise RuntimeError(f"{method} {path} -> {status} {data}")
        return data

    def stats(self):
        return self.admin("GET", "/_sim/stats")

    def reset_stats(self):
        self.admin("POST", "/_sim/stats/reset")

    def route_count(self, key):
        return self.stats()["routes"].get(key, 0)

    def set_faults(self, **kw):
        return self.admin("POST", "/_sim/faults", kw)

    def clear_faults(self):
        self.admin("DELETE", "/_sim/faults")

    def mint_token(self, scopes, **kw):
        return self.admin("POST", "/_sim/tokens", dict(kw, scopes=list(scopes)))["token"]

    def next_scan_id(self, scan_id):
        return self.admin("POST", "/_sim/next-scan-id", {"scanId": scan_id})

    def revoke_sessions(self):
        return self.admin("POST", "/_sim/revoke-sessions")

    def wait_scan(self, scan_id, token, timeout=30):
        """Poll a scan until it leaves Queued/Running; returns its JSON."""
        deadline = time.monotonic() + timeout
        while True:
            _, _, scan = self.request("GET", f"/v1/scans/{scan_id}", token=token)
            if scan["status"] not in ("Queued", "Running") or time.monotonic() > deadline:
                return scan
            time.sleep(0.1)


def decode(raw, content_type):
    if not raw:
        return ""
    if "json" in content_type:
        try:
            return json.loads(raw)
        except ValueError:
            return raw
    return raw
