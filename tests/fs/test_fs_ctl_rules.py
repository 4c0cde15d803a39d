"""test_fs_ctl_rules.py - the control mount and the input rules of control
files: one action on the whole input whoever closes an inherited
descriptor, nothing sent after a refused write, appending writes, NUL
bytes, and waiters that hold no thread."""

import errno
import json
import os
import signal
import subprocess
import time

import pytest

from fsutil import SLOW, Mount, Sim, start_scan


SIM = dict(apps=10, vulns=100)
MNT_OPTIONS = ["cache_ttl=300"]


SCAN_POST = "POST /v1/applications/{id}/instances/{id}/scans"
SPEC_PUT = "PUT /v1/applications/{id}/instances/{id}/spec"


def sh(cmd, cwd):
    return subprocess.run(["bash", "-c", cmd], cwd=cwd, capture_output=True,
                          text=True)


def app_obj(m, name="payments-api"):
    return json.load(open(m.path("apps", name, "app.json")))


def mounts():
    with open("/proc/self/mounts") as f:
        return [line.split() for line in f]


def test_control_files_are_links_into_the_control_mount(mnt):
    # The data mount shows control files as relative links into .ctl,
    # itself a link to the control mount (listed in /proc/mounts).
    assert os.readlink(mnt.path("scans", "new")) == "../.ctl/scans/new"
    assert os.readlink(mnt.path("apps", "payments-api", "scan")) == \
        "../../.ctl/apps/payments-api/scan"
    assert os.readlink(mnt.path(".refresh")) == ".ctl/.refresh"
    ctl = os.readlink(mnt.path(".ctl"))
    assert ctl.startswith("/") and [m for m in mounts() if m[1] == ctl]
    assert ".ctl" not in os.listdir(mnt.mnt)  # not listed, like wait
    # The control mount lists with plain READDIR (no readdirplus there):
    # the same entries, a whole directory over several replies.
    for d in ("vulns", "apps", "scans"):
        assert sorted(os.listdir(os.path.join(ctl, d))) == \
            sorted(os.listdir(mnt.path(d)))
    assert len(os.listdir(os.path.join(ctl, "vulns"))) > 100
    # Data files are plain files of the data mount.
    assert os.path.isfile(mnt.path("vulns", "vuln_00001.json"))
    assert not os.path.islink(mnt.path("vulns", "vuln_00001.json"))
    # grep -r skips the links and never blocks on a control file.
    r = subprocess.run(["grep", "-rl", "vulnerabilityId", "."], cwd=mnt.mnt,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "./vulns/vuln_00001.json" in r.stdout.split()


def test_control_mount_goes_with_the_data_mount(sim):
    m = Mount(sim.url, token=sim.creds["admin_token"])
    ctl = os.readlink(m.path(".ctl"))
    assert [x for x in mounts() if x[1] == ctl]
    m.umount()
    assert not [x for x in mounts() if x[1] == ctl]
    assert not os.path.exists(ctl)


def test_inherited_descriptor_closed_by_a_child_does_not_act(sim, mnt):
    # The child (/bin/true) inherits fd 3 and closes it at exit: that is
    # not the end of the input; the opener's close is.
    sim.reset_stats()
    r = sh("exec 3<>scans/new; printf payments >&3; /bin/true; "
           "printf -- '-api\\n' >&3; read -r id <&3; exec 3>&-; echo $id",
           mnt.mnt)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("scan_")
    assert sim.route_count(SCAN_POST) == 1


def test_spec_from_two_writers_uploads_once_whole(sim, mnt, tmp_path):
    d = mnt.path("apps", "payments-api")
    name = [n for n in os.listdir(d) if n.startswith("spec.")][0]
    doc = json.load(open(os.path.join(d, name)))
    doc["info"]["title"] = "Two parts"
    text = json.dumps(doc, indent=1)
    half = len(text) // 2
    (tmp_path / "p1").write_text(text[:half])
    (tmp_path / "p2").write_text(text[half:])
    sim.reset_stats()
    r = sh("{ cat %s; cat %s; } > %s" % (tmp_path / "p1", tmp_path / "p2",
                                        name), d)
    assert r.returncode == 0, r.stderr
    assert sim.route_count(SPEC_PUT) == 1
    app = app_obj(mnt)
    inst = app["instances"][0]["instanceId"]
    _, _, body = sim.request(
        "GET", "/v1/applications/%s/instances/%s/spec" % (app["applicationId"],
                                                          inst),
        token=sim.creds["admin_token"])
    assert body["info"]["title"] == "Two parts"


def test_errors_still_reach_close(sim, mnt, tmp_path):
    # cp, cat > and Python's open/write/close get the error at close.
    d = mnt.path("apps", "payments-api")
    name = [n for n in os.listdir(d) if n.startswith("spec.")][0]
    bad = tmp_path / "bad"
    bad.write_text("this is not a spec {")
    sim.reset_stats()
    for cmd in ("cp %s %s" % (bad, name), "cat %s > %s" % (bad, name)):
        r = sh(cmd, d)
        assert r.returncode != 0 and "Invalid argument" in r.stderr, cmd
    with pytest.raises(OSError) as e:
        with open(os.path.join(d, name), "w") as f:
            f.write("this is not a spec {")
    assert e.value.errno == errno.EINVAL
    assert sim.route_count(SPEC_PUT) == 3  # each tried once, refused


def test_nothing_is_sent_after_a_refused_write(sim, mnt):
    d = mnt.path("apps", "payments-api")
    name = [n for n in os.listdir(d) if n.startswith("spec.")][0]
    sim.reset_stats()
    fd = os.open(os.path.join(d, name), os.O_WRONLY | os.O_TRUNC)
    chunk = b"#" * (1 << 20)
    with pytest.raises(OSError) as e:
        for _ in range(20):  # past the 16 MiB input cap
            os.write(fd, chunk)
    assert e.value.errno == errno.EFBIG
    os.close(fd)
    assert sim.route_count(SPEC_PUT) == 0


def test_nul_in_input_is_einval_and_nothing_starts(sim, mnt):
    sim.reset_stats()
    r = sh("printf 'payments-api\\0junk\\n' > scans/new", mnt.mnt)
    assert r.returncode != 0 and "Invalid argument" in r.stderr
    assert sim.route_count(SCAN_POST) == 0


def test_appending_writes_each_act(sim, mnt):
    _, _, body = sim.request("GET", "/v1/vulnerabilities?limit=4",
                             token=sim.creds["admin_token"])
    ids = [v["vulnerabilityId"] for v in body["items"]]
    sim.reset_stats()
    for vid in ids:
        r = sh("echo '%s RISK_ACCEPTED: appended' >> vulns/triage" % vid,
               mnt.mnt)
        assert r.returncode == 0, r.stderr
    assert sim.route_count("PATCH /v1/vulnerabilities/{id}") == 4
    for vid in ids:
        assert json.load(open(mnt.path("vulns", vid + ".json")))["status"] \
            == "RISK_ACCEPTED"
    for _ in range(2):
        with open(mnt.path("scans", "new"), "a") as f:
            f.write("payments-api\n")
    assert sim.route_count(SCAN_POST) == 2


def test_a_thousand_waiters_hold_no_thread(tmp_path):
    with Sim(apps=5, vulns=20, scan_seconds=120) as slow:
        with Mount(slow.url, token=slow.creds["admin_token"]) as m:
            sid = start_scan(m)
            wait = m.path("scans", sid, "wait")
            waiters = [subprocess.Popen(["cat", wait],
                                        stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)
                       for _ in range(1000)]
            try:
                time.sleep(1)
                assert all(w.poll() is None for w in waiters)
                slow.reset_stats()
                t = time.monotonic()
                assert "payments-api" in os.listdir(m.path("apps"))
                assert json.load(open(m.path("whoami.json")))
                assert time.monotonic() - t < 1 * SLOW
                # One poll loop for the scan, whatever the readers.
                time.sleep(3)
                polls = slow.route_count("GET /v1/scans/{id}")
                assert polls <= 4, polls
                # SIGTERM and SIGINT free each reader at once.
                for i, w in enumerate(waiters):
                    w.send_signal(signal.SIGTERM if i % 2 else signal.SIGINT)
                t = time.monotonic()
                for w in waiters:
                    w.wait(timeout=10)
                assert time.monotonic() - t < 5 * SLOW
                # The daemon still works and cancel goes through.
                r = sh("echo > scans/%s/cancel" % sid, m.mnt)
                assert r.returncode == 0, r.stderr
                assert open(wait).read() == "Cancelled\n"
            finally:
                for w in waiters:
                    if w.poll() is None:
                        w.kill()
                        w.wait()
            m.umount()
