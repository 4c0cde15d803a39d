"""test_fs_docs.py - the documentation and system-integration files tell the
truth: apisecfs(1) renders cleanly and documents every option the binary
has, the contrib scripts parse, the CI recipe gates on what the platform
really found, the examples mount, and `meson install` puts it all in place.
"""

import concurrent.futures
import os
import re
import shutil
import stat
import subprocess
import tempfile
import time

import pytest

from fsutil import (BIN, Mount, Sim, TOP, api_items, is_mounted, run_apisecfs,
                    write_secret)

MAN_RST = os.path.join(TOP, "man", "apisecfs.1.rst")
CONTRIB = os.path.join(TOP, "contrib")
CI_SCAN = os.path.join(CONTRIB, "ci-scan.sh")
COMPLETION = os.path.join(CONTRIB, "apisecfs.bash-completion")

MAN_SECTIONS = ["NAME", "SYNOPSIS", "DESCRIPTION", "THE TREE", "OPTIONS",
                "CREDENTIALS", "CONTROL FILES", "CONSISTENCY", "METRICS",
                "EXIT STATUS",
                "ENVIRONMENT", "FILES", "EXAMPLES", "SEE ALSO"]
# Words of fstab(5)/mount(8) and libfuse's own options: documented, but not
# apisecfs's to list in --help.
FUSE_SUBSECTION = "FUSE and mount options"
# A value the binary will parse for each metavariable of the man page;
# none of them leads to a mount (there is never a valid credential).
PROBE_VALUES = {"PATH": "/nonexistent/apisecfs-probe", "SECONDS": "5",
                "N": "1", "MIB": "16", "LEVEL": "info", "COMMAND": "true",
                "URL": "http://127.0.0.1:9/oauth2/token", "NAME": "probe",
                "ID": "probe", "LINES": "100", "SEVERITY": "medium",
                "PATHS": "vulns"}
CONTRIB_DOCS = ["apisecfs.service", "mnt-apisec.mount", "mnt-apisec.automount",
                "fstab.example", "credentials.example", "config.example",
                "ci-scan.sh", "demo.sh"]
SEVERITY_RE = re.compile(r'"severity": *"critical"')


# ---- the manual page ------------------------------------------------------

def rst2man():
    for name in ("rst2man", "rst2man.py"):
        path = shutil.which(name)
        if path:
            return path
    pytest.fail("rst2man is missing (apt-get install python3-docutils)")


