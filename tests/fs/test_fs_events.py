"""test_fs_events.py - the `events` live feed: changes made by anyone show
in a reader's stream within two polls, a quiet platform costs two requests
a poll, no reader costs nothing, parked reads hold no thread, Ctrl-C,
poll(2)/select, shell loops, the overflow line, and a file that grep -r,
find and tar never open.

Polls are counted on the simulator (its requests with updatedSince), not
timed: "within two polls" is "before the feed's second query after the
change was answered"."""

import email.utils
import errno
import json
import os
import select
import signal
import subprocess
import time

import pytest

from fsutil import Mount, Sim, start_scan

# A hang guard, not a measure: every wait below ends on its condition.
DEADLINE = 60
SIM = dict(apps=10, vulns=300)
MNT_OPTIONS = ["poll=1"]


def wait_for(cond, what):
    deadline = time.monotonic() + DEADLINE
    while True:
        v = cond()
        if v:
            return v
        assert time.monotonic() < deadline, "gave up waiting for " + what
        time.sleep(0.05)


def feed_queries(sim, path="/v1/scans"):
    """The feed's queries of path among the simulator's recent requests."""
    return [e for e in sim.stats()["recent"]
            if e["path"] == path and "updatedSince" in (e["query"] or "")]


def polls(sim):
    """Polls answered so far: each asks for the scans changed since. (A
    mount's freshness rounds ask the same way, but only for a listing
    walked after its TTL or an action; these tests list nothing then.)"""
    return sum(1 for e in feed_queries(sim) if e["status"] is not None)


class Reader:
    """One open of events, read line by line without blocking the test."""

    def __init__(self, path, nonblock=False):
        self.fd = os.open(path, os.O_RDONLY | (os.O_NONBLOCK if nonblock else 0))
        self.buf = b""
        self.lines = []

    def pump(self, timeout):
        r, _, _ = select.select([self.fd], [], [], timeout)
        if r:
            data = os.read(self.fd, 65536)
            assert data, "events ended"
            self.buf += data
            *done, self.buf = self.buf.split(b"\n")
            self.lines += [json.loads(d) for d in done]

    def wait(self, pred, what):
        deadline = time.monotonic() + DEADLINE
        while True:
            hit = [e for e in self.lines if pred(e)]
            if hit:
                return hit[0]
            assert time.monotonic() < deadline, "no %s in %s" % (what, self.lines)
            self.pump(0.2)

    def close(self):
        os.close(self.fd)


def wait_started(sim, before):
    """The reader's session has its baseline and has polled once."""
    wait_for(lambda: polls(sim) > before, "the feed's first poll")


def first_vuln(sim, status="ACTIVE"):
    _, _, body = sim.request("GET", "/v1/vulnerabilities?limit=5&status=" + status,
                             token=sim.creds["admin_token"])
    return body["items"][0]["vulnerabilityId"]


def patch(sim, vid, status):
    st, _, body = sim.request("PATCH", "/v1/vulnerabilities/" + vid,
                              token=sim.creds["admin_token"],
                              body={"status": status})
    assert st == 200, body


def test_hidden_from_walks(mnt):
    """Not listed, so grep -r, find and tar never block on it; reachable
    by name, as a link into the control mount."""
    assert "events" not in os.listdir(mnt.mnt)
    assert os.path.islink(mnt.path("events"))
    assert os.readlink(mnt.path("events")) == ".ctl/events"
    for cmd in (["grep", "-r", "no such text anywhere", "."],
                ["find", ".", "-type", "f"],
                ["tar", "cf", "/dev/null", "."]):
        r = subprocess.run(cmd, cwd=mnt.mnt, capture_output=True,
                           timeout=DEADLINE)
        assert b"events" not in r.stdout, cmd
    with pytest.raises(OSError) as e:
        os.open(mnt.path("events"), os.O_WRONLY)
    assert e.value.errno in (errno.EACCES, errno.EPERM)
    assert "events" in open(mnt.path("README")).read()


