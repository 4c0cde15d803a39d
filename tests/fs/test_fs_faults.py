"""test_fs_faults.py - never hangs, never lies: deadlines, offline serving,
429 storms, truncated bodies, refresh on demand, concurrency under faults."""

import errno
import json
import os
import random
import signal
import threading
import time

import pytest

from fsutil import Mount, Sim, api_items

FAST = ["timeout=2", "retries=1", "cache_ttl=1"]
SIM = dict(apps=10, vulns=120)


def all_scans(sim, token):
    return [s["scanId"] for s in api_items(sim, "/v1/scans", token)]


def timed(fn):
    t = time.monotonic()
    try:
        return fn(), time.monotonic() - t
    except OSError as e:
        return e, time.monotonic() - t


def test_hung_platform_bounded_and_cached_served(clean):
    sim = clean
    with Mount(sim.url, token=sim.creds["admin_token"], options=FAST) as m:
        names = sorted(os.listdir(m.path("vulns")))
        time.sleep(1.2)  # past the TTL
        sim.set_faults(hang=True)
        # The root never touches the network.
        _, dt = timed(lambda: os.stat(m.path("README")))
        assert dt < 0.5
        # Expired but cached: stale data, within timeout x (retries + 1).
        got, dt = timed(lambda: sorted(os.listdir(m.path("vulns"))))
        assert got == names and dt < 2 * 2 + 2
        # Uncached: EIO, and at once now that the platform is known down.
        got, dt = timed(lambda: os.listdir(m.path("teams")))
        assert isinstance(got, OSError) and got.errno == errno.EIO
        assert dt < 1
        got, dt = timed(lambda: sorted(os.listdir(m.path("vulns"))))
        assert got == names and dt < 1
        sim.clear_faults()
        log = m.read_log()
        assert log.count("serving cached data") == 1
        time.sleep(5.5)  # the probe pause
        assert os.listdir(m.path("teams"))
        assert "platform reachable again" in m.read_log()
        m.umount()


def test_platform_down_then_back(clean):
    sim = clean
    with Mount(sim.url, token=sim.creds["admin_token"], options=FAST) as m:
        before = open(m.path("vulns", "vuln_00003.json")).read()
        time.sleep(1.2)
        sim.set_faults(down=True)
        for _ in range(5):
            assert open(m.path("vulns", "vuln_00003.json")).read() == before
        with pytest.raises(OSError) as e:
            os.listdir(m.path("tokens"))
        assert e.value.errno == errno.EIO
        sim.clear_faults()
        admin = sim.creds["admin_token"]
        st = json.loads(before)["status"]
        new = "RESOLVED" if st != "RESOLVED" else "ACTIVE"
        sim.request("PATCH", "/v1/vulnerabilities/vuln_00003", token=admin,
                    body={"status": new})
        deadline = time.time() + 15
        while time.time() < deadline:
            cur = json.load(open(m.path("vulns", "vuln_00003.json")))
            if cur["status"] == new:
                break
            time.sleep(0.5)
        assert cur["status"] == new, "did not recover without a remount"
        m.umount()


def test_429_storm_honours_retry_after(clean):
    sim = clean
    with Mount(sim.url, token=sim.creds["admin_token"],
               options=["retries=3", "cache_ttl=60"]) as m:
        sim.reset_stats()
        sim.set_faults(burst_429=2, retry_after=1)
        got, dt = timed(lambda: os.listdir(m.path("teams")))
        assert isinstance(got, list) and got
        assert dt >= 1.5  # waited Retry-After twice, did not hammer
        st = sim.stats()
        assert st["status"].get("429") == 2
        assert st["total"] == 3
        m.umount()


def test_paces_itself_under_the_rate_limit():
    # 12 requests per 3 s window; 30 fresh listings need 30 requests. A
    # client that only reacted to 429s would get several; apisecfs reads
    # X-RateLimit-Remaining/Reset and spreads the last requests of each
    # window over what is left of it, so the platform never says 429.
    with Sim(apps=5, vulns=20, rate_limit=12, rate_window=3) as sim:
        with Mount(sim.url, token=sim.creds["admin_token"],
                   options=["cache_ttl=60", "timeout=10"]) as m:
            sim.reset_stats()
            t0 = time.monotonic()
            for _ in range(30):
                with open(m.path(".refresh"), "w") as f:
                    f.write("1\n")
                assert len(os.listdir(m.path("teams"))) >= 1
            dt = time.monotonic() - t0
            st = sim.stats()
            assert st["total"] >= 30
            assert st["status"].get("429", 0) == 0, st["status"]
            # 30 requests at 12 a window need two more windows.
            assert dt >= 4, dt
            m.umount()


