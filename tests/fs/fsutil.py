"""fsutil.py - mount helpers for the filesystem tests (after sshfs's
test/util.py): start apisecfs on a simulator, wait for the mount, unmount
and check the daemon ended cleanly.

A test that cannot mount fails. The only exception is a machine without
/dev/fuse, where mounting is impossible; even then APISECFS_REQUIRE_MOUNT=1
(set by .ci/run) turns the skip into a failure.

bench/benchlib.py mounts with the same helpers (is_mounted, write_secret,
unmount, read_log, wait_mounted), so this module imports nothing beyond
the standard library at load time: pytest only where a test needs it.
"""

import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(TOP, "tests", "sim"))

from simctl import Sim  # noqa: E402,F401  (path set above; re-exported)

BIN = os.environ.get("APISECFS_BIN", os.path.join(TOP, "build", "apisecfs"))
# A command the daemon runs under, e.g. valgrind (tests/run's memcheck
# pass): split on spaces. Slower starts and exits get more time.
WRAP = os.environ.get("APISECFS_WRAP", "").split()
SLOW = 4 if WRAP else 1


def require_fuse():
    import pytest  # here, not above: bench/ imports this module without it
    if os.path.exists("/dev/fuse"):
        return
    if os.environ.get("APISECFS_REQUIRE_MOUNT") == "1":
        pytest.fail("/dev/fuse is missing but mounting is required")
    pytest.skip("/dev/fuse is missing: cannot mount")


def is_mounted(path):
    path = os.path.realpath(path)
    with open("/proc/self/mounts") as f:
        return any(line.split()[1] == path for line in f)


def write_secret(directory, name, secret, mode=0o600):
    path = os.path.join(directory, name)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as f:
        f.write(secret + "\n")
    os.chmod(path, mode)
    return path


class MountError(RuntimeError):
    """A FUSE daemon exited before mounting, or did not mount in time."""


def read_log(log, log_path):
    """All a daemon has written so far to log_path, through log (the file
    object its output goes to; flushed first while still open)."""
    if not log.closed:
        log.flush()
    with open(log_path, errors="replace") as f:
        return f.read()


