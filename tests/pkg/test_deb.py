"""test_deb.py - the Debian package: built from a clean copy of the checkout
with the README's commands, it holds what it promises, lintian finds no
error, and once installed "mount -t fuse.apisecfs" runs the installed
binary with no extra step; it then removes cleanly.

The copy holds the files git tracks, as they are in the working tree:
what a clean checkout of this state has, without build directories or
other untracked files. The test installs the package on this machine and
removes it again, so it refuses to start when an apisecfs is installed
already (it would remove that one). Nothing here skips: a package that
cannot be built, installed or mounted fails.
"""

import glob
import json
import os
import re
import shutil
import subprocess
import sys
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(TOP, "tests", "fs"))

from fsutil import Sim, is_mounted, require_fuse, write_secret  # noqa: E402
from readme import fenced_commands  # noqa: E402

SECTION = "Install as a Debian package"
INSTALLED = ["/usr/bin/apisecfs", "/usr/share/man/man1/apisecfs.1.gz",
             "/usr/share/bash-completion/completions/apisecfs",
             "/usr/share/doc/apisecfs/examples/fstab.example"]
# What mount(8) and mount.fuse3 find without any PATH of the caller's.
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def meson_version():
    r = subprocess.run(["meson", "introspect", "--projectinfo",
                        os.path.join(TOP, "meson.build")],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)["version"]