def test_truncated_body_is_eio_never_half_a_tree(clean):
    sim = clean
    with Mount(sim.url, token=sim.creds["admin_token"], options=FAST) as m:
        sim.set_faults(truncate=True, path_prefix="/v1/teams")
        with pytest.raises(OSError) as e:
            os.listdir(m.path("teams"))
        assert e.value.errno == errno.EIO
        sim.clear_faults()
        time.sleep(5.5)
        assert len(os.listdir(m.path("teams"))) >= 3
        m.umount()


def test_oversized_answers_are_efbig_and_harm_nothing_else(clean):
    # A 70 MiB answer (valid JSON: trailing spaces) is past the 64 MiB
    # body cap: the read fails with EFBIG, the rest of the tree works, and
    # nothing of it stays in memory. A 2 MiB one is just a big answer.
    sim = clean
    with Mount(sim.url, token=sim.creds["admin_token"],
               options=["cache_ttl=60"]) as m:
        sim.set_faults(pad_bytes=2 << 20, path_prefix="/v1/teams")
        assert len(os.listdir(m.path("teams"))) >= 3
        with open(m.path(".refresh"), "w") as f:
            f.write("1\n")
        sim.set_faults(pad_bytes=70 << 20, path_prefix="/v1/tokens")
        with pytest.raises(OSError) as e:
            os.listdir(m.path("tokens"))
        assert e.value.errno == errno.EFBIG
        assert "response too large" in m.read_log()
        assert os.listdir(m.path("apps"))
        sim.clear_faults()
        assert os.listdir(m.path("tokens"))
        with open("/proc/%d/status" % m.proc.pid) as f:
            rss = [l for l in f if l.startswith("VmRSS")][0]
        # (ASan's quarantine and valgrind keep freed memory mapped.)
        assert sanitized(m.proc.pid) or int(rss.split()[1]) < 100 * 1024, rss
        m.umount()


def test_server_errors_are_eio(clean):
    sim = clean
    with Mount(sim.url, token=sim.creds["admin_token"], options=FAST) as m:
        sim.set_faults(error_rate=1.0, error_status=500)
        got, dt = timed(lambda: open(m.path("whoami.json")).read())
        assert isinstance(got, OSError) and got.errno == errno.EIO
        assert dt < 2 * 2 + 2
        m.umount()


@pytest.mark.parametrize("retries", [0, 3])
def test_gets_are_retried_exactly_retries_times(clean, retries):
    # -o retries=N: a failing GET is tried N + 1 times, with a growing
    # pause between tries (200 ms doubled each time, jittered within its
    # upper half: at least 100 ms x (2^N - 1) in all).
    sim = clean
    with Mount(sim.url, token=sim.creds["admin_token"],
               options=["retries=%d" % retries, "timeout=5"]) as m:
        sim.reset_stats()
        sim.set_faults(error_rate=1.0, error_status=503,
                       path_prefix="/v1/teams")
        got, dt = timed(lambda: os.listdir(m.path("teams")))
        assert isinstance(got, OSError) and got.errno == errno.EIO
        assert sim.stats()["routes"].get("GET /v1/teams") == retries + 1
        if retries:
            assert dt >= 0.1 * (2 ** retries - 1)
        sim.clear_faults()
        m.umount()


def test_refresh_now_by_file_and_by_sighup(clean):
    sim = clean
    admin = sim.creds["admin_token"]
    with Mount(sim.url, token=admin, options=["cache_ttl=300"]) as m:
        path = m.path("vulns", "vuln_00004.json")
        for trigger in ("file", "sighup"):
            cur = json.load(open(path))["status"]
            new = "RISK_ACCEPTED" if cur != "RISK_ACCEPTED" else "ACTIVE"
            sim.request("PATCH", "/v1/vulnerabilities/vuln_00004", token=admin,
                        body={"status": new})
            assert json.load(open(path))["status"] == cur  # cached, 300 s
            if trigger == "file":
                with open(m.path(".refresh"), "w") as f:
                    f.write("now\n")
            else:
                m.proc.send_signal(signal.SIGHUP)
                time.sleep(0.5)
            assert json.load(open(path))["status"] == new
            assert os.stat(path).st_size == len(open(path, "rb").read())
        m.umount()