def wait_mounted(mnt, proc, timeout, log_text, name="apisecfs"):
    """Return once mnt is a mount point; MountError when proc exits first
    or timeout seconds pass (log_text() then ends the message)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if is_mounted(mnt):
            return
        if proc.poll() is not None:
            raise MountError("%s exited with %s before mounting:\n%s"
                             % (name, proc.returncode, log_text()[-4000:]))
        time.sleep(0.01)
    raise MountError("%s: no mount after %gs:\n%s"
                     % (name, timeout, log_text()[-4000:]))


def unmount(mnt):
    """fusermount3 -u, retried for 5 s while busy (a failed test's
    traceback, or a killed pipeline, may still hold a file open), then a
    lazy unmount so the daemon can exit. True once mnt is no mount point."""
    for _ in range(50):
        if not is_mounted(mnt):
            return True
        if subprocess.run(["fusermount3", "-u", mnt],
                          capture_output=True).returncode == 0:
            return True
        time.sleep(0.1)
    subprocess.run(["fusermount3", "-uz", mnt], capture_output=True)
    if is_mounted(mnt):
        subprocess.run(["umount", "-l", mnt], capture_output=True)
    return not is_mounted(mnt)


class Mount:
    """One apisecfs process in the foreground, mounted on a temp dir."""

    def __init__(self, url, token=None, options=(), env=None, token_file=None,
                 args=(), run_as=None):
        """run_as=(uid, gid): mount as that unprivileged user (fusermount3
        is setuid), owning the mount point and the token file."""
        require_fuse()
        self.dir = tempfile.mkdtemp(prefix="apisecfs-test-")
        self.mnt = os.path.join(self.dir, "mnt")
        os.mkdir(self.mnt)
        self.log_path = os.path.join(self.dir, "log")
        opts = list(options)
        if token is not None:
            token_file = write_secret(self.dir, "token", token)
        if token_file:
            opts.append("token_file=" + token_file)
        self.token_file = token_file
        prefix = []
        if run_as:
            uid, gid = run_as
            for p in [self.dir, self.mnt] + ([token_file] if token is not None else []):
                os.chown(p, uid, gid)
            prefix = ["setpriv", "--reuid=%d" % uid, "--regid=%d" % gid,
                      "--clear-groups", "--"]
            # Through fusermount3 at once: libfuse would first open
            # /dev/fuse itself, which may be root's alone (mode 0600).
            opts.append("auto_unmount")
            env = dict(env or {}, HOME=self.dir)
        cmd = prefix + WRAP + [BIN, "-f"] + list(args)
        if opts:
            cmd += ["-o", ",".join(opts)]
        cmd += [url, self.mnt]
        self.cmd = cmd
        self.log = open(self.log_path, "w")
        run_env = dict(os.environ)
        run_env.pop("APISECFS_TOKEN", None)
        run_env.update(env or {})
        self.proc = subprocess.Popen(cmd, stdout=self.log,
                                     stderr=subprocess.STDOUT, env=run_env)
        wait_mounted(self.mnt, self.proc, 20 * SLOW, self.read_log)

    def path(self, *parts):
        return os.path.join(self.mnt, *parts)

    def read_log(self):
        return read_log(self.log, self.log_path)

    def umount(self):
        assert unmount(self.mnt), "%s is still mounted" % self.mnt
        try:
            rc = self.proc.wait(timeout=20 * SLOW)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("apisecfs did not exit after unmount")
        self.log.close()
        assert rc == 0, "apisecfs exited with %d:\n%s" % (rc, self.read_log())
        log = self.read_log()
        # ASan/UBSan reports go to stderr: a clean run has none.
        assert "ERROR: AddressSanitizer" not in log, log
        assert "runtime error:" not in log, log
        assert "ERROR: LeakSanitizer" not in log, log
        # ThreadSanitizer (tests/run's TSan pass): a data race or a lock
        # order inversion seen anywhere in the daemon's life.
        assert "WARNING: ThreadSanitizer" not in log, log
        # memcheck (APISECFS_WRAP) reports go to stderr too; its
        # --error-exitcode already failed the exit status check above.
        assert "Invalid read" not in log and "Invalid write" not in log, log
        return log

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.proc.poll() is None or is_mounted(self.mnt):
            self.umount()


def run_apisecfs(args, env=None, timeout=60):
    """Run the binary to completion (startup errors, --help)."""
    run_env = dict(os.environ)
    run_env.pop("APISECFS_TOKEN", None)
    run_env.update(env or {})
    return subprocess.run([BIN] + list(args), capture_output=True, text=True,
                          env=run_env, timeout=timeout)


def walk_files(root):
    """Every regular file under root (not following links)."""
    out = []
    for d, dirs, files in os.walk(root):
        for f in files:
            p = os.path.join(d, f)
            if os.path.isfile(p) and not os.path.islink(p):
                out.append(p)
    return out


def start_scan(m, app="payments-api"):
    """Start a scan of app through m's scans/new; the new scan's id, read
    back from the same descriptor."""
    fd = os.open(m.path("scans", "new"), os.O_RDWR)
    try:
        os.write(fd, (app + "\n").encode())
        return os.read(fd, 100).decode().strip()
    finally:
        os.close(fd)


def revoke_token(sim, secret):
    """Revoke, as the admin, the token whose secret is given (found by its
    last four characters)."""
    admin = sim.creds["admin_token"]
    tid = next(t["tokenId"] for t in api_items(sim, "/v1/tokens", admin)
               if t["partialToken"].endswith(secret[-4:]))
    status, _, body = sim.request("DELETE", "/v1/tokens/" + tid, token=admin)
    assert status == 204, body


def api_items(sim, path, token):
    """Every item of an API list, paged the way the contract says."""
    items, nxt = [], None
    while True:
        q = path + ("&" if "?" in path else "?") + "limit=500"
        if nxt:
            q += "&nextToken=" + nxt
        status, _, body = sim.request("GET", q, token=token)
        assert status == 200, body
        items += body["items"]
        nxt = body.get("nextToken")
        if not nxt:
            return items
