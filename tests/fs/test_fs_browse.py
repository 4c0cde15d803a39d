"""test_fs_browse.py - the read-only tree through the kernel, with the
real tools: sizes, names, grep, jq, links, scopes, request counts."""

import errno
import json
import math
import os
import stat
import subprocess
import time

import pytest

from fsutil import Mount, Sim, api_items, walk_files

TOP_LEVEL = {"README", "whoami.json", ".refresh", ".stats", "apps", "scans",
             "vulns", "teams", "tokens"}


SEVERITIES = ("critical", "high", "medium", "low", "info")


def severity_pages(sim):
    """List requests for vulns/: one stream per severity, fetched at once."""
    tok = sim.creds["admin_token"]
    return sum(math.ceil(len(api_items(sim, "/v1/vulnerabilities?severity=" + s,
                                       tok)) / 500) for s in SEVERITIES)


def test_top_level(mnt):
    assert set(os.listdir(mnt.mnt)) == TOP_LEVEL
    readme = open(mnt.path("README")).read()
    assert "scans/new" in readme and "by-severity" in readme


def test_whoami_shows_identity_never_secret(sim, mnt):
    who = json.load(open(mnt.path("whoami.json")))
    assert who["authType"] == "api_token"
    assert "vulns:read" in who["scopes"]
    text = open(mnt.path("whoami.json")).read()
    assert sim.creds["admin_token"] not in text


