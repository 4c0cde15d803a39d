"""test_fs_export.py - apisecfs --export URL DIR: the mount's tree in a plain
directory (issue 18, part 2).

The export must show what a mount shows (names, bytes, mtimes, view links)
without the control files; re-runs are incremental (ETags kept in
DIR/.apisecfs-export/, unchanged files keep inode and mtime, one 304 per
unchanged page); faults never leave half a file; nothing is written
outside DIR; exit statuses are the mount's."""

import os
import pty
import re
import shutil
import stat
import subprocess
import tempfile

import pytest

from fsutil import BIN, SLOW, WRAP, Mount, Sim, api_items, write_secret

# Control files a mount shows and an export leaves out.
CONTROL = {"new", "triage", "scan", "cancel", "wait", "events", ".refresh",
           ".stats"}
STATE = ".apisecfs-export"
EXIT_USAGE, EXIT_CREDENTIAL, EXIT_PLATFORM, EXIT_DIR = 1, 2, 3, 4
# Each request with a token updates that token's lastUsedAt: tokens/*.json
# change between any two looks at the platform.
LAST_USED = re.compile(rb'"lastUsedAt": "[^"]*"')


def export(sim, dest, token=None, options=(), args=(), stderr=None,
           timeout=180):
    """Run apisecfs --export to the end; returns the CompletedProcess
    (stderr checked for sanitizer reports)."""
    tokdir = tempfile.mkdtemp(prefix="apisecfs-export-tok-")
    try:
        opts = ["token_file=" + write_secret(
            tokdir, "token", token or sim.creds["admin_token"])]
        opts += list(options)
        cmd = WRAP + [BIN, "--export", "-o", ",".join(opts)] + list(args) + \
            [sim.url, str(dest)]
        env = dict(os.environ)
        env.pop("APISECFS_TOKEN", None)
        r = subprocess.run(cmd, stdout=subprocess.PIPE,
                           stderr=stderr or subprocess.PIPE, text=True,
                           env=env, timeout=timeout * SLOW)
    finally:
        shutil.rmtree(tokdir)
    err = r.stderr or ""
    for bad in ("ERROR: AddressSanitizer", "runtime error:", "ThreadSanitizer",
                "ERROR: LeakSanitizer", "Invalid read", "Invalid write"):
        assert bad not in err, err
    return r


def export_ok(sim, dest, **kw):
    r = export(sim, dest, **kw)
    assert r.returncode == 0, r.stderr
    return r


def read(path, rel=""):
    with open(path, "rb") as f:
        data = f.read()
    if rel.startswith("tokens/"):
        data = LAST_USED.sub(b'"lastUsedAt": ""', data)
    return data


def tree_entries(root):
    """{relative path: lstat} of everything under root but the export's
    own state directory."""
    out = {}
    for d, dirs, files in os.walk(root):
        rel = os.path.relpath(d, root)
        if rel == ".":
            dirs[:] = [x for x in dirs if x != STATE]
        for name in dirs + files:
            p = os.path.normpath(os.path.join(rel, name))
            out[p] = os.lstat(os.path.join(root, p))
    return out


def files_of(root):
    return {p: read(os.path.join(root, p), p)
            for p, st in tree_entries(root).items()
            if stat.S_ISREG(st.st_mode)}


def vuln_id(sim, n=0):
    st, _, body = sim.request("GET", "/v1/vulnerabilities?limit=20",
                              token=sim.creds["admin_token"])
    assert st == 200
    return body["items"][n]["vulnerabilityId"]


def set_status(sim, vid, status):
    st, _, body = sim.request("PATCH", "/v1/vulnerabilities/" + vid,
                              token=sim.creds["admin_token"],
                              body={"status": status})
    assert st == 200, body


def assert_no_half_file(dest, *snapshots):
    """Every file in dest is whole: byte for byte one of the snapshots'
    versions of it; no temporary file is left."""
    for rel, data in files_of(dest).items():
        assert any(snap.get(rel) == data for snap in snapshots), rel
    tmp = os.path.join(dest, STATE, "tmp")
    assert not os.path.exists(tmp) or os.listdir(tmp) == []


