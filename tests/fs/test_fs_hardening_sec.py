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

from fsutil import (BIN, Mount, is_mounted, revoke_token, run_apisecfs,
                    write_secret)

NOBODY = 65534
OTHER_UID = 4242  # a user that is neither root nor the caller
SIM = dict(apps=10, vulns=40)


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


# ---- item 4: config and credential files must be the user's ------------

def test_config_file_of_another_user_is_refused(sim, pub):
    """A profile whose token_cmd root would run, in a config file that
    another user owns or may write: refused, and the command never runs."""
    mnt = mountpoint(pub)
    marker = os.path.join(pub, "ran")
    tok = owned(write_secret(pub, "tok", sim.creds["readonly_token"]), 0,
                0o600)
    text = ("[p]\nurl = %s\ntoken_cmd = touch %s; cat %s\n"
            % (sim.url, marker, tok))
    cfg = os.path.join(pub, "config")
    with open(cfg, "w") as f:
        f.write(text)
    for uid, mode, why in ((NOBODY, 0o644, "belongs to uid 65534"),
                           (NOBODY, 0o600, "belongs to uid 65534"),
                           (0, 0o666, "writable by group or others"),
                           (0, 0o620, "writable by group or others")):
        owned(cfg, uid, mode)
        rc, msg = refused(["-o", "config=%s,profile=p" % cfg, mnt])
        assert rc == 2 and why in msg and cfg in msg, msg
        assert not os.path.exists(marker), "token_cmd ran"


def test_credential_files_of_another_user_are_refused(sim, pub):
    mnt = mountpoint(pub)
    marker = os.path.join(pub, "ran")
    tok = write_secret(pub, "tok", sim.creds["readonly_token"])
    creds = write_secret(pub, "creds", "token_cmd = touch %s; cat %s"
                         % (marker, tok))
    for path, opt in ((creds, "credentials="), (tok, "token_file=")):
        for uid, mode in ((NOBODY, 0o600), (NOBODY, 0o666), (0, 0o666)):
            owned(path, uid, mode)
            rc, msg = refused(["-o", opt + path, sim.url, mnt])
            assert rc == 2 and path in msg, msg
            assert ("belongs to uid 65534" if uid else "chmod 600") in msg
        owned(path, 0, 0o600)
    assert not os.path.exists(marker), "token_cmd ran"
    # A token_file named inside a credentials file gets the same checks.
    creds2 = owned(write_secret(pub, "creds2", "token_file = " + tok), 0,
                   0o600)
    owned(tok, NOBODY, 0o600)
    rc, msg = refused(["-o", "credentials=" + creds2, sim.url, mnt])
    assert rc == 2 and tok in msg and "belongs to uid 65534" in msg


def test_ownership_rules_as_an_unprivileged_user(sim, pub):
    """As nobody: a root-owned file is trusted if no one else may write
    it; a third user's file, or one others may write, is refused."""
    mnt = mountpoint(pub)
    os.chown(mnt, NOBODY, NOBODY)
    tok = owned(write_secret(pub, "tok", sim.creds["readonly_token"]),
                NOBODY, 0o600)
    cfg = os.path.join(pub, "config")
    with open(cfg, "w") as f:
        f.write("[p]\nurl = http://127.0.0.1:1\ntoken_file = %s\n" % tok)
    args = ["-o", "config=%s,profile=p" % cfg, mnt]
    # Trusted (root's, or the caller's, not writable by others): the
    # mount goes on to the platform, which is not there (exit 3).
    for uid in (0, NOBODY):
        owned(cfg, uid, 0o644)
        r = run(args, user=NOBODY)
        assert r.returncode == 3 and "cannot reach" in r.stderr, r.stderr
    for uid, mode, why in ((OTHER_UID, 0o644, "belongs to uid 4242"),
                           (NOBODY, 0o666, "writable by group or others"),
                           (0, 0o646, "writable by group or others")):
        owned(cfg, uid, mode)
        r = run(args, user=NOBODY)
        lines = r.stderr.strip().splitlines()
        assert r.returncode == 2 and len(lines) == 1, r.stderr
        assert why in lines[0], r.stderr
    owned(cfg, NOBODY, 0o644)
    owned(tok, OTHER_UID, 0o600)
    os.chmod(tok, 0o644)  # readable, so only the owner rule can refuse it
    r = run(args, user=NOBODY)
    assert r.returncode == 2 and "belongs to uid 4242" in r.stderr, r.stderr


# ---- item 17: what is not a regular file is refused at once --------------

def test_fifo_or_device_as_token_file_or_config_is_refused(sim, pub):
    mnt = mountpoint(pub)
    fifo = os.path.join(pub, "fifo")
    os.mkfifo(fifo, 0o600)
    for opt in ("token_file=", "credentials=", "client_id=c,"
                "client_secret_file=", "username=u,password_file="):
        rc, msg = refused(["-o", opt + fifo, sim.url, mnt])
        assert rc == 2 and "not a regular file" in msg and fifo in msg
    os.chmod(fifo, 0o644)
    rc, msg = refused(["-o", "config=%s,profile=p" % fifo, mnt])
    assert rc == 2 and "not a regular file" in msg
    rc, msg = refused(["-o", "token_file=/dev/zero", sim.url, mnt])
    assert rc == 2 and "not a regular file" in msg
    rc, msg = refused(["-o", "token_file=" + pub, sim.url, mnt])
    assert rc == 2 and "not a regular file" in msg