def test_every_file_size_matches_bytes(mnt):
    files = walk_files(mnt.mnt)
    assert len(files) > 300  # every finding plus the apps', scans' files
    for p in files:
        st = os.stat(p)
        if not st.st_mode & 0o444:
            continue  # control files: nothing to read
        if p == mnt.path(".stats"):
            continue  # new bytes at every open: test_fs_stats.py
        with open(p, "rb") as f:
            data = f.read()
        assert st.st_size == len(data), p
        # Partial reads at odd offsets return exactly those bytes.
        with open(p, "rb") as f:
            for off in (0, 1, len(data) // 3, max(len(data) - 1, 0)):
                f.seek(off)
                assert f.read(7) == data[off:off + 7], (p, off)


def test_app_names_are_safe_unique_and_map_back(sim, mnt):
    apps = api_items(sim, "/v1/applications", sim.creds["admin_token"])
    names = [n for n in os.listdir(mnt.path("apps")) if n != "new"]
    assert len(names) == len(apps)
    for n in names:
        assert "/" not in n and n not in (".", "..") and "\0" not in n
        assert len(n.encode()) <= 255
        assert all(ord(c) >= 0x20 for c in n)
    by_id = {a["applicationId"]: a for a in apps}
    seen = set()
    for n in names:
        app = json.load(open(mnt.path("apps", n, "app.json")))
        assert app == by_id[app["applicationId"]]
        seen.add(app["applicationId"])
    assert seen == set(by_id)
    # The hostile names of the simulator are all there, mapped.
    assert "payments-api" in names
    assert "a_b" in names and any(n.startswith("a_b~") for n in names)
    assert "_.." in names and "_." in names
    assert any(n.startswith("-") for n in names)


def test_mtimes_come_from_the_api(sim, mnt):
    apps = api_items(sim, "/v1/applications", sim.creds["admin_token"])
    app = next(a for a in apps if a["applicationName"] == "payments-api")
    want = time.mktime(time.strptime(app["updatedAt"], "%Y-%m-%dT%H:%M:%SZ")) \
        - time.timezone
    assert os.stat(mnt.path("apps", "payments-api", "app.json")).st_mtime == want


def test_grep_r_equals_the_api(sim, mnt):
    vulns = api_items(sim, "/v1/vulnerabilities", sim.creds["admin_token"])
    want = {v["vulnerabilityId"] + ".json" for v in vulns
            if "API1:2023" in v["category"]}
    out = subprocess.run(["grep", "-rl", "API1:2023", "."], cwd=mnt.path("vulns"),
                         capture_output=True, text=True, check=True).stdout
    got = {os.path.basename(p) for p in out.split()
           if os.path.basename(p) != "all.jsonl"}
    assert want and got == want


def test_jq_over_findings(sim, mnt):
    vulns = api_items(sim, "/v1/vulnerabilities", sim.creds["admin_token"])
    want = sum(1 for v in vulns if v["severity"] == "critical")
    out = subprocess.run("jq -s 'map(select(.severity==\"critical\"))|length' "
                         "vulns/*.json", shell=True, cwd=mnt.mnt,
                         capture_output=True, text=True, check=True).stdout
    assert int(out) == want
    lines = open(mnt.path("vulns", "all.jsonl")).read().splitlines()
    got = [json.loads(x) for x in lines]
    # Most severe first; every finding exactly once.
    order = ["critical", "high", "medium", "low", "info"]
    assert [order.index(v["severity"]) for v in got] == \
        sorted(order.index(v["severity"]) for v in got)
    key = lambda v: v["vulnerabilityId"]  # noqa: E731
    assert sorted(got, key=key) == sorted(vulns, key=key)


def test_links_resolve_to_the_right_findings(sim, mnt):
    for sev in ("critical", "high", "medium", "low", "info"):
        d = mnt.path("vulns", "by-severity", sev)
        for name in os.listdir(d):
            p = os.path.join(d, name)
            assert os.path.islink(p)
            assert os.readlink(p) == "../../" + name
            assert json.load(open(p))["severity"] == sev
    app = mnt.path("apps", "payments-api")
    for name in os.listdir(os.path.join(app, "vulns")):
        v = json.load(open(os.path.join(app, "vulns", name)))
        app_id = json.load(open(os.path.join(app, "app.json")))["applicationId"]
        assert v["applicationId"] == app_id
    for name in os.listdir(os.path.join(app, "scans")):
        scan = json.load(open(os.path.join(app, "scans", name, "scan.json")))
        assert scan["scanId"] == name


def test_links_need_no_inode_of_their_own(mnt):
    # The views' links are answered from the directory's packed table: a
    # link's inode number (top bit set) is the one readdir gave, lstat and
    # readlink agree with each other, and nothing is made per link (memory
    # stays flat when grep -r lstat's 2 links per finding).
    d = mnt.path("vulns", "by-status", "ACTIVE")
    seen = set()
    for de in os.scandir(d):
        st = os.lstat(de.path)
        assert stat.S_ISLNK(st.st_mode) and st.st_ino == de.inode()
        assert st.st_ino >= 1 << 63
        target = os.readlink(de.path)
        assert st.st_size == len(target) and target == "../../" + de.name
        assert os.stat(de.path).st_ino < 1 << 62  # the finding itself
        seen.add(st.st_ino)
    assert len(seen) == len(os.listdir(d)) > 0
    # rm of a link is refused, not "no such file".
    with pytest.raises(PermissionError):
        os.unlink(os.path.join(d, sorted(os.listdir(d))[0]))


def test_scan_directory(mnt):
    scans = [s for s in os.listdir(mnt.path("scans")) if s != "new"]
    assert scans
    done = 0
    for s in scans:
        scan = json.load(open(mnt.path("scans", s, "scan.json")))
        status = open(mnt.path("scans", s, "status")).read()
        assert status == scan["status"] + "\n"
        if scan["status"] == "Completed":
            done += 1
            sarif = json.load(open(mnt.path("scans", s, "report.sarif")))
            assert sarif["version"] == "2.1.0"
            assert len(sarif["runs"][0]["results"]) == \
                len(os.listdir(mnt.path("scans", s, "vulns")))
    assert done


def test_standard_tools_copy_the_tree(mnt, tmp_path):
    src = mnt.path("apps")
    subprocess.run(["cp", "-r", src, str(tmp_path / "cp")], check=True)
    subprocess.run(["diff", "-r", "--no-dereference", src, str(tmp_path / "cp")],
                   check=True)
    subprocess.run(["rsync", "-a", mnt.path("vulns") + "/", str(tmp_path / "rs")],
                   check=True)
    subprocess.run(["diff", "-r", "--no-dereference", mnt.path("vulns"),
                    str(tmp_path / "rs")], check=True)
    tar = subprocess.run(["tar", "-cf", "-", "-C", mnt.mnt, "teams", "tokens"],
                         capture_output=True, check=True).stdout
    listing = subprocess.run(["tar", "-tvf", "-"], input=tar,
                             capture_output=True, check=True).stdout.decode()
    assert "team.json" in listing and "members" in listing
    found = subprocess.run(["find", ".", "-type", "f"], cwd=mnt.mnt,
                           capture_output=True, text=True, check=True).stdout
    assert "./vulns/vuln_00001.json" in found.split()


def test_missing_file_is_enoent(mnt):
    with pytest.raises(FileNotFoundError):
        open(mnt.path("vulns", "vuln_99999.json"))
    with pytest.raises(FileNotFoundError):
        os.stat(mnt.path("apps", "no-such-app"))


def test_read_only(mnt):
    with pytest.raises(OSError) as e:
        open(mnt.path("vulns", "vuln_00001.json"), "w")
    assert e.value.errno in (errno.EACCES, errno.EPERM)
    with pytest.raises(OSError):
        os.mkdir(mnt.path("apps", "x"))


def test_scopes_are_visible_and_enforced(sim):
    with Mount(sim.url, token=sim.creds["no_vulns_token"]) as m:
        st = os.stat(m.path("vulns"))
        assert stat.S_IMODE(st.st_mode) == 0
        with pytest.raises(PermissionError):
            os.listdir(m.path("vulns"))
        with pytest.raises(PermissionError):
            open(m.path("vulns", "vuln_00001.json"))
        # Readable areas still work; nothing writable without write scopes.
        assert "payments-api" in os.listdir(m.path("apps"))
        assert stat.S_IMODE(os.stat(m.path("apps", "new")).st_mode) == 0
        assert stat.S_IMODE(os.stat(m.path("scans", "new")).st_mode) == 0
        m.umount()
    with Mount(sim.url, token=sim.creds["readonly_token"]) as m:
        assert stat.S_IMODE(os.stat(m.path("vulns")).st_mode) == 0o555
        spec = [n for n in os.listdir(m.path("apps", "payments-api"))
                if n.startswith("spec.")][0]
        assert stat.S_IMODE(os.stat(m.path("apps", "payments-api", spec)).st_mode) \
            == 0o444
        m.umount()


def test_listing_costs_pages_not_items():
    with Sim(apps=10, vulns=1234, scan_seconds=1) as sim:
        with Mount(sim.url, token=sim.creds["admin_token"],
                   options=["cache_ttl=60"]) as m:
            pages = severity_pages(sim)
            assert pages <= math.ceil(1234 / 500) + 5
            sim.reset_stats()
            subprocess.run(["ls", "-l", m.path("vulns")], check=True,
                           capture_output=True)
            routes = sim.stats()["routes"]
            # all.jsonl's size and by-severity/ come from the same pages.
            assert routes.get("GET /v1/vulnerabilities", 0) == pages
            assert routes.get("GET /v1/vulnerabilities/{id}", 0) == 0
            assert sum(routes.values()) <= math.ceil(1234 / 500) + 5
            # Reading every file within the TTL costs nothing more.
            subprocess.run(["cat"] + [m.path("vulns", n) for n in
                                      os.listdir(m.path("vulns"))
                                      if n.endswith(".json")],
                           check=True, capture_output=True)
            subprocess.run(["ls", "-l", m.path("vulns")], check=True,
                           capture_output=True)
            assert sim.stats()["total"] == sum(routes.values())
            m.umount()


def test_after_ttl_pages_are_not_downloaded():
    # After the TTL one round asks what changed (updatedSince) and the
    # application list is revalidated: no page is asked, whatever their
    # number; and .refresh revalidates every page (one 304 each).
    with Sim(apps=10, vulns=700, scan_seconds=1) as sim:
        with Mount(sim.url, token=sim.creds["admin_token"],
                   options=["cache_ttl=1"]) as m:
            pages = severity_pages(sim)
            os.listdir(m.path("vulns"))
            time.sleep(1.3)
            sim.reset_stats()
            os.listdir(m.path("vulns"))
            s = sim.stats()
            assert s["routes"].get("GET /v1/vulnerabilities") == 1, s
            assert s["routes"].get("GET /v1/applications", 0) <= 1, s
            assert s["status"].get("200", 0) == 1, s  # the round's answer
            sim.reset_stats()
            with open(m.path(".refresh"), "w") as f:
                f.write("\n")
            os.listdir(m.path("vulns"))
            s = sim.stats()
            assert s["routes"].get("GET /v1/vulnerabilities") == pages, s
            assert s["status"].get("304") >= pages, s
            m.umount()


def test_after_ttl_pages_are_revalidated_even_when_they_did_not_fit():
    # cache_size=1: half a MiB of responses, and one page of 500 findings
    # is ~700 KB, so no page stays. Their ghosts (ETag, version,
    # nextToken) do: after the TTL, one 304 per page, no download.
    with Sim(apps=10, vulns=2600, scan_seconds=1) as sim:
        with Mount(sim.url, token=sim.creds["admin_token"],
                   options=["cache_ttl=1", "cache_size=1"]) as m:
            pages = severity_pages(sim)
            assert pages > 5
            sim.reset_stats()
            first = sorted(os.listdir(m.path("vulns")))
            # all.jsonl's size was measured while the listing parsed its
            # pages: no page is fetched twice though none stayed.
            size = os.stat(m.path("vulns", "all.jsonl")).st_size
            assert sim.stats()["routes"].get("GET /v1/vulnerabilities") \
                == pages
            with open(m.path("vulns", "all.jsonl"), "rb") as f:
                assert len(f.read()) == size
            time.sleep(1.3)
            for _ in range(2):
                sim.reset_stats()
                assert sorted(os.listdir(m.path("vulns"))) == first
                # all.jsonl's index stands on the same round: the ghosts
                # of pages that did not fit are renewed, not asked.
                assert os.stat(m.path("vulns", "all.jsonl")).st_size == size
                s = sim.stats()
                assert s["routes"].get("GET /v1/vulnerabilities") == 1, s
                # The round's answer, and the application list, which
                # did not fit either.
                assert s["routes"].get("GET /v1/applications", 0) <= 1, s
                time.sleep(1.3)
            # A changed finding: its page comes back whole (and then the
            # listing is rebuilt from every page: those that did not fit
            # are downloaded again), and the change shows.
            admin = sim.creds["admin_token"]
            name = [n for n in first if n.startswith("vuln_")][0]
            vid = name[:-len(".json")]
            st, _, _ = sim.request("PATCH", "/v1/vulnerabilities/" + vid,
                                   token=admin,
                                   body={"status": "RESOLVED"})
            assert st == 200
            sim.reset_stats()
            os.listdir(m.path("vulns"))
            s = sim.stats()
            assert s["status"].get("200", 0) >= 1
            got = json.load(open(m.path("vulns", name)))
            assert got["status"] == "RESOLVED"
            m.umount()


def test_sigterm_unmounts_cleanly(sim):
    m = Mount(sim.url, token=sim.creds["readonly_token"])
    os.listdir(m.path("apps"))
    m.proc.terminate()
    assert m.proc.wait(timeout=20) == 0
    m.log.close()
    assert not os.path.ismount(m.mnt)


def test_status_views_share_one_walk_of_the_pages():
    # by-status/S/ filters the five severity streams. With a cache too
    # small to keep them (cache_size=1), listing the views one after the
    # other (as grep -r and find do) must still download each page once
    # for all of them, not once per view; and each view must hold exactly
    # the API's set.
    with Sim(apps=10, vulns=2600, scan_seconds=1) as sim:
        admin = sim.creds["admin_token"]
        truth = {}
        for v in api_items(sim, "/v1/vulnerabilities", admin):
            truth.setdefault(v["status"], set()).add(
                v["vulnerabilityId"] + ".json")
        with Mount(sim.url, token=admin,
                   options=["cache_size=1", "cache_ttl=300"]) as m:
            pages = severity_pages(sim)
            views = sorted(os.listdir(m.path("vulns", "by-status")))
            assert set(truth) <= set(views)
            sim.reset_stats()
            got = {d: set(os.listdir(m.path("vulns", "by-status", d)))
                   for d in views}
            n = sim.stats()["routes"].get("GET /v1/vulnerabilities", 0)
            assert n <= pages, (n, pages)
            for d in views:
                assert got[d] == truth.get(d, set()), d
            # After a refresh (the stash is spent or stale): still right.
            with open(m.path(".refresh"), "w") as f:
                f.write("1\n")
            for d in views:
                assert set(os.listdir(m.path("vulns", "by-status", d))) \
                    == got[d], d
            m.umount()


def test_a_killed_daemon_leaves_a_mount_fusermount_removes(sim):
    # What the man page promises after a crash: ENOTCONN, then
    # fusermount3 -u leaves the plain, empty mount point behind.
    m = Mount(sim.url, token=sim.creds["readonly_token"])
    os.listdir(m.path("apps"))
    m.proc.kill()
    m.proc.wait(timeout=20)
    m.log.close()
    with pytest.raises(OSError) as e:
        os.listdir(m.mnt)
    assert e.value.errno == errno.ENOTCONN
    r = subprocess.run(["fusermount3", "-u", m.mnt], capture_output=True)
    assert r.returncode == 0, r.stderr
    assert not os.path.ismount(m.mnt)
    assert os.listdir(m.mnt) == []


def test_evicted_files_come_back_right_with_a_tiny_cache():
    """cache_size=1 holds ~350 of 2,000 findings: the rest are evicted and
    rendered again from their list page when read, byte for byte what the
    API says, at the size stat gave. Two tokens share a name, so one file
    is renamed (name~id.json) and must still get its own bytes back."""
    with Sim(apps=5, vulns=2000, scan_seconds=1) as sim:
        admin = sim.creds["admin_token"]
        sim.mint_token(["apps:read"], name="twin")
        sim.mint_token(["vulns:read"], name="twin")
        with Mount(sim.url, token=admin,
                   options=["cache_size=1", "cache_ttl=300"]) as m:
            tokens = {t["tokenId"]: t for t in api_items(sim, "/v1/tokens",
                                                         admin)}
            twins = [n for n in os.listdir(m.path("tokens"))
                     if n.startswith("twin")]
            assert len(twins) == 2 and "twin.json" in twins, twins

            def read_tokens():
                got = {}
                for n in twins:
                    t = json.load(open(m.path("tokens", n)))
                    got[t["tokenId"]] = t
                return got
            first = read_tokens()
            assert len(first) == 2
            vulns = {v["vulnerabilityId"]: v
                     for v in api_items(sim, "/v1/vulnerabilities", admin)}
            sim.reset_stats()
            for _ in range(2):
                for vid, v in vulns.items():
                    p = m.path("vulns", vid + ".json")
                    data = open(p, "rb").read()
                    assert len(data) == os.stat(p).st_size
                    assert json.loads(data) == v
            # The second pass could not come from memory: pages were
            # fetched again (from the platform: the response cache is
            # tiny too).
            assert sim.stats()["routes"].get(
                "GET /v1/vulnerabilities", 0) > 0
            # Opened (through the control mount) after the data mount
            # read them and they were evicted: the open holds no bytes,
            # the first read renders them (tree_file.content, published
            # once to the handle's other readers).
            for vid in list(vulns)[:20]:
                with open(m.path(".ctl", "vulns", vid + ".json"), "rb") as f:
                    assert json.loads(f.read()) == vulns[vid]
            assert read_tokens() == first
            for tid, t in first.items():
                assert {k: t[k] for k in ("tokenId", "name", "scopes")} == \
                    {k: tokens[tid][k] for k in ("tokenId", "name", "scopes")}
            m.umount()