# ---- same tree as a mount ---------------------------------------------------


def test_export_is_the_mount_without_control_files(sim, tmp_path):
    # Data mtimes are older than the test; nodes made by the mount show
    # the second they were made (whole seconds: not before t0).
    t0 = int(os.stat(tmp_path).st_mtime)
    dest = tmp_path / "out"
    with Mount(sim.url, token=sim.creds["admin_token"],
               options=["cache_ttl=30"]) as m:
        export_ok(sim, dest)
        mnt = tree_entries(m.mnt)
        exp = tree_entries(dest)
        shown = set()
        for rel, st in mnt.items():
            mp, ep = m.path(rel), os.path.join(dest, rel)
            name = os.path.basename(rel)
            if stat.S_ISLNK(st.st_mode):
                target = os.readlink(mp)
                if ".ctl" in target.split("/"):
                    if name in CONTROL:
                        assert rel not in exp, rel
                        continue
                    # Read through the control mount (spec uploads): the
                    # export holds the bytes a read gives.
                    assert stat.S_ISREG(exp[rel].st_mode), rel
                    assert read(mp) == read(ep), rel
                else:
                    assert stat.S_ISLNK(exp[rel].st_mode), rel
                    assert os.readlink(ep) == target, rel
                    assert exp[rel].st_mtime == st.st_mtime, rel
            elif stat.S_ISDIR(st.st_mode):
                assert stat.S_ISDIR(exp[rel].st_mode), rel
            else:
                assert stat.S_ISREG(exp[rel].st_mode), rel
                assert read(mp, rel) == read(ep, rel), rel
                assert exp[rel].st_size == st.st_size, rel
            if st.st_mtime < t0:  # from updatedAt / createdAt
                assert exp[rel].st_mtime == st.st_mtime, rel
            shown.add(rel)
        assert set(exp) == shown
        # scans/ID/diff/new/ is a directory of links, not a control file.
        assert not set(CONTROL) & {os.path.basename(p) for p in exp
                                   if not (p.endswith("/diff/new") and
                                           stat.S_ISDIR(exp[p].st_mode))}
        assert any(p.endswith("/diff/new") for p in exp)
        assert any(p.startswith("vulns/by-severity/") for p in exp)

        # And diff(1) agrees: nothing differs beyond the control files.
        r = subprocess.run(["diff", "-r", "--no-dereference",
                            "-I", '"lastUsedAt"', m.mnt, str(dest)],
                           capture_output=True, text=True)
        assert r.returncode in (0, 1) and not r.stderr, r.stderr
        allowed = [
            re.compile(r"^Only in %s: %s$" % (re.escape(str(dest)),
                                              re.escape(STATE))),
            re.compile(r"^Only in %s(/.*)?: (%s)$" % (
                re.escape(m.mnt), "|".join(map(re.escape, CONTROL)))),
            re.compile(r"^File %s/.* is a symbolic link while file %s/.* is a "
                       r"regular file$" % (re.escape(m.mnt),
                                           re.escape(str(dest)))),
        ]
        for line in r.stdout.splitlines():
            assert any(a.match(line) for a in allowed), line


# ---- incremental ------------------------------------------------------------


