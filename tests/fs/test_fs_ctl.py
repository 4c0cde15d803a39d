"""test_fs_ctl.py - acting through control files: exactly once, the errno
the shell prints, nothing created on error, changes visible at once."""

import errno
import json
import os
import signal
import subprocess
import threading
import time

import pytest

from fsutil import Mount, Sim, start_scan


SIM = dict(apps=10, vulns=100)
MNT_OPTIONS = ["cache_ttl=300"]


def sh(cmd, cwd):
    return subprocess.run(["bash", "-c", cmd], cwd=cwd, capture_output=True,
                          text=True)


def scans_of(sim, app_id):
    _, _, body = sim.request("GET", "/v1/scans?limit=500&applicationId=" + app_id,
                             token=sim.creds["admin_token"])
    return body["items"]


def app_id(m, name="payments-api"):
    return json.load(open(m.path("apps", name, "app.json")))["applicationId"]


def post_count(sim, route):
    return sim.stats()["routes"].get(route, 0)


SCAN_POST = "POST /v1/applications/{id}/instances/{id}/scans"


def test_echo_starts_one_scan_visible_at_once(sim, mnt):
    aid = app_id(mnt)
    before = {s["scanId"] for s in scans_of(sim, aid)}
    listed = set(os.listdir(mnt.path("scans")))  # cached for 300 s
    sim.reset_stats()
    r = sh("echo payments-api > scans/new", mnt.mnt)
    assert r.returncode == 0, r.stderr
    assert post_count(sim, SCAN_POST) == 1
    new = {s["scanId"] for s in scans_of(sim, aid)} - before
    assert len(new) == 1
    # Visible at once, no sleep, despite the 300 s TTL.
    assert new <= set(os.listdir(mnt.path("scans"))) - listed
    assert new <= set(os.listdir(mnt.path("apps", "payments-api", "scans")))


def test_read_back_the_new_id_from_the_same_fd(sim, mnt):
    fd = os.open(mnt.path("scans", "new"), os.O_RDWR)
    try:
        assert os.write(fd, b"payments-api\n") == 13
        sid = os.read(fd, 100).decode().strip()
    finally:
        os.close(fd)
    assert sid.startswith("scan_")
    assert os.path.isdir(mnt.path("scans", sid))
    # The blocking wait file returns when the scan ends.
    assert "wait" not in os.listdir(mnt.path("scans", sid))
    assert open(mnt.path("scans", sid, "wait")).read() == "Completed\n"
    assert open(mnt.path("scans", sid, "status")).read() == "Completed\n"
    assert os.path.exists(mnt.path("scans", sid, "report.sarif"))


def test_json_in_two_writes_acts_once(sim, mnt):
    aid = app_id(mnt)
    sim.reset_stats()
    body = json.dumps({"applicationId": aid}).encode()
    fd = os.open(mnt.path("scans", "new"), os.O_WRONLY)
    try:
        os.write(fd, body[:10])
        assert post_count(sim, SCAN_POST) == 0
        os.write(fd, body[10:])
        assert post_count(sim, SCAN_POST) == 1
        # One action per open file: another write is refused.
        with pytest.raises(OSError) as e:
            os.write(fd, b"payments-api\n")
        assert e.value.errno == errno.EINVAL
    finally:
        os.close(fd)
    assert post_count(sim, SCAN_POST) == 1


def test_errors_reach_the_shell_and_nothing_is_created(sim, mnt):
    sim.reset_stats()
    r = sh("echo no-such-app > scans/new", mnt.mnt)
    assert r.returncode != 0 and "No such file or directory" in r.stderr
    r = sh("echo '{\"endpointIds\": 3}' > scans/new", mnt.mnt)
    assert r.returncode != 0 and "Invalid argument" in r.stderr
    r = sh("echo 'vuln_00001 BOGUS' > vulns/triage", mnt.mnt)
    assert r.returncode != 0 and "Invalid argument" in r.stderr
    r = sh("echo '{\"name\": \"x\"}' > apps/new", mnt.mnt)
    assert r.returncode != 0 and "Invalid argument" in r.stderr
    routes = sim.stats()["routes"]
    assert not [k for k in routes if k.startswith(("POST", "PATCH", "PUT"))], routes


