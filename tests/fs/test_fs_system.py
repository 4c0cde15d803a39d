"""test_fs_system.py - at home on a Linux box: mount(8) with
fuse.apisecfs, profiles from a config file, syslog when daemonized, and
every startup error's one line and exit status."""

import json
import os
import socket
import subprocess
import threading
import time

import pytest

from fsutil import BIN, Mount, Sim, is_mounted, require_fuse, run_apisecfs, \
    write_secret


SIM = dict(apps=10, vulns=30)


class Syslog:
    """A datagram socket at /dev/log collecting what syslog(3) sends."""

    PATH = "/dev/log"

    def __init__(self):
        if os.path.exists(self.PATH):
            pytest.fail("/dev/log exists: a syslog daemon runs; test needs "
                        "to own it")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.PATH)
        self.sock.settimeout(0.2)
        self.lines = []
        self.stop = False
        self.thread = threading.Thread(target=self.run)
        self.thread.start()

    def run(self):
        while not self.stop:
            try:
                self.lines.append(self.sock.recv(8192).decode(errors="replace"))
            except socket.timeout:
                pass

    def close(self):
        self.stop = True
        self.thread.join()
        self.sock.close()
        os.unlink(self.PATH)


def wait_for(pred, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return True
        time.sleep(0.05)
    return False


def test_mount_helper_daemonizes_and_logs_to_syslog(sim, tmp_path):
    require_fuse()
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    tok = write_secret(str(tmp_path), "tok", sim.creds["readonly_token"])
    env = dict(os.environ, PATH=os.path.dirname(BIN) + ":" + os.environ["PATH"])
    log = Syslog()
    try:
        # What mount(8) runs for type fuse.apisecfs (mount itself resets
        # PATH to the system's, where a build tree's binary is not).
        r = subprocess.run(["/sbin/mount.fuse3", sim.url, str(mnt), "-t",
                            "apisecfs", "-o",
                            "token_file=%s,_netdev,nofail,cache_ttl=30" % tok],
                           env=env, capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        assert r.stderr == ""  # after daemonizing, nothing on the terminal
        assert is_mounted(str(mnt))
        line = [x for x in open("/proc/self/mounts")
                if x.split()[1] == str(mnt)][0]
        assert line.split()[0] == sim.url and line.split()[2] == "fuse.apisecfs"
        assert "payments-api" in os.listdir(mnt / "apps")
        with pytest.raises(OSError):
            os.listdir(mnt / "no-such-dir")
        assert wait_for(lambda: any("mounted" in x for x in log.lines))
        assert all("apisecfs" in x for x in log.lines)
        assert any(x.startswith("<30>") or "<30>" in x for x in log.lines), \
            log.lines  # LOG_DAEMON | LOG_INFO
        assert sim.creds["readonly_token"] not in "".join(log.lines)
    finally:
        subprocess.run(["umount", str(mnt)], capture_output=True)
        log.close()
    assert wait_for(lambda: not is_mounted(str(mnt)))


def test_profile_from_config_file(sim, tmp_path):
    tok = write_secret(str(tmp_path), "tok", sim.creds["readonly_token"])
    conf = tmp_path / "config"
    conf.write_text("# apisecfs profiles\n[other]\nurl = http://127.0.0.1:1\n\n"
                    "[test]\nurl = %s\ntoken_file = %s\nlog_level = error\n"
                    "cache_ttl = 7\n" % (sim.url, tok))
    # With a URL on the command line too, the command line wins:
    with Mount(sim.url, args=["-o", "config=%s,profile=test,log_level=info"
                              % conf]) as m:
        assert os.listdir(m.path("apps"))
        m.umount()
    # The profile alone gives the URL:
    require_fuse()
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    p = subprocess.Popen([BIN, "-f", "-o", "config=%s,profile=test,log_level=info"
                          % conf, str(mnt)], stderr=subprocess.PIPE, text=True)
    try:
        assert wait_for(lambda: is_mounted(str(mnt)))
        assert json.load(open(mnt / "whoami.json"))["authType"] == "api_token"
        # The command line overrides the profile: info lines are shown.
        assert "payments-api" in os.listdir(mnt / "apps")
    finally:
        subprocess.run(["fusermount3", "-u", str(mnt)])
        err = p.communicate(timeout=20)[1]
    assert p.returncode == 0
    assert "mounted %s" % sim.url in err
    r = run_apisecfs(["-o", "config=%s,profile=nope" % conf, str(mnt)])
    assert r.returncode == 1 and "no profile [nope]" in r.stderr


def test_xdg_config_is_the_default(sim, tmp_path):
    tok = write_secret(str(tmp_path), "tok", sim.creds["readonly_token"])
    (tmp_path / "apisecfs").mkdir()
    (tmp_path / "apisecfs" / "config").write_text(
        "[dev]\nurl = http://127.0.0.1:1\ntoken_file = %s\n" % tok)
    r = run_apisecfs(["-o", "profile=dev", str(tmp_path)],
                     env={"XDG_CONFIG_HOME": str(tmp_path)})
    assert r.returncode == 3 and "cannot reach http://127.0.0.1:1" in r.stderr


def one_line(r):
    lines = [x for x in r.stderr.splitlines() if x.strip()]
    assert len(lines) == 1, r.stderr
    return lines[0]


def test_startup_errors_each_distinct(sim, tmp_path):
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    tok = write_secret(str(tmp_path), "tok", sim.creds["readonly_token"])
    cases = [
        (["-o", "bogus_option", sim.url, str(mnt)], 1, "unknown option"),
        ([sim.url], 1, "missing MOUNTPOINT"),
        (["ftp://x", str(mnt)], 1, "must start with https://"),
        ([sim.url, str(mnt)], 2, "no credential"),
        (["-o", "token_file=" + tok, sim.url, str(tmp_path / "nope")], 4,
         "bad mountpoint"),
        (["-o", "token_file=" + tok, "http://127.0.0.1:1", str(mnt)], 3,
         "cannot reach"),
        (["-o", "token_file=" + tok, sim.url + "/nothing-here", str(mnt)], 3,
         "does not look like the platform"),
    ]
    seen = set()
    for args, rc, text in cases:
        t = time.monotonic()
        r = run_apisecfs(args)
        assert r.returncode == rc, (args, r.stderr)
        line = one_line(r)
        assert text in line, line
        assert time.monotonic() - t < 20
        seen.add(line)
    assert len(seen) == len(cases)


def test_tls_verified_by_default(tmp_path):
    with Sim(apps=10, vulns=10, tls=True) as sim:
        mnt = tmp_path / "mnt"
        mnt.mkdir()
        tok = write_secret(str(tmp_path), "tok", sim.creds["readonly_token"])
        r = run_apisecfs(["-o", "token_file=" + tok, sim.url, str(mnt)])
        assert r.returncode == 3
        assert "TLS verification" in one_line(r) and "ca_file" in one_line(r)
        with Mount(sim.url, token_file=tok,
                   options=["ca_file=" + sim.creds["ca_file"]]) as m:
            assert "payments-api" in os.listdir(m.path("apps"))
            m.umount()
        with Mount(sim.url, token_file=tok, options=["insecure"]) as m:
            assert os.listdir(m.path("apps"))
            assert "TLS verification is off" in m.umount()


def test_help_and_version():
    r = run_apisecfs(["--help"])
    assert r.returncode == 0
    for opt in ("token_file", "token_cmd", "client_id", "username",
                "credentials", "profile", "cache_ttl", "cache_size", "timeout",
                "retries", "ca_file", "insecure", "log_level"):
        assert opt in r.stdout
    r = run_apisecfs(["--version"])
    assert r.returncode == 0
    assert r.stdout.startswith("apisecfs 0.1.0\nlibfuse 3.")
    assert "libcurl/" in r.stdout