def test_rerun_rewrites_only_what_changed_with_one_304_a_page(sim, tmp_path):
    dest = tmp_path / "out"
    vid = vuln_id(sim, 3)
    set_status(sim, vid, "ACTIVE")
    sim.reset_stats()
    export_ok(sim, dest)
    first = sim.stats()
    assert set(first["status"]) == {"200"}
    before = {p: (st.st_ino, st.st_mtime_ns)
              for p, st in tree_entries(dest).items()}

    # Nothing changed: every page is one conditional GET answered 304 but
    # /v1/me (never conditional) and the token list, which may change by
    # itself (our own token's lastUsedAt, to the second).
    sim.reset_stats()
    export_ok(sim, dest)
    same = sim.stats()
    assert same["total"] == first["total"]
    assert same["routes"] == first["routes"]
    fresh = same["status"].get("200", 0)
    assert 1 <= fresh <= 2, same["status"]
    assert same["status"].get("304", 0) == first["total"] - fresh
    assert all(r["ifNoneMatch"] for r in same["recent"]
               if r["path"] not in ("/v1/me",))
    after = {p: (st.st_ino, st.st_mtime_ns)
             for p, st in tree_entries(dest).items()
             if p.split("/")[0] != "tokens"}
    assert after == {p: v for p, v in before.items()
                     if p.split("/")[0] != "tokens"}

    # One finding changes through the API.
    set_status(sim, vid, "DISMISSED")
    sim.reset_stats()
    export_ok(sim, dest)
    third = sim.stats()
    assert third["total"] == first["total"]
    assert third["routes"] == first["routes"]
    n200 = third["status"]["200"]
    assert third["status"] == {"200": n200, "304": third["total"] - n200}
    # GET /v1/me, the token list, and the pages and reports that hold the
    # finding: its severity's, application's and scan's lists, the scan's
    # two reports.
    assert 3 <= n200 <= 8
    for r in third["recent"]:
        if r["status"] == 200:
            assert r["path"] in ("/v1/me", "/v1/tokens",
                                 "/v1/vulnerabilities") or \
                re.match(r"^/v1/scans/[^/]+/report$", r["path"]), r

    now = tree_entries(dest)
    mine = "vulns/%s.json" % vid
    assert now[mine].st_ino != before[mine][0]  # replaced, by rename
    assert b'"status": "DISMISSED"' in read(os.path.join(dest, mine))
    assert "vulns/by-status/DISMISSED/%s.json" % vid in now
    assert "vulns/by-status/ACTIVE/%s.json" % vid not in now
    others = [p for p in before if re.match(r"vulns/vuln_\w+\.json$", p)
              and p != mine]
    assert len(others) > 100
    for p in others:
        assert (now[p].st_ino, now[p].st_mtime_ns) == before[p], p


def test_rerun_removes_what_the_platform_no_longer_has(sim, tmp_path):
    dest = tmp_path / "out"
    st, _, tok = sim.request("POST", "/v1/tokens",
                             token=sim.creds["admin_token"],
                             body={"name": "export-gone",
                                   "scopes": ["apps:read"]})
    assert st == 201, tok
    export_ok(sim, dest)
    assert (dest / "tokens" / "export-gone.json").is_file()
    stray = dest / "vulns" / "stray.json"
    stray.write_text("{}")
    (dest / "apps" / "nothing-here").mkdir()
    (dest / "apps" / "nothing-here" / "x").write_text("x")
    st, _, _ = sim.request("DELETE", "/v1/tokens/" + tok["tokenId"],
                           token=sim.creds["admin_token"])
    assert st == 204
    export_ok(sim, dest)
    assert not (dest / "tokens" / "export-gone.json").exists()
    assert not stray.exists()
    assert not (dest / "apps" / "nothing-here").exists()
    assert (dest / "README").is_file()


def test_small_cache_still_one_request_a_page(tmp_path):
    """Memory stays the mount's (-o cache_size): pages evicted from memory
    come back from DIR/.apisecfs-export, not from the platform."""
    with Sim(apps=2, vulns=1500, scan_seconds=1) as big_sim:
        big_sim.reset_stats()
        export_ok(big_sim, tmp_path / "big")
        big = big_sim.stats()
        big_sim.reset_stats()
        r = export_ok(big_sim, tmp_path / "small",
                      options=["cache_size=3", "log_level=debug"])
        small = big_sim.stats()
    again = re.search(r"(\d+) pages read again from DIR", r.stderr)
    assert again and int(again.group(1)) > 0, r.stderr
    assert small["routes"] == big["routes"]
    assert files_of(tmp_path / "small") == files_of(tmp_path / "big")


# ---- faults -------------------------------------------------------------------


FAULTS = [
    pytest.param(dict(down=True), id="down"),
    pytest.param(dict(error_rate=1, error_status=503), id="503"),
    pytest.param(dict(truncate=True), id="cut-body"),
]