def test_close_of_a_dup_does_not_wait_for_the_running_action(sim, mnt):
    """An action may wait long (a platform that does not answer, a scan's
    wait): a close of a dup of the descriptor, which shares the handle,
    returns while the action is still in flight, and the write that acts
    gets its answer once the platform gives it."""
    aid = app_id(mnt)
    prefix = "/v1/applications/%s/instances" % aid
    fd = os.open(mnt.path("scans", "new"), os.O_WRONLY)
    dup = os.dup(fd)
    done = {}

    def write():
        try:
            done["n"] = os.write(fd, b"payments-api\n")
        except OSError as e:
            done["err"] = e

    def in_flight():
        return [r for r in sim.stats()["recent"]
                if r["path"].startswith(prefix) and r["status"] is None]

    sim.set_faults(hang=True, path_prefix=prefix)
    writer = threading.Thread(target=write)
    closer = threading.Thread(target=os.close, args=(dup,))
    try:
        writer.start()
        # The action's request reached the platform, which holds it.
        for _ in range(600):
            if in_flight():
                break
            time.sleep(0.05)
        assert in_flight(), sim.stats()["recent"][-5:]
        closer.start()
        # Generous: the close waits for nothing but a FLUSH round trip;
        # before, it waited for the action (here: for ever).
        closer.join(60)
        assert not closer.is_alive(), "close waited for the action"
        # Still in flight as the close returned: the platform has not
        # answered (faults still set), the write has not returned.
        assert writer.is_alive(), "the close returned after the action"
        assert in_flight()
    finally:
        sim.clear_faults()
        writer.join(60)
        closer.join(60)
        os.close(fd)
    assert done.get("n") == 13, done
    assert not in_flight()


def test_malformed_input_at_close_is_einval(sim, mnt):
    sim.reset_stats()
    fd = os.open(mnt.path("scans", "new"), os.O_WRONLY)
    os.write(fd, b'{"applicationId": ')
    with pytest.raises(OSError) as e:
        os.close(fd)
    assert e.value.errno == errno.EINVAL
    assert post_count(sim, SCAN_POST) == 0


def test_missing_scope_is_eacces_without_a_request(sim):
    with Mount(sim.url, token=sim.creds["readonly_token"]) as m:
        sim.reset_stats()
        r = sh("echo payments-api > scans/new", m.mnt)
        assert r.returncode != 0 and "Permission denied" in r.stderr
        r = sh("echo x > apps/payments-api/scan", m.mnt)
        assert r.returncode != 0 and "Permission denied" in r.stderr
        with pytest.raises(PermissionError):
            os.unlink(m.path("apps", "payments-api", "app.json"))
        routes = sim.stats()["routes"]
        assert not [k for k in routes if not k.startswith("GET")], routes
        m.umount()


def test_server_error_is_eio_and_retry_is_idempotent(sim, mnt):
    aid = app_id(mnt)
    before = len(scans_of(sim, aid))
    sim.reset_stats()
    # The platform acts, then the answer is cut: the client retries with
    # the same Idempotency-Key and no second scan is made.
    sim.set_faults(truncate=True, path_prefix="/v1/applications/%s/" % aid)
    try:
        r = sh("echo payments-api > scans/new", mnt.mnt)
    finally:
        sim.clear_faults()
    assert r.returncode != 0 and "Input/output error" in r.stderr
    posts = [x for x in sim.stats()["recent"] if x["method"] == "POST"]
    assert len(posts) >= 2
    assert len({p["idempotencyKey"] for p in posts}) == 1
    assert len(scans_of(sim, aid)) == before + 1
    sim.set_faults(error_rate=1.0, error_status=503,
                   path_prefix="/v1/applications/%s/" % aid)
    try:
        r = sh("echo payments-api > scans/new", mnt.mnt)
    finally:
        sim.clear_faults()
    assert r.returncode != 0 and "Input/output error" in r.stderr
    assert len(scans_of(sim, aid)) == before + 1


