"""benchlib.py - the machinery under bench/run: processes, mounts, timing.

Everything the benchmark starts is registered with one Janitor, which
unmounts, stops and deletes it all on exit, on an error and on Ctrl-C or
SIGTERM, in reverse order of creation:

* FsMount     - one apisecfs process (foreground) on a fresh mount point;
* Httpdirfs   - one httpdirfs process over a StaticServer;
* StaticServer- bench/static_server.py serving a directory with latency;
* run_shell() - one timed `bash -c` command in its own process group, so a
  time-out kills the whole pipeline (and only it).

Mount points are watched, unmounted and logged with the filesystem
tests' own helpers (tests/fs/fsutil.py), so the two cannot drift apart.

Nothing here talks to anything but 127.0.0.1.
"""

import hashlib
import json
import os
import platform
import select
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass

BENCH = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(BENCH)
sys.path.insert(0, os.path.join(TOP, "tests", "sim"))
sys.path.insert(0, os.path.join(TOP, "tests", "fs"))

from fsutil import (is_mounted, read_log, unmount, wait_mounted,  # noqa: E402,F401
                    write_secret)  # write_secret: re-exported for bench/
from simctl import Sim  # noqa: E402,F401  (re-exported for bench/run)

PYTHON = "/usr/bin/python3"
APISECFS = os.environ.get("APISECFS_BIN", os.path.join(TOP, "build", "apisecfs"))
BASELINE_SH = os.path.join(BENCH, "baseline_curl_jq.sh")
STATIC_SERVER = os.path.join(BENCH, "static_server.py")
MOUNT_TIMEOUT = 30
EXIT_TIMEOUT = 20
STUCK_WAIT = 5

# Commands run under the C locale (byte-wise grep, stable sort) with a
# PATH that finds the system tools first.
SHELL_ENV = dict(os.environ, LC_ALL="C", LANG="C")
SHELL_ENV.pop("APISECFS_TOKEN", None)


def snapshot_binary(workdir):
    """Copy build/apisecfs into workdir and use the copy from now on, so a
    rebuild during a long run cannot mix two builds in one table; returns
    the copy's sha256 and the original's mtime."""
    global APISECFS
    src = APISECFS
    dst = os.path.join(workdir, "apisecfs")
    shutil.copy2(src, dst)
    with open(dst, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    APISECFS = dst
    return {"path": src, "sha256": digest[:16],
            "built": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(os.path.getmtime(src)))}


def log(msg):
    print(msg, file=sys.stderr, flush=True)


# ---- cleanup ---------------------------------------------------------------

class Janitor:
    """Remembers what the run created and undoes it, newest first."""

    def __init__(self):
        self.items = []          # (kind, object)
        self.done = False

    def add(self, kind, obj):
        self.items.append((kind, obj))
        return obj

    def forget(self, obj):
        self.items = [(k, o) for k, o in self.items if o is not obj]

    def cleanup(self):
        if self.done:
            return
        self.done = True
        while self.items:
            kind, obj = self.items.pop()
            try:
                if kind == "closeable":
                    obj.close()
                elif kind == "sim":
                    obj.stop()
                elif kind == "proc":
                    stop_process(obj)
                elif kind == "dir":
                    shutil.rmtree(obj, ignore_errors=True)
            except Exception as exc:   # cleanup must go on whatever happens
                log(f"cleanup: {kind}: {exc}")

    def install_signal_handlers(self):
        """SIGTERM and SIGHUP unwind like Ctrl-C does, through finally."""
        def on_signal(signum, _frame):
            raise KeyboardInterrupt(f"signal {signum}")
        for sig in (signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, on_signal)


def stop_process(proc, group=False, timeout=5):
    """End one process we started (by its pid, or its own process group)."""
    if proc.poll() is not None:
        return
    try:
        if group:
            os.killpg(proc.pid, signal.SIGTERM)
        else:
            proc.terminate()
        proc.wait(timeout)
    except (subprocess.TimeoutExpired, ProcessLookupError):
        try:
            if group:
                os.killpg(proc.pid, signal.SIGKILL)
            else:
                proc.kill()
        except ProcessLookupError:
            pass
        proc.wait()


# ---- timed commands -----------------------------------------------------------

@dataclass
class Run:
    """One timed shell command."""
    seconds: float
    stdout: str = ""
    stderr: str = ""
    rc: int = 0
    timed_out: bool = False

    @property
    def ok(self):
        return not self.timed_out and self.rc == 0