@pytest.mark.parametrize("prefix", ["/v1/vulnerabilities", "/v1/scans/"])
@pytest.mark.parametrize("fault", FAULTS)
def test_faults_fail_with_3_and_leave_no_half_file(clean, tmp_path, fault,
                                                   prefix):
    sim = clean
    good = tmp_path / "good"
    export_ok(sim, good)
    old = files_of(good)

    # A first export that fails part way.
    sim.set_faults(path_prefix=prefix, **fault)
    r = export(sim, tmp_path / "new", options=["retries=0"])
    sim.clear_faults()
    assert r.returncode == EXIT_PLATFORM, r.stderr
    assert_no_half_file(tmp_path / "new", old)

    # A re-run that fails part way after the data changed: each file is
    # the old version or the new one, never a mix.
    inc = tmp_path / "inc"
    shutil.copytree(good, inc, symlinks=True)
    vid = vuln_id(sim, 5)
    set_status(sim, vid, "RISK_ACCEPTED")
    try:
        export_ok(sim, tmp_path / "ref")
        sim.set_faults(path_prefix=prefix, **fault)
        r = export(sim, inc, options=["retries=0"])
        sim.clear_faults()
        assert r.returncode == EXIT_PLATFORM, r.stderr
        assert_no_half_file(inc, old, files_of(tmp_path / "ref"))
        # The next good run completes it.
        export_ok(sim, inc)
        assert files_of(inc) == files_of(tmp_path / "ref")
    finally:
        set_status(sim, vid, "ACTIVE")


def a_scan_id(sim):
    st, _, body = sim.request("GET", "/v1/scans?limit=5",
                              token=sim.creds["admin_token"])
    assert st == 200 and body["items"]
    return body["items"][0]["scanId"]


def test_one_failing_request_among_many_fails_the_run(clean, tmp_path):
    """Requests run concurrently (reading ahead of the writers): one of
    them failing, on one scan's report only, still fails the run with 3,
    and every file written is whole."""
    sim = clean
    good = tmp_path / "good"
    export_ok(sim, good)
    old = files_of(good)
    sid = a_scan_id(sim)
    sim.set_faults(path_prefix="/v1/scans/%s/report" % sid, error_rate=1,
                   error_status=503)
    inc = tmp_path / "inc"
    shutil.copytree(good, inc, symlinks=True)
    for dest in (tmp_path / "new", inc):
        sim.reset_stats()
        r = export(sim, dest, options=["retries=0"])
        assert r.returncode == EXIT_PLATFORM, r.stderr
        assert "scans/%s/report" % sid in r.stderr, r.stderr
        assert sim.stats()["status"].get("503", 0) >= 1
        assert_no_half_file(dest, old)
    sim.clear_faults()
    export_ok(sim, inc)
    assert files_of(inc) == old


def test_429s_amid_concurrent_requests_are_waited_out(clean, tmp_path):
    """The platform's rate limit answers some of the concurrent requests
    429 with Retry-After: they are waited out, and the export is the one
    a run without them writes."""
    sim = clean
    ref = tmp_path / "ref"
    export_ok(sim, ref)
    sim.set_faults(path_prefix="/v1/scans/", burst_429=4, retry_after=1)
    sim.reset_stats()
    export_ok(sim, tmp_path / "limited", options=["retries=0"])
    assert sim.stats()["status"].get("429", 0) == 4
    sim.clear_faults()
    assert files_of(tmp_path / "limited") == files_of(ref)
    assert {p: stat.S_IFMT(st.st_mode)
            for p, st in tree_entries(tmp_path / "limited").items()} == \
        {p: stat.S_IFMT(st.st_mode) for p, st in tree_entries(ref).items()}


def test_concurrency_is_max_conns_16_unless_given(sim, tmp_path):
    r = export_ok(sim, tmp_path / "a", options=["log_level=debug"])
    assert "export: 16 writers, 16 reading ahead" in r.stderr, r.stderr
    r = export_ok(sim, tmp_path / "b",
                  options=["log_level=debug", "max_conns=3"])
    assert "export: 3 writers, 3 reading ahead" in r.stderr, r.stderr
    assert files_of(tmp_path / "a") == files_of(tmp_path / "b")


@pytest.fixture(scope="module")
def big_sim():
    """Enough findings that vulns/ is written in parts by several
    writers at once (a part is 256 entries)."""
    with Sim(apps=2, vulns=1300, scan_seconds=1) as s:
        yield s