def test_api_change_and_other_mount_within_two_polls(sim, mnt):
    """A status change made through the API, and a scan started by
    another mount, reach the reader within two polls; the scan's findings
    follow as vuln.new lines, the same as the API lists."""
    sim.reset_stats()
    r = Reader(mnt.path("events"))
    try:
        wait_started(sim, 0)
        vid = first_vuln(sim)
        at = polls(sim)
        patch(sim, vid, "DISMISSED")
        e = r.wait(lambda e: e["type"] == "vuln.status"
                   and e["vulnerabilityId"] == vid, "vuln.status")
        assert polls(sim) - at <= 2
        assert e["status"] == "DISMISSED" and e["time"].endswith("Z")
        assert set(e) == {"time", "type", "vulnerabilityId", "status"}

        other = Mount(sim.url, token=sim.creds["admin_token"], options=["poll=0"])
        try:
            assert not os.path.lexists(other.path("events"))  # poll=0: no feed
            at = polls(sim)
            sid = start_scan(other)
            e = r.wait(lambda e: e["type"] == "scan.status"
                       and e["scanId"] == sid, "the other mount's scan")
            assert polls(sim) - at <= 2
            assert set(e) == {"time", "type", "scanId", "applicationId", "status"}
            r.wait(lambda e: e["type"] == "scan.status" and e["scanId"] == sid
                   and e["status"] == "Completed", "the scan's completion")
            api = sim.request("GET", "/v1/vulnerabilities?limit=500&scanId=" + sid,
                              token=sim.creds["admin_token"])[2]["items"]
            want = {v["vulnerabilityId"] for v in api}
            assert want
            # The findings come in the poll that saw the completion.
            r.pump(0)
            new = [e for e in r.lines if e["type"] == "vuln.new"
                   and e["scanId"] == sid]
            assert {e["vulnerabilityId"] for e in new} == want
            assert len(new) == len(want)  # none twice
            byid = {v["vulnerabilityId"]: v for v in api}
            for e in new:
                v = byid[e["vulnerabilityId"]]
                for k in ("applicationId", "severity", "category", "fingerprint"):
                    assert e[k] == v[k]
            # The completion comes before its findings.
            done = next(i for i, e in enumerate(r.lines)
                        if e.get("scanId") == sid and e.get("status") == "Completed")
            assert all(r.lines.index(e) > done for e in new)
            other.umount()
        finally:
            if other.proc.poll() is None:
                other.umount()
        # Nothing was said twice.
        keys = [json.dumps(e, sort_keys=True) for e in r.lines]
        assert len(keys) == len(set(keys))
    finally:
        r.close()


def platform_now(sim):
    """The simulator's clock, by its Date header (whole seconds)."""
    _, headers, _ = sim.request("GET", "/v1/me", token=sim.creds["admin_token"])
    return email.utils.parsedate_to_datetime(headers["date"]).timestamp()


def test_stream_starts_at_open(sim):
    """A change made before a reader opened, but found by the poll after
    it, goes to the readers that were open then and not to it."""
    with Mount(sim.url, token=sim.creds["admin_token"], options=["poll=4"]) as m:
        sim.reset_stats()
        early = Reader(m.path("events"))
        try:
            wait_started(sim, 0)  # just polled: the next poll is 4 s away
            vid = first_vuln(sim)
            patch(sim, vid, "RISK_ACCEPTED")
            changed = platform_now(sim)
            # Open in a later second of the platform's clock, before the
            # next poll (if that poll came first, the late reader could
            # not get the line anyway: the test cannot pass wrongly).
            wait_for(lambda: platform_now(sim) >= changed + 2, "two seconds")
            late = Reader(m.path("events"), nonblock=True)
            try:
                early.wait(lambda e: e.get("vulnerabilityId") == vid, "the change")
                vid2 = first_vuln(sim)
                patch(sim, vid2, "RESOLVED")
                late.wait(lambda e: e.get("vulnerabilityId") == vid2,
                          "the later change")
                assert not [e for e in late.lines if e.get("vulnerabilityId") == vid]
            finally:
                late.close()
        finally:
            early.close()


