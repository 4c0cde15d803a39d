"""test_fs_hardening.py - defects an adversarial pass found (issue 16):
rm by an unprivileged user, uid=/gid=/umask=, mode bits that follow a scope
change at once, the order of vulns/all.jsonl, links to a scan whose id is a
reserved name, tools' messages for namespace operations, 429s that never
fail a read, and the first read after an outage."""

import errno
import json
import os
import stat
import subprocess
import time

import pytest

from fsutil import TOP, Mount, api_items, run_apisecfs, start_scan

NOBODY = (65534, 65534)
STRANGER = (12345, 12345)  # another local user, with no passwd entry
SEVERITIES = ["critical", "high", "medium", "low", "info"]
SIM = dict(apps=6, vulns=150)


def as_user(user, *argv):
    """Run argv as an unprivileged user; (returncode, stderr)."""
    r = subprocess.run(list(argv), user=user[0], group=user[1],
                       extra_groups=[], capture_output=True, text=True,
                       timeout=60)
    return r.returncode, r.stderr


def mode(path):
    return stat.S_IMODE(os.lstat(path).st_mode)


def target_mode(path):
    """Mode of what path leads to (a control file is a link into the
    control mount)."""
    return stat.S_IMODE(os.stat(path).st_mode)


def mount_for(user, sim, token):
    """A mount whose files belong to user, for user's own commands: the
    daemon runs as user when it may open /dev/fuse (mode 0666 on a normal
    host; fusermount3 opens it with the caller's rights), else root mounts
    it with uid=, gid= and allow_other. The kernel then checks user's
    commands against the same owner and mode bits (default_permissions)."""
    rc, _ = as_user(user, "sh", "-c", "exec 3<>/dev/fuse")
    if rc == 0:
        return Mount(sim.url, token=token, run_as=user)
    m = Mount(sim.url, token=token,
              options=["uid=%d" % user[0], "gid=%d" % user[1],
                       "allow_other"])
    os.chmod(m.dir, 0o755)  # let user reach the mount point
    return m


# ---- 5: rm as an unprivileged user ------------------------------------------

def test_unprivileged_rm_follows_the_delete_scopes(sim):
    # default_permissions asks for write permission on an unlink's directory;
    # root skips that check, so only a non-root mount shows whether the
    # directories that hold deletable entries carry the owner's w bit.
    admin = sim.creds["admin_token"]
    st, _, tok = sim.request("POST", "/v1/tokens", token=admin,
                             body={"name": "victim", "scopes": ["apps:read"]})
    assert st == 201
    st, _, app = sim.request("POST", "/v1/applications", token=admin,
                             body={"applicationName": "doomed-app",
                                   "hostUrl": "https://doomed.example"})
    assert st == 201
    reads = ["tokens:read", "apps:read"]
    without = sim.mint_token(reads)
    with_delete = sim.mint_token(reads + ["tokens:delete", "apps:delete"])

    with mount_for(NOBODY, sim, without) as m:
        assert mode(m.path("tokens")) == 0o555
        assert mode(m.path("apps", "doomed-app")) == 0o555
        for p in (m.path("tokens", "victim.json"),
                  m.path("apps", "doomed-app", "app.json")):
            rc, err = as_user(NOBODY, "rm", "-f", p)
            assert rc != 0 and "Permission denied" in err, err
            assert os.path.exists(p)
        m.umount()

    with mount_for(NOBODY, sim, with_delete) as m:
        assert mode(m.path("tokens")) == 0o755
        assert mode(m.path("apps", "doomed-app")) == 0o755
        assert mode(m.path("apps")) == 0o555  # nothing in it is removed
        rc, err = as_user(NOBODY, "rm", m.path("tokens", "victim.json"))
        assert rc == 0, err
        rc, err = as_user(NOBODY, "rm",
                          m.path("apps", "doomed-app", "app.json"))
        assert rc == 0, err
        assert "victim.json" not in os.listdir(m.path("tokens"))
        m.umount()
    ids = [t["tokenId"] for t in api_items(sim, "/v1/tokens", admin)]
    assert tok["tokenId"] not in ids
    st, _, _ = sim.request("GET", "/v1/applications/" + app["applicationId"],
                           token=admin)
    assert st == 404


# ---- 13: uid=, gid=, umask= --------------------------------------------------