def test_stress_parallel_readers_listers_writers(clean):
    """16 threads for 30 s; faults switched on and off; every scan the
    writers were told about exists exactly once, and no write made two
    (answers cut after the platform acted are retried under the same
    Idempotency-Key). EIO (5xx, cut answers) and EAGAIN (a 429 storm
    outlasting the retries) are the expected errors."""
    sim = clean
    admin = sim.creds["admin_token"]
    scans_before = len(all_scans(sim, admin))
    with Mount(sim.url, token=admin, options=["timeout=2", "retries=2",
                                              "cache_ttl=1"]) as m:
        stop = time.monotonic() + 30
        errors, started, failures = [], [], []
        lock = threading.Lock()

        def reader(seed):
            rnd = random.Random(seed)
            while time.monotonic() < stop:
                try:
                    names = [n for n in os.listdir(m.path("vulns"))
                             if n.endswith(".json")]
                    p = m.path("vulns", rnd.choice(names))
                    data = open(p, "rb").read()
                    json.loads(data)
                except OSError as e:
                    if e.errno not in (errno.EIO, errno.ENOENT, errno.EAGAIN):
                        errors.append(repr(e))
                except ValueError as e:
                    errors.append("bad JSON: %r" % e)

        def lister(seed):
            while time.monotonic() < stop:
                try:
                    for d in ("apps", "scans", "teams", "vulns/by-severity/high"):
                        os.listdir(m.path(*d.split("/")))
                except OSError as e:
                    if e.errno not in (errno.EIO, errno.EAGAIN):
                        errors.append(repr(e))

        def writer(seed):
            while time.monotonic() < stop:
                try:
                    fd = os.open(m.path("scans", "new"), os.O_RDWR)
                except OSError as e:
                    if e.errno not in (errno.EIO, errno.EAGAIN):
                        errors.append(repr(e))
                    continue
                try:
                    os.write(fd, b"payments-api\n")
                    sid = os.read(fd, 100).decode().strip()
                    with lock:
                        started.append(sid)
                except OSError as e:
                    if e.errno not in (errno.EIO, errno.EAGAIN):
                        errors.append(repr(e))
                    with lock:
                        failures.append(e.errno)
                finally:
                    os.close(fd)
                time.sleep(0.2)

        def chaos():
            rnd = random.Random(7)
            while time.monotonic() < stop:
                sim.set_faults(**rnd.choice([
                    {"error_rate": 0.3, "error_status": 503},
                    {"latency_ms": 200},
                    {"burst_429": 5, "retry_after": 1},
                    {"truncate_rate": 0.5,
                     "path_prefix": "/v1/applications/"},
                    {}]))
                time.sleep(2)
            sim.clear_faults()

        threads = [threading.Thread(target=f, args=(i,)) for i, f in
                   enumerate([reader] * 8 + [lister] * 4 + [writer] * 4)]
        threads.append(threading.Thread(target=chaos))
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
            assert not t.is_alive(), "a thread is stuck: deadlock or hang"
        assert not errors, errors[:5]
        assert started
        scans = all_scans(sim, admin)
        assert len(set(started)) == len(started)
        assert set(started) <= set(scans)
        # 503s, 429s and latency come before the platform acts; a cut
        # answer comes after. So the scans made are those the writers were
        # told about plus at most one for each write that failed: a POST
        # retried without its Idempotency-Key would make one per attempt.
        made = len(scans) - scans_before
        assert len(started) <= made <= len(started) + len(failures), (
            made, len(started), failures)
        m.umount()


def peak_rss_mib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    raise AssertionError("no VmHWM for %d" % pid)


def read_everything_twice(m):
    """grep -r over vulns/ twice and all.jsonl: every finding, the views'
    links and the stream; returns the number of findings read."""
    for _ in range(2):
        n = 0
        for name in sorted(os.listdir(m.path("vulns"))):
            if name.endswith(".json"):
                with open(m.path("vulns", name), "rb") as f:
                    json.loads(f.read())
                n += 1
        for view in ("by-severity", "by-status"):
            for d in os.listdir(m.path("vulns", view)):
                for link in os.listdir(m.path("vulns", view, d)):
                    os.lstat(m.path("vulns", view, d, link))
        with open(m.path("vulns", "all.jsonl"), "rb") as f:
            assert f.read().count(b"\n") == n
    return n


def sanitized(pid):
    """ASan's shadow memory and quarantine, or valgrind's, make RSS
    meaningless."""
    with open("/proc/%d/maps" % pid) as f:
        maps = f.read()
    return "libasan" in maps or "vgpreload" in maps


def test_memory_follows_the_cache_cap_not_the_data():
    # 8,000 findings are ~11 MB of list pages and ~11 MB of rendered
    # files. With cache_size=2 the peak stays within the cap plus a fixed
    # overhead; with the cap lifted the same reads hold more (24-25 vs 32
    # MiB measured; 26 vs 37 before pages were parsed into an arena, and
    # prefetched pages may stand over the cap until read), which shows the
    # cap is what bounds it.
    peaks = {}
    with Sim(apps=20, vulns=8000, scan_seconds=1) as sim:
        for cap in (2, 512):
            with Mount(sim.url, token=sim.creds["admin_token"],
                       options=["cache_size=%d" % cap,
                                "cache_ttl=300"]) as m:
                assert read_everything_twice(m) == 8000
                peaks[cap] = peak_rss_mib(m.proc.pid)
                asan = sanitized(m.proc.pid)
                m.umount()
    if asan:
        return  # the reads above still ran; the plain build checks RSS
    # The fixed part: code, libraries, FUSE and curl buffers, and ~0.2 KiB
    # per finding looked up (the inode table follows the data).
    assert peaks[2] <= 2 + 40, peaks
    assert peaks[512] >= peaks[2] + 5, peaks
