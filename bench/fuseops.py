"""fuseops.py - FUSE requests by op, counted from the daemon's own trace.

A mount started with -d (benchlib.FsMount(debug=True)) has libfuse write
one line per request it receives into the daemon's log:

    apisecfs: debug: unique: 42, opcode: LOOKUP (1), nodeid: 1, insize: 49, pid: 7

Counting the opcodes between two offsets of that log gives the requests a
command cost the kernel to send; divided by the files it touched, the
requests per file by op -- the figure issue 15 is about (a LOOKUP and an
OPEN per file are round trips that readdirplus and no_open remove).  The
trace slows the daemon, so these counts come from runs of their own, never
from timed ones.
"""

import collections
import re

OPCODE = re.compile(rb"\bunique: \d+, opcode: ([A-Z_0-9]+) \(")
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