def test_uid_gid_umask_options_own_and_mask_every_node(sim):
    admin = sim.creds["admin_token"]
    opts = ["uid=%d" % NOBODY[0], "gid=%d" % NOBODY[1], "umask=077",
            "allow_other"]
    with Mount(sim.url, token=admin, options=opts) as m:
        os.chmod(m.dir, 0o755)  # let other users reach the mount point
        finding = m.path("vulns", "vuln_00001.json")
        for p in (finding, m.path("vulns"), m.path("README"),
                  m.path("scans", "new"),
                  m.path("vulns", "by-severity", "high")):
            st = os.stat(p)
            assert (st.st_uid, st.st_gid) == NOBODY, p
            assert stat.S_IMODE(st.st_mode) & 0o077 == 0, p
        assert mode(finding) == 0o400
        assert mode(m.path("vulns")) == 0o500
        assert target_mode(m.path("scans", "new")) == 0o600
        link = os.path.join(m.path("vulns", "by-severity", "high"),
                            os.listdir(m.path("vulns", "by-severity", "high"))[0])
        assert os.lstat(link).st_uid == NOBODY[0]
        # The owner reads; anyone else is refused by the kernel.
        rc, err = as_user(NOBODY, "cat", finding)
        assert rc == 0, err
        rc, err = as_user(STRANGER, "cat", finding)
        assert rc != 0 and "Permission denied" in err, err
        rc, err = as_user(STRANGER, "ls", m.path("tokens"))
        assert rc != 0 and "Permission denied" in err, err
        m.umount()


def test_bad_uid_gid_umask_values_are_refused(sim, tmp_path):
    for opt in ("umask=1000", "umask=9", "uid=4294967295", "uid=abc"):
        r = run_apisecfs(["-f", "-o", opt, sim.url, str(tmp_path)])
        assert r.returncode == 1, (opt, r.stderr)
        assert r.stderr.count("\n") == 1, r.stderr
        assert "unknown option" not in r.stderr, r.stderr


# ---- 10: mode bits follow a scope change at once ----------------------------

def test_modes_change_at_once_when_renewal_changes_the_scopes(sim, tmp_path):
    admin = sim.creds["admin_token"]
    scopes = ["apps:read", "teams:read", "tokens:read"]
    st, _, first = sim.request("POST", "/_sim/tokens",
                               body={"scopes": scopes + ["apps:write"]})
    assert st == 201
    second = sim.mint_token(scopes)
    tok = tmp_path / "tok"
    tok.write_text(first["token"] + "\n")
    os.chmod(tok, 0o600)
    # cache_ttl=60: the kernel keeps attributes a minute unless told.
    with Mount(sim.url, options=["token_cmd=cat " + str(tok),
                                 "cache_ttl=60"]) as m:
        assert target_mode(m.path("apps", "new")) & 0o200
        sim.request("DELETE", "/v1/tokens/" + first["tokenId"], token=admin)
        tok.write_text(second + "\n")
        # The next request gets a 401; token_cmd gives the second token,
        # whose scopes lack apps:write.
        assert os.listdir(m.path("teams"))
        assert "credential renewed" in m.read_log()
        deadline = time.monotonic() + 5  # far below the 60 s TTL
        while target_mode(m.path("apps", "new")) & 0o200 and \
                time.monotonic() < deadline:
            time.sleep(0.05)
        assert target_mode(m.path("apps", "new")) == 0
        m.umount()


def test_refresh_learns_the_scopes_again(sim):
    with Mount(sim.url, token=sim.creds["admin_token"]) as m:
        before = sim.route_count("GET /v1/me")
        with open(m.path(".refresh"), "w") as f:
            f.write("1\n")
        assert sim.route_count("GET /v1/me") == before + 1
        m.umount()


# ---- 11: the order of all.jsonl ---------------------------------------------

def test_all_jsonl_order_is_the_documented_one(sim):
    admin = sim.creds["admin_token"]
    with Mount(sim.url, token=admin) as m:
        with open(m.path("vulns", "all.jsonl")) as f:
            got = [json.loads(line)["vulnerabilityId"] for line in f]
        m.umount()
    want = []
    for sev in SEVERITIES:
        want += [v["vulnerabilityId"] for v in
                 api_items(sim, "/v1/vulnerabilities?severity=" + sev, admin)]
    assert got == want
    # ... and it is not the API's unfiltered order, so the docs must say so.
    plain = [v["vulnerabilityId"] for v in
             api_items(sim, "/v1/vulnerabilities", admin)]
    assert got != plain
    man = open(os.path.join(TOP, "man", "apisecfs.1.rst")).read()
    para = man[man.index("**all.jsonl** holds"):]
    para = " ".join(para[:para.index("\n\n")].split())
    assert "most severe first" in para
    assert "**critical** findings, then **high**, **medium**, **low** and " \
        "**info**" in para
    readme = open(os.path.join(TOP, "README.md")).read()
    assert "most severe first (critical, high" in readme


# ---- 15: links to a scan whose id is a reserved name ------------------------