def test_poll_select_and_nonblock(sim, mnt):
    """poll(2), select(2) and epoll say when lines are there; O_NONBLOCK
    reads say EAGAIN until then; the file is not seekable."""
    sim.reset_stats()
    fd = os.open(mnt.path("events"), os.O_RDONLY | os.O_NONBLOCK)
    try:
        wait_started(sim, 0)
        p = select.poll()
        p.register(fd, select.POLLIN)
        with pytest.raises(BlockingIOError):
            os.read(fd, 4096)
        with pytest.raises(OSError) as e:
            os.lseek(fd, 0, os.SEEK_CUR)
        assert e.value.errno == errno.ESPIPE
        assert p.poll(0) == []
        assert select.select([fd], [], [], 0)[0] == []
        vid = first_vuln(sim)
        patch(sim, vid, "DISMISSED")
        ep = select.epoll()
        ep.register(fd, select.EPOLLIN)
        ev = p.poll(DEADLINE * 1000)
        assert ev and ev[0][1] & select.POLLIN
        assert select.select([fd], [], [], 0)[0] == [fd]
        assert ep.poll(0) == [(fd, select.EPOLLIN)]
        ep.close()
        data = os.read(fd, 65536)
        assert data.endswith(b"\n")
        lines = [json.loads(x) for x in data.splitlines()]
        assert any(e.get("vulnerabilityId") == vid for e in lines)
    finally:
        os.close(fd)


def test_shell_loop_and_jq(sim, mnt):
    """`while read` loops (a byte a read: the file is not seekable) and
    jq --unbuffered follow the feed."""
    out = os.path.join(mnt.dir, "loop.out")
    sim.reset_stats()
    loop = subprocess.Popen(
        ["bash", "-c", 'while IFS= read -r line; do printf "%s\\n" "$line" >> "$1"; '
         'done < events', "loop", out], cwd=mnt.mnt)
    jq = subprocess.Popen(["jq", "--unbuffered", "-c", "{type, vulnerabilityId}",
                           mnt.path("events")], stdout=subprocess.PIPE)
    try:
        wait_for(lambda: blocked_in_read(loop.pid) and blocked_in_read(jq.pid),
                 "both readers blocked")
        wait_started(sim, 0)
        vid = first_vuln(sim)
        patch(sim, vid, "DISMISSED")

        def seen():
            if not os.path.exists(out):
                return False
            return any(json.loads(x).get("vulnerabilityId") == vid
                       for x in open(out).read().splitlines())
        wait_for(seen, "the change in the while-read loop")
        line = jq.stdout.readline()
        while json.loads(line).get("vulnerabilityId") != vid:
            line = jq.stdout.readline()
        assert json.loads(line) == {"type": "vuln.status", "vulnerabilityId": vid}
    finally:
        loop.send_signal(signal.SIGINT)
        jq.send_signal(signal.SIGINT)
        loop.wait(timeout=DEADLINE)
        jq.wait(timeout=DEADLINE)


def blocked_in_read(pid):
    """Is pid in a read(2) system call now (parked on the feed)?"""
    try:
        with open("/proc/%d/syscall" % pid) as f:
            return f.read().split()[0] == "0"
    except (OSError, IndexError):
        return False


def test_sixteen_readers_and_ctrl_c(sim, mnt):
    """16 readers parked at once hold none of the control mount's 16
    threads: the mount still acts, a 17th reader works, every reader gets
    the change, and Ctrl-C ends a parked read."""
    sim.reset_stats()
    cats = [subprocess.Popen(["cat", mnt.path("events")], stdout=subprocess.PIPE)
            for _ in range(16)]
    try:
        wait_for(lambda: all(blocked_in_read(c.pid) for c in cats),
                 "16 readers blocked")
        wait_started(sim, 0)
        # The control mount still serves: a write that acts, an open.
        sid = start_scan(mnt)
        r = Reader(mnt.path("events"))
        try:
            r.wait(lambda e: e.get("scanId") == sid, "the scan in reader 17")
        finally:
            r.close()
        # Ctrl-C: the read ends with EINTR at once, the others go on.
        cats[0].send_signal(signal.SIGINT)
        assert cats[0].wait(timeout=DEADLINE) == -signal.SIGINT
        for c in cats[1:]:
            os.set_blocking(c.stdout.fileno(), False)

        def all_saw():
            for c in cats[1:]:
                c.buf = getattr(c, "buf", b"") + (c.stdout.read() or b"")
            return all(sid.encode() in c.buf for c in cats[1:])
        wait_for(all_saw, "the scan in all 15 readers")
    finally:
        for c in cats:
            if c.poll() is None:
                c.send_signal(signal.SIGINT)
                c.wait(timeout=DEADLINE)