def run_shell(janitor, cmd, cwd, timeout, on_stuck=None):
    """Run `bash -o pipefail -c cmd` in cwd (a failing stage of a pipeline
    fails the run); wall time in seconds. On time-out the command's process
    group is killed and Run.timed_out is set. A process blocked inside a
    FUSE request ignores SIGKILL until the daemon answers: if the group is
    still there after STUCK_WAIT seconds, on_stuck() (kill the daemon, which
    aborts the connection) frees it."""
    start = time.perf_counter()
    proc = subprocess.Popen(["/bin/bash", "-o", "pipefail", "-c", cmd], cwd=cwd,
                            env=SHELL_ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, errors="replace", start_new_session=True)
    group = janitor.add("closeable", _Group(proc))
    try:
        out, err = proc.communicate(timeout=timeout)
        return Run(time.perf_counter() - start, out, err, proc.returncode)
    except subprocess.TimeoutExpired:
        elapsed = time.perf_counter() - start
        group.close()
        try:
            out, err = proc.communicate(timeout=STUCK_WAIT)
        except subprocess.TimeoutExpired:
            if on_stuck:
                log(f"a timed-out command is stuck in the filesystem: {on_stuck.__doc__}")
                on_stuck()
            out, err = proc.communicate()
        return Run(elapsed, out, err, -9, timed_out=True)
    finally:
        group.close()   # stragglers of a pipeline that ended early
        janitor.forget(group)


class _Group:
    """A command's process group, for the janitor."""

    def __init__(self, proc):
        self.proc = proc

    def close(self):
        stop_process(self.proc, group=True, timeout=2)


# ---- servers and mounts ----------------------------------------------------------

def read_first_line(proc, timeout):
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    return proc.stdout.readline() if ready else ""


class StaticServer:
    """bench/static_server.py on 127.0.0.1 serving root with added latency."""

    def __init__(self, janitor, root, latency_ms):
        self.proc = subprocess.Popen(
            [PYTHON, STATIC_SERVER, "--root", root, "--latency-ms", str(latency_ms)],
            stdout=subprocess.PIPE, text=True)
        janitor.add("closeable", self)
        line = read_first_line(self.proc, 20)
        if not line.startswith("listening on "):
            raise RuntimeError(f"static server did not start: {line!r}")
        self.url = line.split(" ", 2)[2].strip()

    def requests(self):
        with urllib.request.urlopen(self.url + "/_stats", timeout=10) as r:
            return json.load(r)["requests"]

    def close(self):
        stop_process(self.proc)
        if self.proc.stdout:
            self.proc.stdout.close()