def test_links_point_at_the_assigned_name_of_a_scan_called_new(sim):
    admin = sim.creds["admin_token"]
    sim.next_scan_id("new")
    with Mount(sim.url, token=admin) as m:
        assert start_scan(m) == "new"
        names = os.listdir(m.path("scans"))
        assert "new~new" in names and "new" in names
        assert os.path.isfile(m.path("scans", "new"))  # still the control
        view = m.path("apps", "payments-api", "scans")
        assert "new~new" in os.listdir(view)
        link = os.path.join(view, "new~new")
        assert os.readlink(link) == "../../../scans/new~new"
        assert os.path.isdir(link)
        with open(os.path.join(link, "scan.json")) as f:
            assert json.load(f)["scanId"] == "new"
        # Every link of the view resolves to a scan directory.
        for n in os.listdir(view):
            assert os.path.isdir(os.path.join(view, n)), n
        m.umount()


# ---- 18: namespace operations say why they fail -----------------------------

def test_namespace_operations_fail_with_erofs_or_eperm(sim, tmp_path):
    # Root gets past the kernel's permission checks, so each call reaches
    # apisecfs: EROFS in a read-only directory, EPERM where rm works.
    with Mount(sim.url, token=sim.creds["admin_token"]) as m:
        v = m.path("vulns")
        f = os.path.join(v, "vuln_00001.json")
        calls = [
            lambda d: os.mkdir(os.path.join(d, "x")),
            lambda d: os.close(os.open(os.path.join(d, "x.json"),
                                       os.O_CREAT | os.O_WRONLY, 0o644)),
            lambda d: os.mkfifo(os.path.join(d, "fifo")),
            lambda d: os.symlink("target", os.path.join(d, "s")),
            lambda d: os.link(f, os.path.join(d, "hard")),
        ]
        for d, want in ((v, errno.EROFS), (m.path("apps"), errno.EROFS),
                        (m.path("tokens"), errno.EPERM),
                        (m.path("apps", "payments-api"), errno.EPERM)):
            for call in calls:
                with pytest.raises(OSError) as e:
                    call(d)
                assert e.value.errno == want, (d, e.value)
        for src, dst, want in (
                (f, os.path.join(v, "moved.json"), errno.EROFS),
                (m.path("apps", "payments-api", "app.json"),
                 m.path("apps", "payments-api", "x.json"), errno.EPERM)):
            with pytest.raises(OSError) as e:
                os.rename(src, dst)
            assert e.value.errno == want, (src, e.value)
        for d, want in ((m.path("vulns", "by-severity", "high"), errno.EROFS),
                        (m.path("apps", "payments-api", "scans"),
                         errno.EPERM)):
            with pytest.raises(OSError) as e:
                os.rmdir(d)
            assert e.value.errno == want, (d, e.value)
        # What rsync says now.
        src = tmp_path / "report.txt"
        src.write_text("x\n")
        r = subprocess.run(["rsync", str(src), v + "/"], capture_output=True,
                           text=True, timeout=60)
        assert r.returncode != 0
        assert "Function not implemented" not in r.stderr, r.stderr
        assert "Read-only file system" in r.stderr, r.stderr
        m.umount()


# ---- rate limits and recovery -----------------------------------------------

def test_a_run_of_429s_is_waited_out_not_failed(clean):
    sim = clean
    # retries=2 is for real errors: five 429s in a row, each with
    # Retry-After: 1, are waited out within ratelimit_wait (60 s).
    with Mount(sim.url, token=sim.creds["admin_token"]) as m:
        sim.reset_stats()
        sim.set_faults(burst_429=5, retry_after=1)
        assert os.listdir(m.path("teams"))
        st = sim.stats()
        assert st["status"].get("429") == 5
        assert st["routes"].get("GET /v1/teams") == 6
        m.umount()


def test_a_429_longer_than_ratelimit_wait_is_eagain_at_once(clean):
    sim = clean
    with Mount(sim.url, token=sim.creds["admin_token"],
               options=["ratelimit_wait=2"]) as m:
        sim.reset_stats()
        sim.set_faults(burst_429=1, retry_after=30)
        with pytest.raises(OSError) as e:
            os.listdir(m.path("teams"))
        assert e.value.errno == errno.EAGAIN
        assert sim.stats()["routes"].get("GET /v1/teams") == 1
        m.umount()


def test_first_uncached_read_after_an_outage_succeeds(clean):
    sim = clean
    with Mount(sim.url, token=sim.creds["admin_token"],
               options=["timeout=2", "retries=1", "cache_ttl=1"]) as m:
        sim.set_faults(down=True)
        with pytest.raises(OSError) as e:
            os.listdir(m.path("teams"))
        assert e.value.errno == errno.EIO
        sim.clear_faults()
        # Back: the next uncached read probes the platform at once rather
        # than fail for the rest of a pause.
        assert os.listdir(m.path("tokens"))
        assert os.listdir(m.path("teams"))
        m.umount()