def test_a_big_directory_written_in_parts_is_whole_and_swept(big_sim,
                                                             tmp_path):
    sim = big_sim
    dest = tmp_path / "out"
    export_ok(sim, dest)
    ids = {v["vulnerabilityId"] for v in api_items(
        sim, "/v1/vulnerabilities", sim.creds["admin_token"])}
    assert len(ids) == 1300
    names = {n for n in os.listdir(dest / "vulns") if n.endswith(".json")}
    assert names == {i + ".json" for i in ids}
    # One writer alone writes the same tree.
    export_ok(sim, tmp_path / "one", options=["max_conns=1"])
    assert files_of(tmp_path / "one") == files_of(dest)

    # Re-run after one change and with a stray file: the sweep after the
    # last part removes the stray and nothing else; the one file changed
    # is replaced and the others keep inode and mtime.
    before = {p: (st.st_ino, st.st_mtime_ns)
              for p, st in tree_entries(dest).items()
              if p.startswith("vulns/vuln_")}
    (dest / "vulns" / "stray.json").write_text("{}")
    vid = sorted(ids)[700]
    st, _, _ = sim.request("PATCH", "/v1/vulnerabilities/" + vid,
                           token=sim.creds["admin_token"],
                           body={"status": "DISMISSED"})
    assert st == 200
    export_ok(sim, dest)
    assert not (dest / "vulns" / "stray.json").exists()
    now = {p: (st.st_ino, st.st_mtime_ns)
           for p, st in tree_entries(dest).items()
           if p.startswith("vulns/vuln_")}
    mine = "vulns/%s.json" % vid
    assert set(now) == set(before)
    assert now[mine][0] != before[mine][0]
    assert {p: v for p, v in now.items() if p != mine} == \
        {p: v for p, v in before.items() if p != mine}