def test_apps_new_conflict_delete(sim, mnt):
    spec = {"applicationName": "ctl-test-app", "hostUrl": "https://ctl.example"}
    r = sh("echo '%s' > apps/new" % json.dumps(spec), mnt.mnt)
    assert r.returncode == 0, r.stderr
    assert "ctl-test-app" in os.listdir(mnt.path("apps"))
    r = sh("echo '%s' > apps/new" % json.dumps(spec), mnt.mnt)
    assert r.returncode != 0 and "File exists" in r.stderr
    os.unlink(mnt.path("apps", "ctl-test-app", "app.json"))
    assert "ctl-test-app" not in os.listdir(mnt.path("apps"))
    _, _, apps = sim.request("GET", "/v1/applications?limit=500",
                             token=sim.creds["admin_token"])
    assert "ctl-test-app" not in [a["applicationName"] for a in apps["items"]]


def test_spec_upload(sim, mnt):
    d = mnt.path("apps", "payments-api")
    name = [n for n in os.listdir(d) if n.startswith("spec.")][0]
    doc = json.load(open(os.path.join(d, name)))
    doc["info"]["title"] = "Uploaded through apisecfs"
    with open(os.path.join(d, name), "w") as f:
        f.write(json.dumps(doc))
    name = [n for n in os.listdir(d) if n.startswith("spec.")][0]
    assert json.load(open(os.path.join(d, name)))["info"]["title"] == \
        "Uploaded through apisecfs"
    with pytest.raises(OSError) as e:
        with open(os.path.join(d, name), "w") as f:
            f.write("this is not a spec {")
    assert e.value.errno == errno.EINVAL
    assert json.load(open(os.path.join(d, name)))["info"]["title"] == \
        "Uploaded through apisecfs"


def test_triage_shows_at_once(sim, mnt):
    _, _, body = sim.request("GET", "/v1/vulnerabilities?status=ACTIVE&limit=1",
                             token=sim.creds["admin_token"])
    vid = body["items"][0]["vulnerabilityId"]
    name = vid + ".json"
    assert json.load(open(mnt.path("vulns", name)))["status"] == "ACTIVE"
    assert name not in os.listdir(mnt.path("vulns", "by-status", "DISMISSED"))
    r = sh("echo '%s DISMISSED: false positive' > vulns/triage" % name, mnt.mnt)
    assert r.returncode == 0, r.stderr
    assert json.load(open(mnt.path("vulns", name)))["status"] == "DISMISSED"
    assert name in os.listdir(mnt.path("vulns", "by-status", "DISMISSED"))
    assert name not in os.listdir(mnt.path("vulns", "by-status", "ACTIVE"))
    r = sh("echo 'vuln_99999 RESOLVED' > vulns/triage", mnt.mnt)
    assert r.returncode != 0 and "No such file" in r.stderr


def test_token_secret_readable_once_by_the_writer(sim, mnt):
    req = {"name": "ctl-test-token", "scopes": ["apps:read"]}
    fd = os.open(mnt.path("tokens", "new"), os.O_RDWR)
    other = os.open(mnt.path("tokens", "new"), os.O_RDONLY)
    try:
        os.write(fd, json.dumps(req).encode())
        reply = json.loads(os.read(fd, 65536))
        assert os.read(other, 65536) == b""
    finally:
        os.close(fd)
        os.close(other)
    secret = reply["token"]
    assert secret.startswith("ask_")
    assert sim.request("GET", "/v1/me", token=secret)[0] == 200
    meta = open(mnt.path("tokens", "ctl-test-token.json")).read()
    assert secret not in meta
    assert secret not in mnt.read_log()
    os.unlink(mnt.path("tokens", "ctl-test-token.json"))
    assert sim.request("GET", "/v1/me", token=secret)[0] == 401
    assert "ctl-test-token.json" not in os.listdir(mnt.path("tokens"))


def test_token_scope_subset_enforced_locally(sim):
    tok = sim.mint_token(["tokens:read", "tokens:write", "apps:read"])
    with Mount(sim.url, token=tok) as m:
        sim.reset_stats()
        fd = os.open(m.path("tokens", "new"), os.O_RDWR)
        with pytest.raises(PermissionError):
            os.write(fd, json.dumps({"name": "x", "scopes": ["vulns:read"]})
                     .encode())
        os.close(fd)
        assert post_count(sim, "POST /v1/tokens") == 0
        m.umount()


