"""test_fs_hardening_sec.py - issue 16's security items: trusted config
and credential files (owner, mode, type), secrets and URLs that cannot
smuggle anything, token_cmd's descriptors, and foreign text that cannot
forge a log line or an endpoints line.

Run as root, as the filesystem tests are; the ownership rules are also
checked as an unprivileged user (nobody), since root passes every
permission check and a root-only test would not see what they see."""

import errno
import http.server
import json
import os
import re
import shutil
import subprocess
import tempfile
import threading

import pytest

from fsutil import BIN, Mount, Sim, is_mounted, run_apisecfs, write_secret

NOBODY = 65534
OTHER_UID = 4242  # a user that is neither root nor the caller


@pytest.fixture(scope="module")
def sim():
    with Sim(apps=10, vulns=40, scan_seconds=1) as s:
        yield s


@pytest.fixture
def pub():
    """A directory every user may enter (tmp_path is root's only)."""
    d = tempfile.mkdtemp(prefix="apisecfs-sec-")
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def refused(args, env=None, **kw):
    """Run apisecfs to its exit; it must fail with one line on stderr.
    The timeout only turns a hang (the bug) into a failure."""
    try:
        r = run(args, env=env, **kw)
    finally:
        mnt = args[-1]
        if is_mounted(mnt):  # an old build may have mounted: clean up
            subprocess.run(["fusermount3", "-u", mnt])
    assert r.returncode != 0, "mounted: " + r.stderr
    lines = [x for x in r.stderr.splitlines() if x.strip()]
    assert len(lines) == 1, r.stderr
    return r.returncode, lines[0]


def run(args, env=None, user=None, timeout=30):
    if user is None:
        return run_apisecfs(args, env=env, timeout=timeout)
    run_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
               "HOME": "/nonexistent"}
    run_env.update(env or {})
    return subprocess.run([BIN] + list(args), capture_output=True,
                          text=True, env=run_env, timeout=timeout,
                          user=user, group=user, extra_groups=[])


def mountpoint(base):
    mnt = os.path.join(base, "mnt")
    os.makedirs(mnt, exist_ok=True)
    return mnt


def owned(path, uid, mode):
    os.chown(path, uid, uid)
    os.chmod(path, mode)
    return path


# ---- a platform that answers with hostile text -------------------------

class Hostile:
    """A tiny platform that answers GET /v1/me with scopes (or, with
    me_status, an error) and every other request with error_body. It keeps
    the headers of each request it got."""

    ME = {"tenantId": "t", "tenantName": "T", "subject": "s", "userId": "u",
          "authType": "api_token", "tokenId": None, "expiresAt": None,
          "scopes": ["apps:read", "scans:read", "scans:write",
                     "vulns:read"]}

    def __init__(self, error_body, me_status=200, status=400, token=None):
        self.seen = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def answer(self, st, body):
                data = json.dumps(body).encode()
                self.send_response(st)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                outer.seen.append(dict(self.headers))
                if self.path.startswith("/v1/me") and me_status == 200:
                    self.answer(200, outer.ME)
                else:
                    self.answer(me_status if self.path.startswith("/v1/me")
                                else status, error_body)

            def do_POST(self):
                outer.seen.append(dict(self.headers))
                n = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(n)
                self.answer(200, {"access_token": token,
                                  "token": token, "expires_in": 3600})

        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.srv.daemon_threads = True
        self.url = "http://127.0.0.1:%d" % self.srv.server_address[1]
        self.thread = threading.Thread(target=self.srv.serve_forever,
                                       daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.srv.shutdown()
        self.srv.server_close()


FORGED = {"code": "bad_request\napisecfs: error: forged\x1b[2J",
          "message": "no\r\napisecfs: error: forged too\x1b]0;pwned\x07",
          "requestId": "req\x1b[31m\nforged\xff"}


def assert_no_raw_control(text):
    for line in text.splitlines():
        assert not line.startswith("apisecfs: error: forged"), text
    for c in "\x1b\x07\r":
        assert c not in text, repr(text)


# ---- item 7: log injection ----------------------------------------------

def test_platform_error_text_is_escaped_in_the_log(pub):
    with Hostile(FORGED) as h:
        with Mount(h.url, token="ask_" + "x" * 40,
                   options=["retries=0"]) as m:
            with pytest.raises(OSError):
                os.listdir(m.path("apps"))
            log = m.umount()
    assert_no_raw_control(log)
    assert "\\napisecfs: error: forged\\x1b[2J" in log, log
    assert "req\\x1b[31m\\nforged" in log, log


def test_platform_error_text_is_escaped_before_daemonizing(pub):
    mnt = mountpoint(pub)
    tok = write_secret(pub, "tok", "ask_" + "y" * 40)
    for me_status in (401, 403, 500):
        with Hostile(FORGED, me_status=me_status) as h:
            r = run(["-o", "token_file=%s,retries=0" % tok, h.url, mnt])
        assert r.returncode in (2, 3), r.stderr
        assert_no_raw_control(r.stderr)
        assert len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_control_file_input_is_not_logged(sim):
    typed = "ask_" + "Q" * 40
    with Mount(sim.url, token=sim.creds["admin_token"]) as m:
        for path, text in (("scans/new", typed + "\n"),
                           ("tokens/new", json.dumps(
                               {"name": "n", "scopes": [typed]}))):
            with pytest.raises(OSError) as e:
                with open(m.path(*path.split("/")), "w") as f:
                    f.write(text)
            assert e.value.errno in (errno.ENOENT, errno.EACCES,
                                     errno.EINVAL)
        log = m.umount()
    assert typed not in log and "Q" * 20 not in log, log
    assert "scans/new: no application by that name" in log


# ---- item 8: the endpoints file cannot be forged -------------------------

def test_endpoints_escape_control_characters(sim):
    admin = sim.creds["admin_token"]
    _, _, apps = sim.request("GET", "/v1/applications?limit=500",
                             token=admin)
    app = next(a for a in apps["items"] if a["applicationName"] == "payments-api")
    inst = app["instances"][0]["instanceId"]
    paths = ["/a\nDELETE /injected", "/b\tc", "/e\x1b[31mred",
             "/back\\slash", "/caf\u00e9", "/c1\u009b2J", "/cr\rx"]
    spec = {"openapi": "3.0.3", "info": {"title": "t", "version": "1"},
            "paths": {p: {"get": {"responses": {"200": {
                "description": "ok"}}}} for p in paths}}
    st, _, _ = sim.request("PUT", "/v1/applications/%s/instances/%s/spec"
                           % (app["applicationId"], inst), token=admin,
                           body=json.dumps(spec),
                           headers={"Content-Type": "application/json"})
    assert st == 200
    with Mount(sim.url, token=admin) as m:
        raw = open(m.path("apps", "payments-api", "endpoints"), "rb").read()
        m.umount()
    text = raw.decode("utf-8")
    lines = text.splitlines()
    assert len(lines) == len(paths) and text.endswith("\n")
    assert "DELETE /injected" not in lines
    for c in "\x1b\t\r\u009b":
        assert c not in text
    for want in ("GET /a\\nDELETE /injected", "GET /b\\tc",
                 "GET /e\\x1b[31mred", "GET /back\\\\slash", "GET /caf\u00e9",
                 "GET /c1\\xc2\\x9b2J", "GET /cr\\rx"):
        assert want in lines, lines