def test_a_part_that_cannot_write_fails_the_run_and_no_more(big_sim,
                                                            tmp_path):
    """A file in the middle of a big directory that cannot be replaced
    (changed, and immutable: chattr +i holds even for root): the run
    fails with 4 and says where, the other parts stop, no half file is
    left, and a run after the obstacle is gone writes the whole tree."""
    if not shutil.which("chattr"):
        pytest.fail("chattr (e2fsprogs) is needed")
    sim = big_sim
    dest = tmp_path / "out"
    export_ok(sim, dest)
    old = files_of(dest)
    names = sorted(n for n in os.listdir(dest / "vulns")
                   if n.endswith(".json"))
    victim = dest / "vulns" / names[len(names) // 2]
    victim.write_text("{}\n")
    r = subprocess.run(["chattr", "+i", str(victim)], capture_output=True,
                       text=True)
    if r.returncode:
        pytest.fail("chattr +i on %s: %s" % (tmp_path, r.stderr))
    try:
        r = export(sim, dest)
    finally:
        subprocess.run(["chattr", "-i", str(victim)], check=True)
    assert r.returncode == EXIT_DIR, r.stderr
    assert "vulns/" + victim.name in r.stderr, r.stderr
    assert r.stderr.count("apisecfs: export:") == 1, r.stderr
    assert_no_half_file(dest, old, {"vulns/" + victim.name: b"{}\n"})
    export_ok(sim, dest)
    now = files_of(dest)
    assert {p: d for p, d in now.items() if not p.startswith("tokens/")} \
        == {p: d for p, d in old.items() if not p.startswith("tokens/")}


def test_only_writes_those_parts_and_leaves_the_rest(sim, tmp_path):
    full = tmp_path / "full"
    sim.reset_stats()
    export_ok(sim, full)
    all_requests = sim.stats()["total"]
    app = sorted(n for n in os.listdir(full / "apps")
                 if (full / "apps" / n).is_dir())[0]
    dest = tmp_path / "part"
    sim.reset_stats()
    export_ok(sim, dest, options=["only=vulns:apps/" + app])
    part = files_of(dest)
    # The same bytes and links as the whole tree's, for those parts only.
    want = {p: d for p, d in files_of(full).items()
            if p.startswith("vulns/") or p.startswith("apps/%s/" % app)}
    assert part == want
    links = {p: os.readlink(dest / p) for p, st in tree_entries(dest).items()
             if stat.S_ISLNK(st.st_mode)}
    assert links == {p: os.readlink(full / p)
                     for p, st in tree_entries(full).items()
                     if stat.S_ISLNK(st.st_mode) and p in links}
    assert any(p.startswith("vulns/by-severity/") for p in links)
    assert sorted(os.listdir(dest)) == sorted([STATE, "apps", "vulns"])
    assert os.listdir(dest / "apps") == [app]
    assert sim.stats()["total"] < all_requests

    # A whole export into the same DIR, then parts again: the parts are
    # rewritten incrementally and nothing outside them is swept.
    export_ok(sim, dest)
    assert (dest / "README").is_file()
    stray = dest / "vulns" / "stray.json"
    stray.write_text("{}")
    sim.reset_stats()
    # A '/' at a path's end (a shell's completion adds it) is dropped.
    export_ok(sim, dest, options=["only=vulns/"])
    st = sim.stats()
    assert st["status"].get("304", 0) >= 1
    assert not stray.exists()
    assert (dest / "README").is_file() and (dest / "scans").is_dir()
    assert files_of(dest) == files_of(full) | {
        p: d for p, d in files_of(dest).items() if p.startswith("tokens/")}


@pytest.mark.parametrize("only,why", [
    ("vulnz", "vulnz: No such file or directory"),
    ("vulns:apps/nothing", "apps/nothing: No such file or directory"),
    ("vulns/nothing/here", "No such file or directory"),
    ("README/x", "No such file or directory"),
    (".apisecfs-export", "No such file or directory"),
    ("vulns:vulns/by-status", "vulns/by-status is inside vulns"),
    ("vulns::apps", "separated by ':'"),
    ("/vulns", "separated by ':'"),
    ("vulns/../apps", "separated by ':'"),
    ("vulns//", "separated by ':'"),
    ("vulns:/", "separated by ':'"),
])
def test_only_refuses_what_is_not_a_path_of_the_tree(sim, tmp_path, only,
                                                     why):
    dest = tmp_path / "out"
    r = export(sim, dest, options=["only=" + only])
    assert r.returncode == EXIT_USAGE, r.stderr
    assert why in r.stderr, r.stderr
    assert r.stderr.count("\n") == 1, r.stderr
    assert not dest.exists() or \
        [p for p in os.listdir(dest) if p != STATE] == []


def test_only_a_part_the_credential_may_not_read_is_2(sim, tmp_path):
    # no_vulns_token has every read scope but vulns:read: a mount shows
    # vulns/ with mode 0 (EACCES); asked for by name, it is refused as
    # the credential's, and nothing is written.
    dest = tmp_path / "out"
    r = export(sim, dest, token=sim.creds["no_vulns_token"],
               options=["only=apps:vulns"])
    assert r.returncode == EXIT_CREDENTIAL, r.stderr
    assert "vulns: Permission denied" in r.stderr, r.stderr
    assert [p for p in os.listdir(dest) if p != STATE] == []
    export_ok(sim, dest, token=sim.creds["no_vulns_token"],
              options=["only=apps"])


def test_only_is_an_export_option(sim, tmp_path):
    r = subprocess.run(WRAP + [BIN, "-f", "-o", "only=vulns", sim.url,
                               str(tmp_path)],
                       capture_output=True, text=True, timeout=30 * SLOW)
    assert r.returncode == EXIT_USAGE
    assert "only is an option of --export" in r.stderr


def test_platform_unreachable_is_3(sim, tmp_path):
    sim.set_faults(down=True)
    try:
        r = export(sim, tmp_path / "out", options=["retries=0"])
    finally:
        sim.clear_faults()
    assert r.returncode == EXIT_PLATFORM, r.stderr
    assert "apisecfs:" in r.stderr
    assert [p for p in os.listdir(tmp_path / "out") if p != STATE] == []


# ---- the directory --------------------------------------------------------------


def test_missing_dir_is_created(sim, tmp_path):
    dest = tmp_path / "a" / "b" / "c"
    export_ok(sim, dest)
    assert (dest / "README").is_file()
    st = os.stat(dest / STATE)
    assert stat.S_IMODE(st.st_mode) == 0o700


def test_foreign_dir_is_refused_with_4(sim, tmp_path):
    dest = tmp_path / "home"
    dest.mkdir()
    (dest / "notes.txt").write_text("mine")
    r = export(sim, dest)
    assert r.returncode == EXIT_DIR, r.stderr
    assert "neither empty nor an earlier export" in r.stderr
    assert sorted(os.listdir(dest)) == ["notes.txt"]
    assert (dest / "notes.txt").read_text() == "mine"
    afile = tmp_path / "afile"
    afile.write_text("x")
    r = export(sim, afile)
    assert r.returncode == EXIT_DIR, r.stderr
    assert afile.read_text() == "x"


def test_links_planted_in_dir_are_never_written_through(sim, tmp_path):
    dest = tmp_path / "out"
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "sentinel").write_text("untouched")
    export_ok(sim, dest)
    readme = read(dest / "README")
    app_json = read(dest / "apps" / "payments-api" / "app.json")

    shutil.rmtree(dest / "vulns")
    os.symlink(outside, dest / "vulns")
    os.unlink(dest / "README")
    os.symlink(outside / "sentinel", dest / "README")
    os.unlink(dest / "apps" / "payments-api" / "app.json")
    os.symlink(outside / "sentinel", dest / "apps" / "payments-api" / "app.json")
    shutil.rmtree(dest / "scans")
    os.symlink("../outside", dest / "scans")
    export_ok(sim, dest)

    assert sorted(os.listdir(outside)) == ["sentinel"]
    assert (outside / "sentinel").read_text() == "untouched"
    for p in ("vulns", "scans"):
        assert not os.path.islink(dest / p) and (dest / p).is_dir()
    assert not os.path.islink(dest / "README")
    assert read(dest / "README") == readme
    assert read(dest / "apps" / "payments-api" / "app.json") == app_json
    assert any(n.startswith("vuln_") for n in os.listdir(dest / "vulns"))

    # The state directory as a link out of DIR: not an earlier export.
    shutil.rmtree(dest / STATE)
    fake = tmp_path / "fake-state"
    fake.mkdir()
    os.symlink(fake, dest / STATE)
    r = export(sim, dest)
    assert r.returncode == EXIT_DIR, r.stderr
    assert os.listdir(fake) == []