class _FuseProcess:
    """Common part of a FUSE daemon run in the foreground on a temp dir."""

    name = "fuse"

    def __init__(self, janitor, workdir, cmd_for, stamp=False):
        self.janitor = janitor
        self.dir = tempfile.mkdtemp(prefix=self.name + "-", dir=workdir)
        self.mnt = os.path.join(self.dir, "mnt")
        os.mkdir(self.mnt)
        self.log_path = os.path.join(self.dir, "log")
        self.log = open(self.log_path, "w")
        self.stamped = []    # (perf_counter, line) when stamp is set
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(cmd_for(self.mnt),
                                     stdout=subprocess.PIPE if stamp else self.log,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     start_new_session=True, env=SHELL_ENV)
        if stamp:
            self.reader = threading.Thread(target=self._stamp_lines, daemon=True)
            self.reader.start()
        janitor.add("closeable", self)
        self.closed = False
        wait_mounted(self.mnt, self.proc, MOUNT_TIMEOUT, self.read_log, self.name)
        self.mounted_after = time.perf_counter() - self.started

    def _stamp_lines(self):
        """Copy the daemon's output to the log, noting when each line came."""
        for raw in self.proc.stdout:
            line = raw.decode(errors="replace")
            self.stamped.append((time.perf_counter(), line.rstrip("\n")))
            self.log.write(line)

    def read_log(self):
        return read_log(self.log, self.log_path)

    def kill(self):
        """killing the daemon aborts its FUSE connection"""
        try:
            self.proc.kill()
        except ProcessLookupError:
            pass

    def peak_rss_kib(self):
        """VmHWM of the daemon (KiB), None if it is gone."""
        try:
            with open(f"/proc/{self.proc.pid}/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        return int(line.split()[1])
        except OSError:
            return None
        return None

    def close(self):
        """Unmount, wait for the daemon, remove the temp dir; returns the
        daemon's exit status (None if it had to be killed)."""
        if self.closed:
            return self.proc.returncode
        self.closed = True
        unmount(self.mnt)
        try:
            rc = self.proc.wait(EXIT_TIMEOUT)
        except subprocess.TimeoutExpired:
            stop_process(self.proc)
            rc = None
        if getattr(self, "reader", None):
            self.reader.join(5)
        self.log.close()
        self.janitor.forget(self)
        self.log_tail = self.read_log()[-1500:]
        if not is_mounted(self.mnt):
            shutil.rmtree(self.dir, ignore_errors=True)
        return rc


class FsMount(_FuseProcess):
    """apisecfs -f -o token_file=...,OPTIONS URL MNT; with debug, -d: libfuse
    then traces every request into the log (see fuseops.py), which slows
    the daemon, so debug mounts are for counting, never for timing."""

    name = "apisecfs"

    def __init__(self, janitor, workdir, url, token_file, options, wrapper=(),
                 stamp=False, debug=False):
        opts = ",".join([f"token_file={token_file}"] + list(options))
        flags = ["-d"] if debug else ["-f"]
        super().__init__(janitor, workdir,
                         lambda mnt: list(wrapper) + [APISECFS] + flags + ["-o", opts, url, mnt],
                         stamp=stamp)

    def log_size(self):
        """Bytes the daemon has written to its log so far."""
        self.log.flush()
        return os.path.getsize(self.log_path)

    def close(self):
        rc = super().close()
        if rc != 0:
            log(f"warning: apisecfs exited with {rc}; its log ends:\n{self.log_tail}")
        return rc


class Httpdirfs(_FuseProcess):
    """httpdirfs -f URL/ MNT (no --cache: every mount starts cold)."""

    name = "httpdirfs"

    def __init__(self, janitor, workdir, url):
        super().__init__(janitor, workdir, lambda mnt: ["httpdirfs", "-f", url + "/", mnt])


# ---- the machine ---------------------------------------------------------------

def tool_version(cmd, word=None):
    """The first line of `cmd` (stdout and stderr) naming `word`, shortened
    to four words; None when the tool is missing."""
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    lines = (r.stdout + "\n" + r.stderr).strip().splitlines()
    word = (word or os.path.basename(cmd[0])).lower()
    for line in lines:
        if word in line.lower():
            return " ".join(line.split()[:4])
    return lines[0] if lines else None


def git_info():
    def git(*args):
        r = subprocess.run(["git", "-C", TOP] + list(args), capture_output=True, text=True)
        return r.stdout.strip() if r.returncode == 0 else ""
    short = git("rev-parse", "--short", "HEAD") or "nogit"
    dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    return {"commit": git("rev-parse", "HEAD"), "short": short, "dirty": dirty,
            "subject": git("log", "-1", "--format=%s")}


def machine_info(tmpfs_dir):
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem_kib = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem_kib = int(line.split()[1])
    os_name = "?"
    try:
        with open("/etc/os-release") as f:
            for line in f:
                if line.startswith("PRETTY_NAME="):
                    os_name = line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return {
        "cpu": cpu, "cores": os.cpu_count(), "mem_gib": round(mem_kib / 2**20, 1),
        "kernel": platform.release(), "os": os_name,
        "python": platform.python_version(),
        "loadavg_at_start": os.getloadavg(),
        "tmpfs": tmpfs_dir,
        "apisecfs": APISECFS,
        "tools": {
            "jq": tool_version(["jq", "--version"]),
            "curl": tool_version(["curl", "--version"]),
            "grep": tool_version(["grep", "--version"]),
            "httpdirfs": tool_version(["httpdirfs", "--version"], "httpdirfs version"),
            "fusermount3": tool_version(["fusermount3", "--version"]),
        },
    }


def is_tmpfs(path):
    best, fstype = "", None
    real = os.path.realpath(path)
    with open("/proc/self/mounts") as f:
        for line in f:
            parts = line.split()
            mp = parts[1]
            if (real == mp or real.startswith(mp.rstrip("/") + "/")) and len(mp) >= len(best):
                best, fstype = mp, parts[2]
    return fstype == "tmpfs"


def quote(s):
    return shlex.quote(str(s))