def test_cancel(sim):
    with Sim(apps=10, vulns=20, scan_seconds=60) as slow:
        with Mount(slow.url, token=slow.creds["admin_token"]) as m:
            sid = start_scan(m)
            # Many blocked waiters do not freeze the mount, and Ctrl-C
            # ends a wait at once.
            waiters = [subprocess.Popen(["cat", m.path("scans", sid, "wait")],
                                        stdout=subprocess.PIPE)
                       for _ in range(16)]
            time.sleep(0.5)
            t = time.monotonic()
            assert "payments-api" in os.listdir(m.path("apps"))
            assert os.listdir(m.path("scans"))
            assert time.monotonic() - t < 2
            waiters[0].send_signal(signal.SIGINT)
            waiters[0].wait(timeout=3)
            r = sh("echo > scans/%s/cancel" % sid, m.mnt)
            assert r.returncode == 0, r.stderr
            assert open(m.path("scans", sid, "status")).read() == "Cancelled\n"
            assert open(m.path("scans", sid, "wait")).read() == "Cancelled\n"
            assert not os.path.exists(m.path("scans", sid, "cancel"))
            for w in waiters[1:]:
                assert w.communicate(timeout=15)[0] == b"Cancelled\n"
            m.umount()


def test_ci_recipe_end_to_end(sim, mnt):
    """The README's CI recipe: start, wait, fail on critical findings."""
    script = r'''
set -e
exec 3<>scans/new
echo payments-api >&3
read -r id <&3
exec 3>&-
status=$(cat "scans/$id/wait")
[ "$status" = Completed ] || exit 3
if grep -l '"severity": "critical"' scans/"$id"/vulns/* >/dev/null 2>&1; then
  echo "critical findings in $id"; exit 1
fi
echo "clean $id"
'''
    r = sh(script, mnt.mnt)
    assert r.returncode in (0, 1), r.stderr
    sid = r.stdout.split()[-1]
    _, _, vulns = sim.request("GET", "/v1/vulnerabilities?limit=500&scanId=" + sid,
                              token=sim.creds["admin_token"])
    crit = any(v["severity"] == "critical" for v in vulns["items"])
    assert r.returncode == (1 if crit else 0)


def test_new_scan_stays_visible_while_older_listings_land():
    """A listing of scans/ fetched before a scan started must not, when it
    finishes last, hide the scan that a lookup made after the start found.
    scans/ spans three pages here and listers keep it busy (latency widens
    the window) while starters look up each new scan's directory and then
    files inside it."""
    import concurrent.futures
    import threading
    stop = threading.Event()
    with Sim(apps=3, vulns=10, scan_seconds=30) as s:
        admin = s.creds["admin_token"]
        _, _, apps = s.request("GET", "/v1/applications", token=admin)
        app = apps["items"][-1]
        post = "/v1/applications/%s/instances/%s/scans" % (
            app["applicationId"], app["instances"][0]["instanceId"])
        for _ in range(1100):
            st, _, _ = s.request("POST", post, token=admin, body={})
            assert st == 202
        with Mount(s.url, token=admin, options=["cache_ttl=300"]) as m:
            def lister():
                while not stop.is_set():
                    os.listdir(m.path("scans"))

            def starter(_):
                sid = start_scan(m)
                # Every lookup must find it: the directory, files inside.
                os.stat(m.path("scans", sid))
                for name in ("status", "wait", "scan.json", "cancel"):
                    time.sleep(0.02)  # let older listings land between
                    os.stat(m.path("scans", sid, name))
                return sid

            s.set_faults(latency_ms=20, path_prefix="/v1/scans")
            try:
                with concurrent.futures.ThreadPoolExecutor(12) as pool:
                    listers = [pool.submit(lister) for _ in range(4)]
                    try:
                        sids = list(pool.map(starter, range(24)))
                    finally:
                        stop.set()
                    for f in listers:
                        f.result()
            finally:
                s.clear_faults()
            assert len(set(sids)) == 24