def changelog_version():
    r = subprocess.run(["dpkg-parsechangelog", "-l",
                        os.path.join(TOP, "debian", "changelog"),
                        "-S", "Version"], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


def test_changelog_version_is_mesons():
    """debian/changelog packages the version meson.build declares, and the
    README names the .deb that version gives."""
    version = changelog_version()
    upstream, _, revision = version.rpartition("-")
    assert upstream == meson_version() and revision, \
        "debian/changelog says %s, meson.build %s: add a changelog entry " \
        "(dch -v %s-1)" % (version, meson_version(), meson_version())
    commands = "\n".join(fenced_commands(SECTION))
    assert "apisecfs_%s_" % version in commands, commands


def run(cmd, cwd, timeout, env=None):
    """A README line through the shell, output kept for the assertion."""
    return subprocess.run(cmd, shell=True, cwd=cwd, env=env, timeout=timeout,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True)


def apt_env(tmpdir):
    """Wait for apt's lock instead of failing when another apt runs."""
    conf = os.path.join(tmpdir, "apt.conf")
    with open(conf, "w") as f:
        f.write('DPkg::Lock::Timeout "600";\n')
    return dict(os.environ, APT_CONFIG=conf, DEBIAN_FRONTEND="noninteractive")


def dpkg_status():
    r = subprocess.run(["dpkg-query", "-W", "-f=${db:Status-Status}",
                        "apisecfs"], capture_output=True, text=True)
    return r.stdout.strip() if r.returncode == 0 else "not-installed"


def clean_copy(dst):
    r = subprocess.run(["git", "-C", TOP, "ls-files", "-z"],
                       capture_output=True, timeout=60)
    assert r.returncode == 0, "not a git checkout: %s" % r.stderr
    for name in r.stdout.decode().split("\0"):
        src = os.path.join(TOP, name)
        if not name or not os.path.lexists(src):
            continue  # deleted in the working tree
        out = os.path.join(dst, name)
        os.makedirs(os.path.dirname(out), exist_ok=True)
        shutil.copy2(src, out, follow_symlinks=False)


@pytest.fixture(scope="module")
def package(tmp_path_factory):
    """Build with the README's first command in a clean copy; the .deb."""
    if os.geteuid() != 0:
        pytest.fail("the package test installs a package: run it as root")
    if dpkg_status() not in ("not-installed", "config-files") or \
            os.path.lexists(INSTALLED[0]):
        pytest.fail("apisecfs is installed (%s, %s); this test installs and "
                    "removes it: remove it first (apt-get remove apisecfs)"
                    % (dpkg_status(), INSTALLED[0]))
    work = str(tmp_path_factory.mktemp("deb"))
    src = os.path.join(work, "apisecfs")
    clean_copy(src)
    build = fenced_commands(SECTION)[0]
    assert "dpkg-buildpackage" in build, build
    r = run(build, src, 900, apt_env(work))
    assert r.returncode == 0, r.stdout[-6000:]
    debs = glob.glob(os.path.join(work, "apisecfs_*.deb"))
    arch = subprocess.run(["dpkg", "--print-architecture"],
                          capture_output=True, text=True).stdout.strip()
    want = os.path.join(work, "apisecfs_%s_%s.deb" % (changelog_version(),
                                                       arch))
    assert debs == [want], debs
    return {"src": src, "work": work, "deb": want}


def test_deb_holds_what_it_promises(package):
    r = subprocess.run(["dpkg-deb", "-c", package["deb"]],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    modes = {}
    for line in r.stdout.splitlines():
        fields = line.split()
        modes[fields[5].lstrip(".")] = fields[0]
    for path in INSTALLED:
        assert path in modes, path
    assert modes["/usr/bin/apisecfs"] == "-rwxr-xr-x"
    docs = "/usr/share/doc/apisecfs/examples/"
    for name in ("apisecfs.service", "mnt-apisec.mount",
                 "mnt-apisec.automount", "config.example",
                 "credentials.example"):
        assert modes.get(docs + name) == "-rw-r--r--", name
    assert modes.get(docs + "ci-scan.sh") == "-rwxr-xr-x"
    # Nothing into /etc or the unit directories: examples only.
    assert not [p for p in modes if p.startswith(("/etc", "/lib"))], modes
    r = subprocess.run(["dpkg-deb", "-f", package["deb"], "Depends"],
                       capture_output=True, text=True)
    depends = [d.strip().split()[0] for d in r.stdout.split(",")]
    assert depends[0] == "fuse3" and "libfuse3-3" in depends, depends


def test_lintian_finds_no_error(package):
    """Every warning left is listed, with its reason, in README.source."""
    r = subprocess.run(["lintian", package["deb"]], capture_output=True,
                       text=True, timeout=600)
    tags = re.findall(r"^([EW]): apisecfs: (\S+)", r.stdout, re.M)
    assert not [t for level, t in tags if level == "E"], r.stdout
    assert r.returncode == 0, r.stdout + r.stderr
    with open(os.path.join(TOP, "debian", "README.source")) as f:
        listed = set(re.findall(r"^W: (\S+)$", f.read(), re.M))
    unlisted = {t for level, t in tags if level == "W"} - listed
    assert not unlisted, "lintian warns %s; fix it or list it with its " \
        "reason in debian/README.source:\n%s" % (unlisted, r.stdout)


def daemons(mountpoint):
    """The pids whose command line names mountpoint, and their binaries."""
    out = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                argv = f.read().split(b"\0")
            exe = os.readlink("/proc/%s/exe" % pid)
        except OSError:
            continue
        if os.path.basename(argv[0]) == b"apisecfs" and \
                mountpoint.encode() in argv:
            out[int(pid)] = exe
    return out


def gone(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def test_installed_package_mounts_and_removes(package, tmp_path):
    require_fuse()
    install = fenced_commands(SECTION)[1]
    env = apt_env(package["work"])
    try:
        r = run(install, package["src"], 600, env)
        assert r.returncode == 0, r.stdout[-4000:]
        assert dpkg_status() == "installed"
        for path in INSTALLED:
            assert os.path.exists(path), path
        with Sim(apps=3, vulns=30, scan_seconds=1) as sim:
            token = write_secret(str(tmp_path), "token",
                                 sim.creds["readonly_token"])
            mnt = str(tmp_path / "mnt")
            os.mkdir(mnt)
            # As typed, then as an fstab line (mount -T: another fstab).
            mount_installed(sim, mnt, ["-t", "fuse.apisecfs", sim.url, mnt,
                                       "-o", "token_file=" + token])
            fstab = tmp_path / "fstab"
            fstab.write_text("%s %s fuse.apisecfs token_file=%s,_netdev,"
                             "noauto 0 0\n" % (sim.url, mnt, token))
            mount_installed(sim, mnt, ["-T", str(fstab), mnt])
    finally:
        r = subprocess.run(["apt-get", "remove", "-y", "apisecfs"],
                           capture_output=True, text=True, timeout=600,
                           env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert dpkg_status() in ("not-installed", "config-files"), dpkg_status()
    for path in INSTALLED:
        assert not os.path.lexists(path), path
    assert shutil.which("apisecfs", path=DEFAULT_PATH) is None


def mount_installed(sim, mnt, args):
    """mount(8) ARGS with nothing but the default PATH: for the type
    fuse.apisecfs, mount.fuse3 finds /usr/bin/apisecfs by itself. Read a
    file, unmount, and see the daemon end."""
    env = {"PATH": DEFAULT_PATH, "LC_ALL": "C.UTF-8"}
    r = subprocess.run(["mount"] + args, capture_output=True,
                       text=True, env=env, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    pids = daemons(mnt)
    try:
        assert set(pids.values()) == {"/usr/bin/apisecfs"}, pids
        with open("/proc/self/mounts") as f:
            entry = [line.split() for line in f if line.split()[1] == mnt]
        assert entry and entry[0][0] == sim.url and \
            entry[0][2] == "fuse.apisecfs", entry
        with open(os.path.join(mnt, "apps", "payments-api", "app.json")) as f:
            assert json.load(f)["applicationName"] == "payments-api"
    finally:
        r = subprocess.run(["umount", mnt], capture_output=True, text=True,
                           env=env, timeout=60)
        if r.returncode != 0:
            subprocess.run(["fusermount3", "-uz", mnt])
    assert r.returncode == 0, r.stderr
    assert not is_mounted(mnt)
    deadline = time.monotonic() + 20
    while not all(gone(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert all(gone(p) for p in pids), "apisecfs outlived the unmount"