def test_ctrl_c_gives_eintr(mnt):
    """A reader that handles SIGINT sees its read fail with EINTR."""
    prog = ("import os, signal, sys\n"
            "signal.signal(signal.SIGINT, lambda *a: sys.exit(7))\n"
            "fd = os.open(sys.argv[1], os.O_RDONLY)\n"
            "print('open', flush=True)\n"
            "os.read(fd, 4096)\n"
            "sys.exit(0)\n")
    p = subprocess.Popen(["/usr/bin/python3", "-c", prog, mnt.path("events")],
                         stdout=subprocess.PIPE)
    try:
        assert p.stdout.readline() == b"open\n"
        wait_for(lambda: blocked_in_read(p.pid), "the read to block")
        p.send_signal(signal.SIGINT)
        # The handler ran, so read(2) returned (EINTR) rather than hanging.
        assert p.wait(timeout=DEADLINE) == 7
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def test_overflow_line():
    """A reader that does not read keeps events_queue lines, then one
    overflow line says how many were lost; lines after it come again."""
    with Sim(apps=5, vulns=50, scan_seconds=1) as sim, \
            Mount(sim.url, token=sim.creds["admin_token"],
                  options=["poll=1", "events_queue=3"]) as m:
        r = Reader(m.path("events"), nonblock=True)
        try:
            wait_started(sim, 0)
            _, _, body = sim.request("GET", "/v1/vulnerabilities?limit=7&status=ACTIVE",
                                     token=sim.creds["admin_token"])
            vids = [v["vulnerabilityId"] for v in body["items"]]
            for vid in vids[:6]:
                patch(sim, vid, "DISMISSED")
            # Two polls answered after the last change: all six published.
            at = polls(sim)
            wait_for(lambda: polls(sim) >= at + 2, "two polls")
            r.pump(0)
            r.pump(0)
            assert [e["type"] for e in r.lines] == ["vuln.status"] * 3 + ["overflow"]
            assert r.lines[3]["lost"] == 3 and r.lines[3]["queue"] == 3
            assert "time" in r.lines[3]
            patch(sim, vids[6], "DISMISSED")
            e = r.wait(lambda e: e.get("vulnerabilityId") == vids[6], "a line after")
            assert r.lines.index(e) == 4
        finally:
            r.close()
        assert "dropping lines" in m.read_log()


def test_cost_quiet_platform_and_no_reader():
    """10,000 findings, nothing changing: at most 2 requests a poll, no
    page beyond the first; no reader, no request at all."""
    with Sim(apps=20, vulns=10000, scan_seconds=1) as sim, \
            Mount(sim.url, token=sim.creds["admin_token"], options=["poll=1"]) as m:
        sim.reset_stats()
        r = Reader(m.path("events"))
        try:
            wait_started(sim, 0)
            sim.reset_stats()
            wait_for(lambda: polls(sim) >= 4, "four polls")
            r.pump(0)
            assert r.lines == []
        finally:
            r.close()
        st = sim.stats()
        scans = feed_queries(sim)
        vulns = feed_queries(sim, "/v1/vulnerabilities")
        assert len(scans) >= 4
        assert st["total"] == len(scans) + len(vulns)  # nothing else
        assert len(vulns) <= len(scans) + 1 and len(scans) <= len(vulns) + 1
        assert st["total"] <= 2 * len(scans) + 1
        assert not any("nextToken" in e["query"] for e in scans + vulns)
        # The last reader closed: a poll under way may end, then nothing.
        # (An absence can only be shown by waiting: three poll intervals.)
        wait_for(lambda: all(e["status"] is not None
                             for e in sim.stats()["recent"]), "the last answer")
        sim.reset_stats()
        time.sleep(3.5)
        assert sim.stats()["total"] == 0


def test_scopes():
    """A credential that may read neither scans nor findings cannot open
    it; poll=0 leaves no feed at all."""
    with Sim(apps=3, vulns=10, scan_seconds=1) as sim:
        tok = sim.mint_token(["apps:read"])
        with Mount(sim.url, token=tok, options=["poll=1"]) as m:
            with pytest.raises(PermissionError):
                open(m.path("events")).close()
            assert sim.route_count("GET /v1/scans") == 0
        tok = sim.mint_token(["vulns:read"])
        with Mount(sim.url, token=tok, options=["poll=1"]) as m:
            r = Reader(m.path("events"), nonblock=True)
            try:
                wait_for(lambda: feed_queries(sim, "/v1/vulnerabilities"),
                         "a poll of the findings")
                assert feed_queries(sim) == []  # scans are not asked for
            finally:
                r.close()