def test_symlinked_token_file_still_works(sim, pub):
    """Refusing links would break systemd credentials and secret agents:
    the link is followed, and its target checked."""
    tok = write_secret(pub, "tok", sim.creds["readonly_token"])
    link = os.path.join(pub, "link")
    os.symlink(tok, link)
    with Mount(sim.url, token_file=link) as m:
        assert "payments-api" in os.listdir(m.path("apps"))
        m.umount()


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


# ---- item 9: secrets with control characters ----------------------------

def test_secret_with_control_characters_is_refused(pub):
    mnt = mountpoint(pub)
    evil = "ask_" + "z" * 40 + "\r\nX-Evil: injected"
    tok = write_secret(pub, "tok", evil)
    vault = write_secret(pub, "vault", evil)
    creds = write_secret(pub, "creds", "token = ask_%s\x1bX" % ("z" * 40))
    cases = [(["-o", "token_file=" + tok], {}, tok),
             (["-o", "token_cmd=cat " + vault], {}, "token_cmd"),
             (["-o", "credentials=" + creds], {}, "credentials file"),
             ([], {"APISECFS_TOKEN": evil}, "APISECFS_TOKEN")]
    for args, env, where in cases:
        with Hostile({"code": "unauthenticated"}, me_status=401) as h:
            rc, msg = refused(args + [h.url, mnt], env=env)
        assert rc == 2 and "control character" in msg and where in msg, msg
        assert "X-Evil" not in msg and "z" * 40 not in msg
        assert not any("X-Evil" in s for s in h.seen), "header injected"
        assert not h.seen, "a request went out with the bad secret"


def test_minted_bearer_with_control_characters_is_refused(pub):
    mnt = mountpoint(pub)
    secret = write_secret(pub, "cs", "s3cret")
    evil = "eyJ0\r\nX-Evil: injected"
    for opts in ("client_id=c,client_secret_file=" + secret,
                 "username=u,password_file=" + secret):
        with Hostile({"code": "unauthenticated"}, me_status=401,
                     token=evil) as h:
            rc, msg = refused(["-o", opts, h.url, mnt])
        assert rc == 2 and "control character" in msg, msg
        assert "X-Evil" not in msg
        assert not any("X-Evil" in s for s in h.seen), "header injected"


# ---- item 14: no password in the URL -------------------------------------

def test_url_with_userinfo_is_refused(sim, pub):
    mnt = mountpoint(pub)
    tok = write_secret(pub, "tok", sim.creds["readonly_token"])
    hostport = sim.url.split("://", 1)[1]
    for url, opts in (("http://alice:s3cretpw@" + hostport, ""),
                      ("http://alice@" + hostport, ""),
                      (sim.url, ",token_url=http://c:s3cretpw@%s/t"
                       % hostport)):
        rc, msg = refused(["-o", "token_file=" + tok + opts, url, mnt])
        assert rc == 1 and "user name or password" in msg, msg
        assert "s3cretpw" not in msg and "alice" not in msg
    cfg = owned(write_secret(pub, "config", "[p]\nurl = http://a:s3cretpw@%s"
                             "\ntoken_file = %s" % (hostport, tok)), 0, 0o600)
    rc, msg = refused(["-o", "config=%s,profile=p" % cfg, mnt])
    assert rc == 1 and "s3cretpw" not in msg
    # An '@' after the host is part of the path, not a user name.
    rc, msg = refused(["-o", "token_file=" + tok, "http://127.0.0.1:1/x@y",
                       mnt])
    assert rc == 3 and "cannot reach" in msg


# ---- item 16: token_cmd inherits nothing ---------------------------------

def test_token_cmd_gets_only_stdio(sim, tmp_path):
    """token_cmd lists its descriptors at mount and again at a renewal
    (when the daemon holds sockets, /dev/fuse and its threads' pipes):
    only 0, 1, 2 and the listing's own directory are open."""
    first = sim.mint_token(["apps:read", "vulns:read"])
    second = sim.mint_token(["apps:read", "vulns:read"])
    src = tmp_path / "vault"
    src.write_text(first)
    out = tmp_path / "fds"
    cmd = "ls -l /proc/self/fd >> %s; echo --- >> %s; cat %s" % (
        out, out, src)
    with Mount(sim.url, options=["token_cmd=" + cmd]) as m:
        assert os.listdir(m.path("vulns"))
        src.write_text(second)
        revoke_token(sim, first)
        with open(m.path(".refresh"), "w") as f:
            f.write("1\n")
        assert os.listdir(m.path("vulns"))  # renewed through token_cmd
        m.umount()
    text = out.read_text()
    runs = text.split("---\n")[:-1]
    assert len(runs) == 2, text
    for listing in runs:
        fds = {}
        for line in listing.splitlines():
            mt = re.search(r" (\d+) -> (.*)$", line)
            if mt:
                fds[int(mt.group(1))] = mt.group(2)
        extra = {fd: t for fd, t in fds.items()
                 if fd > 2 and not re.match(r"/proc/\d+/fd$", t)}
        assert {0, 1, 2} <= set(fds) and not extra, text