@pytest.fixture(scope="module")
def man_page(tmp_path_factory):
    """apisecfs.1 as built by meson under build/man/, or built here from the
    .rst when that is missing or older than its source."""
    built = os.path.join(os.path.dirname(BIN), "man", "apisecfs.1")
    if os.path.exists(built) and \
            os.path.getmtime(built) >= os.path.getmtime(MAN_RST):
        return built
    out = str(tmp_path_factory.mktemp("man") / "apisecfs.1")
    r = subprocess.run([rst2man(), "--strict", MAN_RST, out],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return out


def roff_text(s):
    """Strip the font and character escapes rst2man writes."""
    s = re.sub(r"\\f[BIRP]", "", s)
    s = s.replace("\\-", "-").replace("\\e", "\\").replace("\\(aq", "'")
    s = s.replace("\\(ga", "`").replace("\\ ", " ").replace("\\%", "")
    return s.replace("\\", "")


def man_sections(path):
    """{section: [(subsection, roff line), ...]} of a rst2man page."""
    sections, sec, sub = {}, None, None
    with open(path) as f:
        for line in f.read().splitlines():
            if line.startswith(".SH "):
                sec, sub = roff_text(line[4:]).strip().strip('"'), None
                sections[sec] = []
            elif line.startswith(".SS "):
                sub = roff_text(line[4:]).strip().strip('"')
            elif sec is not None:
                sections[sec].append((sub, line))
    return sections


def option_terms(lines):
    """(subsection, term) of every .TP item in lines."""
    terms = []
    for i, (sub, line) in enumerate(lines):
        if line == ".TP" and i + 1 < len(lines):
            term = lines[i + 1][1]
            if term.startswith(".B "):
                term = term[3:]
            terms.append((sub, roff_text(term).strip()))
    return terms


def term_options(term):
    """The option names a term documents, as (name, metavariable) pairs:
    '-o client_id=ID,client_secret_file=PATH' gives two, '-h, --help' two,
    '_netdev, auto' two."""
    names = []
    for part in term.split(", "):
        part = part.strip()
        if part.startswith("-o "):
            for opt in part[3:].split(","):
                name, _, meta = opt.partition("=")
                names.append((name.strip(), meta.strip()))
        elif part.startswith("-"):
            names.append((part.split()[0], ""))
        elif re.fullmatch(r"[a-z_][a-z_]*", part):
            names.append((part, ""))
    return names


@pytest.fixture(scope="module")
def man_options(man_page):
    """{name: (subsection, metavariable)} from the OPTIONS section."""
    opts = {}
    for sub, term in option_terms(man_sections(man_page)["OPTIONS"]):
        for name, meta in term_options(term):
            opts[name] = (sub, meta)
    return opts


def help_options():
    """(options, fuse options, environment variables) in --help."""
    r = run_apisecfs(["--help"])
    assert r.returncode == 0, r.stderr
    opts, fuse, env = set(), set(), set()
    for line in r.stdout.splitlines():
        if line.lower().startswith("usage:"):
            continue
        if line.startswith("FUSE options"):
            fuse |= set(re.findall(r"\b([a-z]+_[a-z_]+)\b",
                                   line.split("(")[0]))
            continue
        env |= set(re.findall(r"\b(APISECFS_[A-Z_]+)=", line))
        for m in re.finditer(r"(?:^|\s)(-o\s+\S+|--?[A-Za-z][\w-]*)", line):
            tok = m.group(1)
            if tok.startswith("-o"):
                for opt in tok.split(None, 1)[1].split(","):
                    opts.add(opt.split("=")[0].rstrip(",.;:"))
            else:
                opts.add(tok)
    return opts, fuse, env


def test_man_page_renders_without_warnings(man_page):
    env = dict(os.environ, MANPAGER="cat", PAGER="cat", MANWIDTH="80",
               LC_ALL="C.UTF-8")
    r = subprocess.run(["man", "--warnings", "-l", man_page],
                       capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    assert r.stderr == "", r.stderr
    assert "apisecfs - mount an API-security platform" in r.stdout
    # rst2man itself: no docutils warning either (--strict fails on any).
    with tempfile.TemporaryDirectory() as d:
        r = subprocess.run([rst2man(), "--strict", MAN_RST,
                            os.path.join(d, "apisecfs.1")],
                           capture_output=True, text=True)
        assert r.returncode == 0 and r.stderr == "", r.stderr


def test_man_page_has_every_section(man_page):
    sections = list(man_sections(man_page))
    missing = [s for s in MAN_SECTIONS if s not in sections]
    assert not missing, "apisecfs(1) lacks %s" % missing
    assert [s for s in sections if s in MAN_SECTIONS] == MAN_SECTIONS


def test_every_help_option_is_in_the_man_page(man_page, man_options):
    opts, fuse, env = help_options()
    assert {"-h", "--help", "-V", "--version", "-f", "-d", "token_file"} <= opts
    missing = sorted((opts | fuse) - set(man_options))
    assert not missing, "--help lists %s but apisecfs(1) does not" % missing
    text = "\n".join(line for _, line in
                     man_sections(man_page)["ENVIRONMENT"])
    for var in env:
        assert var in text, "%s is not in ENVIRONMENT of apisecfs(1)" % var


def probe(args, tmp_path):
    """Run the binary as a mount would be, with no credential: it fails, but
    an unknown option is reported as such, before anything else."""
    mnt = tmp_path / "probe-mnt"
    mnt.mkdir(exist_ok=True)
    r = run_apisecfs(list(args) + ["-f", "http://127.0.0.1:9", str(mnt)],
                     timeout=60)
    assert not is_mounted(str(mnt))
    return r.returncode, r.stderr


def accepted(rc, err):
    return "unknown option" not in err and not (rc == 1 and "usage" in err)


def test_every_accepted_man_option_is_in_help(man_options, tmp_path):
    opts, _, _ = help_options()
    # The probe itself: an option nobody has is refused as unknown.
    rc, err = probe(["-o", "no_such_option_apisecfs=1"], tmp_path)
    assert rc == 1 and "unknown option" in err, (rc, err)
    undocumented = []
    for name, (sub, meta) in sorted(man_options.items()):
        if sub == FUSE_SUBSECTION or name in ("-h", "--help", "-V",
                                              "--version"):
            continue
        if name.startswith("-"):
            args = [name]
        else:
            value = PROBE_VALUES.get(meta) if meta else None
            assert not meta or value, "no probe value for %s=%s" % (name, meta)
            args = ["-o", name + ("=" + value if value else "")]
        rc, err = probe(args, tmp_path)
        assert rc != 0, (name, err)
        if accepted(rc, err) and name not in opts:
            undocumented.append(name)
    assert not undocumented, \
        "apisecfs accepts %s (in apisecfs(1)) but --help does not list " \
        "them" % undocumented


# ---- contrib --------------------------------------------------------------

def contrib_shell_scripts():
    out = []
    for name in sorted(os.listdir(CONTRIB)):
        path = os.path.join(CONTRIB, name)
        if not os.path.isfile(path):
            continue
        with open(path, errors="replace") as f:
            first = f.readline()
        if name.endswith((".sh", "bash-completion")) or \
                re.match(r"#!.*\b(sh|bash|dash)\b", first):
            out.append(path)
    return out


def test_contrib_shell_scripts_parse():
    scripts = contrib_shell_scripts()
    names = {os.path.basename(p) for p in scripts}
    assert {"ci-scan.sh", "demo.sh", "install-deps.sh",
            "apisecfs.bash-completion"} <= names
    for path in scripts:
        r = subprocess.run(["bash", "-n", path], capture_output=True, text=True)
        assert r.returncode == 0, (path, r.stderr)
        with open(path) as f:
            posix = f.readline().startswith("#!/bin/sh")
        if posix and shutil.which("dash"):
            r = subprocess.run(["dash", "-n", path], capture_output=True,
                               text=True)
            assert r.returncode == 0, (path, r.stderr)
        if posix:
            assert os.access(path, os.X_OK), "%s is not executable" % path
        if shutil.which("shellcheck"):
            shell = "sh" if posix else "bash"
            r = subprocess.run(["shellcheck", "-s", shell, path],
                               capture_output=True, text=True)
            assert r.returncode == 0, r.stdout


def complete(line, env=None):
    """What the bash completion offers at the end of line."""
    script = r'''
        source "$1"
        COMP_WORDBREAKS=$' \t\n"'"'"'><=;|&(:'
        COMP_LINE=$2; COMP_POINT=${#2}; COMPREPLY=()
        _apisecfs
        printf '%s\n' "${COMPREPLY[@]}"
    '''
    r = subprocess.run(["bash", "-c", script, "bash", COMPLETION, line],
                       capture_output=True, text=True,
                       env=dict(os.environ, **(env or {})))
    assert r.returncode == 0, r.stderr
    return [x for x in r.stdout.splitlines() if x]


def test_bash_completion(tmp_path, man_options):
    names = complete("apisecfs -o ")
    for name, (sub, meta) in man_options.items():
        if name.startswith("-") or sub == FUSE_SUBSECTION:
            continue
        assert (name + "=" if meta else name) in names, name
    assert complete("apisecfs -o log_level=") == ["error", "warn", "info",
                                                  "debug"]
    assert complete("apisecfs -o log_level=d") == ["debug"]
    assert complete("apisecfs -o junit_fail=") == ["critical", "high",
                                                   "medium", "low", "info"]
    assert complete("apisecfs -o cache_ttl=9,junit_fail=m") == ["medium"]
    # After a comma the word bash replaces starts after the last "=".
    assert complete("apisecfs -o cache_ttl=30,log_") == ["30,log_level="]
    assert complete("apisecfs -o cache_ttl=30,log_level=in") == ["info"]
    assert "--version" in complete("apisecfs -")
    conf = tmp_path / "apisecfs"
    conf.mkdir()
    (conf / "config").write_text("[prod]\nurl = https://x\n\n[lab]\n")
    assert complete("apisecfs -o profile=",
                    {"XDG_CONFIG_HOME": str(tmp_path)}) == ["prod", "lab"]
    (tmp_path / "tokenfile").write_text("x")
    assert complete("apisecfs -o token_file=%s/tok" % tmp_path) == \
        ["%s/tokenfile" % tmp_path]
    assert complete("apisecfs -o insecure https://x %s/tok" % tmp_path) == []


def example_mount_options():
    """Options of every fstab line (commented examples too) and mount unit
    in contrib/."""
    found = []
    with open(os.path.join(CONTRIB, "fstab.example")) as f:
        for line in f:
            fields = line.lstrip("#").split()
            if len(fields) == 6 and fields[2] == "fuse.apisecfs":
                assert fields[1] == "/mnt/apisec" and fields[4:] == ["0", "0"]
                found.append(fields[3])
    with open(os.path.join(CONTRIB, "mnt-apisec.mount")) as f:
        unit = f.read()
    assert "\nType=fuse.apisecfs\n" in unit and "\nWhere=/mnt/apisec\n" in unit
    found += re.findall(r"^Options=(\S+)$", unit, re.M)
    with open(os.path.join(CONTRIB, "apisecfs.service")) as f:
        service = f.read()
    assert "LoadCredential=apisecfs:/etc/apisecfs/creds" in service
    found += re.findall(r"-o (\S+)", service)
    return found


def test_contrib_examples_use_documented_options(man_options):
    known = set(man_options) | {"x-systemd.automount", "setuid"}
    lines = example_mount_options()
    assert len(lines) >= 7
    for opts in lines:
        for opt in opts.split(","):
            assert opt.split("=")[0] in known, (opt, opts)
    # The configuration example: "url" or option names only.
    with open(os.path.join(CONTRIB, "config.example")) as f:
        for line in f:
            line = line.strip()
            if line and line[0] not in "#;[":
                key = line.split("=")[0].strip()
                assert key == "url" or key in man_options, line
    # The credentials example: the keys apisecfs(1) lists.
    cred_keys = {"token", "token_file", "token_cmd", "client_id",
                 "client_secret", "client_secret_file", "username",
                 "password", "password_file", "token_url"}
    with open(os.path.join(CONTRIB, "credentials.example")) as f:
        active = []
        for line in f:
            m = re.match(r"#?([a-z_]+) = \S", line)
            if m:
                assert m.group(1) in cred_keys, line
                if not line.startswith("#"):
                    active.append(m.group(1))
    assert active == ["client_id", "client_secret"]  # one way, not two
    with open(MAN_RST) as f:
        man = f.read()
    for key in cred_keys:
        assert "**%s**" % key in man, key


def test_systemd_units_verify():
    if not shutil.which("systemd-analyze"):
        pytest.skip("systemd-analyze is not installed")
    units = [os.path.join(CONTRIB, u) for u in
             ("apisecfs.service", "mnt-apisec.mount", "mnt-apisec.automount")]
    r = subprocess.run(["systemd-analyze", "verify", "--man=no"] + units,
                       capture_output=True, text=True)
    # Not installed here, so /usr/bin/apisecfs may be missing; nothing else
    # may be wrong.
    problems = [line for line in (r.stdout + r.stderr).splitlines()
                if line.strip() and "/usr/bin/apisecfs" not in line]
    assert not problems, problems


# ---- the CI recipe, end to end ---------------------------------------------

def ci_scan(mnt, app, env=None):
    r = subprocess.run([CI_SCAN, mnt, app], capture_output=True, text=True,
                       timeout=120, env=dict(os.environ, **(env or {})))
    m = re.search(r"scan (\S+) started", r.stdout)
    return r.returncode, (m.group(1) if m else None), r.stdout + r.stderr


def truth(sim, token, scan_id):
    """The exit status ci-scan.sh owes, from the API itself."""
    status, _, scan = sim.request("GET", "/v1/scans/" + scan_id, token=token)
    assert status == 200, scan
    if scan["status"] != "Completed":
        return 3
    vulns = api_items(sim, "/v1/vulnerabilities?scanId=" + scan_id, token)
    assert len(vulns) == scan["vulnerabilityStats"]["total"]
    return 1 if any(v["severity"] == "critical" for v in vulns) else 0


def test_ci_scan_gates_on_what_the_platform_found():
    with Sim(apps=8, vulns=100, scan_seconds=1) as sim:
        ci_scan_gates(sim)


def ci_scan_gates(sim):
    admin = sim.creds["admin_token"]
    # An application whose scans fail (the simulator fails hosts with
    # "fail" in their URL), created before the mount lists apps/.
    status, _, app = sim.request("POST", "/v1/applications", token=admin,
                                 body={"applicationName": "flaky-api",
                                       "hostUrl": "https://fail.example"})
    assert status == 201, app
    with Mount(sim.url, token=admin) as m:
        apps = sorted(n for n in os.listdir(m.path("apps"))
                      if n not in ("new", "flaky-api"))
        assert "payments-api" in apps and any(a.startswith("-") for a in apps)
        seen = set()
        # Scans are seeded by their id: both outcomes come up within a few
        # rounds. At most 5 run at once (each holds a thread on wait).
        for _ in range(6):
            with concurrent.futures.ThreadPoolExecutor(5) as pool:
                runs = list(pool.map(lambda a: (a, ci_scan(m.mnt, a)),
                                     apps[:5]))
            for app_name, (rc, scan_id, out) in runs:
                assert scan_id, out
                want = truth(sim, admin, scan_id)
                assert rc == want, "%s: exit %d, want %d:\n%s" % (
                    app_name, rc, want, out)
                if want == 1:
                    # The criticals are named, with their titles.
                    assert re.search(r"vuln_\w+\.json critical: ", out), out
                seen.add(rc)
            if {0, 1} <= seen:
                break
        assert {0, 1} <= seen, seen

        rc, scan_id, out = ci_scan(m.mnt, "flaky-api")
        assert rc == 3 and truth(sim, admin, scan_id) == 3, out
        assert "ended Failed" in out and "could not reach" in out, out

        rc, scan_id, out = ci_scan(m.mnt, "no-such-app")
        assert rc == 2 and scan_id is None, out
        assert "No such file or directory" in out, out

        # A wider gate: high findings fail the build too.
        rc, scan_id, out = ci_scan(m.mnt, "payments-api",
                                   {"FAIL_ON": "critical high"})
        status, _, scan = sim.request("GET", "/v1/scans/" + scan_id,
                                      token=admin)
        stats = scan["vulnerabilityStats"]
        assert rc == (1 if stats["critical"] + stats["high"] else 0), out
        rc, _, out = ci_scan(m.mnt, "payments-api", {"FAIL_ON": "severe"})
        assert rc == 2, out
        m.umount()


def test_ci_scan_needs_only_the_ci_scopes(sim):
    # The simulator's CI token: apps:read scans:read scans:write vulns:read
    # reports:read; enough for the recipe.
    token = sim.creds["ci_token"]
    with Mount(sim.url, token=token) as m:
        rc, scan_id, out = ci_scan(m.mnt, "payments-api")
        assert scan_id and rc == truth(sim, token, scan_id), out
        m.umount()
    with Mount(sim.url, token=sim.creds["readonly_token"]) as m:
        rc, scan_id, out = ci_scan(m.mnt, "payments-api")
        assert rc == 2 and scan_id is None and "scans:write" in out, out
        m.umount()


def test_ci_scan_timeout_cancels_the_scan():
    with Sim(apps=3, vulns=20, scan_seconds=120) as sim:
        admin = sim.creds["admin_token"]
        with Mount(sim.url, token=admin) as m:
            start = time.monotonic()
            rc, scan_id, out = ci_scan(m.mnt, "payments-api",
                                       {"SCAN_TIMEOUT": "2"})
            assert rc == 3 and "not finished after 2 s: cancelled" in out, out
            assert time.monotonic() - start < 30, out
            status, _, scan = sim.request("GET", "/v1/scans/" + scan_id,
                                          token=admin)
            assert scan["status"] == "Cancelled", scan
            m.umount()


# ---- mounting the way fstab and mount units do ----------------------------

def daemon_pids(mountpoint):
    pids = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if argv and os.path.basename(argv[0]) == b"apisecfs" and \
                mountpoint.encode() in argv:
            pids.append(int(pid))
    return pids


def running(pid):
    """pid exists and is not a zombie waiting for its reaper."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_mount_like_fstab_through_mount_fuse3(sim, tmp_path):
    """An fstab line or mnt-apisec.mount of type fuse.apisecfs makes mount(8)
    run mount.fuse3 (with no PATH: apisecfs must be in the default one),
    which filters the options and runs "apisecfs URL DIR -o OPTIONS". Run
    that last step the same way, with the fstab words of the examples."""
    helper = shutil.which("mount.fuse3") or next(
        (p for p in ("/sbin/mount.fuse3", "/usr/sbin/mount.fuse3")
         if os.path.exists(p)), None)
    if not helper:
        pytest.fail("mount.fuse3 is missing (apt-get install fuse3)")
    bindir = tmp_path / "bin"
    bindir.mkdir()
    os.symlink(BIN, bindir / "apisecfs")
    token = write_secret(str(tmp_path), "token", sim.creds["readonly_token"])
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    opts = "token_file=%s,_netdev,noauto,nofail,users,rw" % token
    if os.geteuid() == 0:
        opts += ",allow_other"
    env = dict(os.environ,
               PATH="%s:%s" % (bindir, os.environ.get("PATH", "/usr/bin:/bin")))
    env.pop("APISECFS_TOKEN", None)
    r = subprocess.run([helper, sim.url, str(mnt), "-t", "fuse.apisecfs",
                        "-o", opts], capture_output=True, text=True, env=env,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    pids = daemon_pids(str(mnt))
    try:
        with open("/proc/self/mounts") as f:
            entry = [line.split() for line in f
                     if line.split()[1] == str(mnt)]
        # mount(8), df(1) and /proc/mounts show the URL and the type.
        assert entry and entry[0][0] == sim.url and \
            entry[0][2] == "fuse.apisecfs", entry
        assert "payments-api" in os.listdir(mnt / "apps")
        # The read-only token: no scope to start scans, and the mode says so.
        assert stat.S_IMODE(os.stat(mnt / "scans" / "new").st_mode) == 0
    finally:
        subprocess.run(["fusermount3", "-u", str(mnt)], check=True)
    assert pids, "no apisecfs process served %s" % mnt
    deadline = time.time() + 20
    while any(running(p) for p in pids) and time.time() < deadline:
        time.sleep(0.1)
    assert not any(running(p) for p in pids), "apisecfs outlived the unmount"
    assert not is_mounted(str(mnt))


def test_demo_starts_and_stops(tmp_path):
    mnt = str(tmp_path / "demo")
    demo = os.path.join(CONTRIB, "demo.sh")
    r = subprocess.run([demo, mnt], capture_output=True, text=True,
                       timeout=600)
    try:
        assert r.returncode == 0, r.stdout + r.stderr
        assert is_mounted(mnt), r.stdout
        assert "demo.sh stop" in r.stdout
        assert len([n for n in os.listdir(os.path.join(mnt, "vulns"))
                    if n.endswith(".json")]) >= 2000
        state = mnt + ".state"
        assert stat.S_IMODE(os.stat(state).st_mode) == 0o700
        assert stat.S_IMODE(os.stat(os.path.join(state, "token")).st_mode) \
            == 0o600
        # A second start refuses to stack a mount on the first.
        again = subprocess.run([demo, mnt], capture_output=True, text=True,
                               timeout=120)
        assert again.returncode != 0 and "already running" in again.stderr
    finally:
        stop = subprocess.run([demo, "stop", mnt], capture_output=True,
                              text=True, timeout=120)
    assert stop.returncode == 0, stop.stdout + stop.stderr
    assert not is_mounted(mnt)
    assert not os.path.exists(mnt + ".state")
    assert not os.path.exists(mnt)  # the demo made it, the demo removed it


# ---- meson install ---------------------------------------------------------

def test_meson_install_puts_everything_in_place(tmp_path):
    build, dest = tmp_path / "build", tmp_path / "dest"
    r = subprocess.run(["meson", "setup", "--prefix=/usr", str(build), TOP],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    r = subprocess.run(["meson", "install", "-C", str(build), "--destdir",
                        str(dest)], capture_output=True, text=True,
                       timeout=900)
    assert r.returncode == 0, r.stdout + r.stderr
    usr = dest / "usr"
    assert os.access(usr / "bin" / "apisecfs", os.X_OK)
    man = usr / "share" / "man" / "man1" / "apisecfs.1"
    assert man.is_file(), "no man page: does meson.build have subdir('man')?"
    assert ".SH CONTROL FILES" in man.read_text()
    completion = usr / "share" / "bash-completion" / "completions" / "apisecfs"
    assert completion.is_file(), \
        "no completion: does meson.build have subdir('contrib')?"
    assert completion.read_text() == open(COMPLETION).read()
    docs = usr / "share" / "doc" / "apisecfs" / "examples"
    for name in CONTRIB_DOCS:
        path = docs / name
        assert path.is_file(), name
        assert path.read_bytes() == \
            open(os.path.join(CONTRIB, name), "rb").read(), name
    assert os.access(docs / "ci-scan.sh", os.X_OK)
    # Only these places: nothing into /etc or the systemd unit directories.
    top = sorted(os.listdir(dest))
    assert top == ["usr"], top
    assert sorted(os.listdir(usr)) == ["bin", "share"]
    assert not (usr / "lib").exists()
