"""fuseops.py - FUSE requests by op, counted by the daemon itself.

Two sources, the first one the binary has:

* `.stats` at the mount's root (apisecfs_fuse_requests_total{op="lookup"}
  and so on, Prometheus text made afresh at each open).  Reading it costs a
  few requests of its own (READLINK, and OPEN/READ/RELEASE in the control
  mount, whose ops the counters include): OpCount reads it twice in a row
  at mark() and subtracts that overhead from what take() finds.
* the -d trace of older binaries (benchlib.FsMount(debug=True)), where
  libfuse writes one line per request into the daemon's log:

    apisecfs: debug: unique: 42, opcode: LOOKUP (1), nodeid: 1, insize: 49, pid: 7

  counted between two offsets of the log; the trace slows the daemon, so
  such counts never come from timed runs.

The requests a command cost, divided by the files it touched, give the
requests per file by op -- the figure issue 15 is about (a LOOKUP and an
OPEN per file are round trips that readdirplus and no_open remove).
"""

import collections
import os
import re

OPCODE = re.compile(rb"\bunique: \d+, opcode: ([A-Z_0-9]+) \(")
STAT = re.compile(r'^apisecfs_fuse_requests_total\{op="([a-z_0-9]+)"\} (\d+)$', re.M)
# The ops the table shows per file, in this order; the JSON keeps them all.
SHOWN = ("LOOKUP", "OPEN", "READ", "GETATTR", "READDIRPLUS")


def count(log_path, start=0):
    """(Counter of opcodes, end offset) of the trace lines in log_path
    from byte offset start on.  A line cut at the end (still being
    written) is left for the next call."""
    ops = collections.Counter()
    with open(log_path, "rb") as f:
        f.seek(start)
        data = f.read()
    end = data.rfind(b"\n") + 1
    for m in OPCODE.finditer(data, 0, end):
        ops[m.group(1).decode()] += 1
    return ops, start + end


def per_file(ops, n_files):
    """{op: requests per file} for the SHOWN ops and the total."""
    n = max(1, n_files)
    out = {op: ops.get(op, 0) / n for op in SHOWN}
    out["all"] = sum(ops.values()) / n
    return out


def fmt_per_file(pf):
    """'LOOKUP 0.00 OPEN 0.00 READ 1.00 ...' for the table."""
    return "  ".join(f"{op} {pf[op]:.2f}" for op in SHOWN + ("all",))


def stats_ops(mnt):
    """Counter of apisecfs_fuse_requests_total by op (upper case, as in the
    trace) from mnt/.stats; None when the binary has no .stats."""
    try:
        with open(os.path.join(mnt, ".stats")) as f:
            text = f.read()
    except FileNotFoundError:
        return None
    ops = collections.Counter({op.upper(): int(n) for op, n in STAT.findall(text)})
    return ops if ops else None


class OpCount:
    """The FUSE requests between mark() and take() on one FsMount, from
    .stats when the mount has it, else from its -d trace (then the mount
    must have been started with debug=True: see counted_mount)."""

    def __init__(self, mount):
        self.mount = mount
        self.source = "stats" if stats_ops(mount.mnt) is not None else "trace"
        self.base, self.overhead = None, collections.Counter()

    def mark(self):
        if self.source == "stats":
            first = stats_ops(self.mount.mnt)
            self.base = stats_ops(self.mount.mnt)
            self.overhead = self.base - first
        else:
            self.base = self.mount.log_size()

    def take(self):
        """Requests since mark(); marks again."""
        if self.source == "stats":
            ops = stats_ops(self.mount.mnt) - self.base - self.overhead
            self.mark()
        else:
            ops, self.base = count(self.mount.log_path, self.base)
        return ops


def counted_mount(site, **kw):
    """A mount of site whose requests OpCount can count: a plain one when
    the binary has .stats, else one with the -d trace."""
    m = site.mount(**kw)
    if stats_ops(m.mnt) is not None:
        return m
    m.close()
    return site.mount(debug=True, **kw)