# ---- usage, credential, secrets, progress ---------------------------------------


def test_exit_statuses_for_usage_and_credential(sim, tmp_path):
    r = export(sim, tmp_path / "x", args=["-o", "no_such_option=1"])
    assert r.returncode == EXIT_USAGE, r.stderr
    r = subprocess.run([BIN, "--export", sim.url], capture_output=True,
                       text=True)
    assert r.returncode == EXIT_USAGE and "missing DIR" in r.stderr
    r = export(sim, tmp_path / "y", token=sim.creds["expired_token"])
    assert r.returncode == EXIT_CREDENTIAL, r.stderr
    assert sim.creds["expired_token"] not in r.stderr


def test_state_holds_no_secret_and_is_private(sim, tmp_path):
    dest = tmp_path / "out"
    export_ok(sim, dest)
    token = sim.creds["admin_token"].encode()
    pages = dest / STATE / "pages"
    names = os.listdir(pages)
    assert names
    for d, _, files in os.walk(dest):
        for f in files:
            p = os.path.join(d, f)
            if not os.path.islink(p):
                assert token not in read(p), p
    for n in names:
        assert stat.S_IMODE(os.stat(pages / n).st_mode) == 0o600


def test_progress_only_on_a_terminal(sim, tmp_path):
    r = export_ok(sim, tmp_path / "quiet")
    assert r.stderr == ""
    master, slave = pty.openpty()
    try:
        r = export(sim, tmp_path / "tty", stderr=slave)
    finally:
        os.close(slave)
    out = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    os.close(master)
    assert r.returncode == 0
    assert b"apisecfs: exported " in out and b" files to " in out
