"""scenarios.py - what bench/run measures: the commands, run side by side
on an apisecfs mount and on the baselines, and how their outputs compare.

Every command runs with `bash -c` in the root of a tree: the apisecfs mount
point, or a directory laid out the same way by bench/baseline_curl_jq.sh
(vulns/<id>.json, vulns/all.jsonl, apps/<id>.json).  The same command text
runs on both sides; only the tree differs.

Baselines (see bench/README.md):
  curl+jq    cold: download with baseline_curl_jq.sh, then the command; the
             time includes the download (a fresh download every run);
  tmpfs      the command over a downloaded copy on tmpfs (local, warm);
  tmpfs-tree the command over a `cp -a` of the mount's own vulns/ on tmpfs:
             the same tree, by-severity/ and by-status/ link directories
             (20,000 symlinks at N=10,000) included (warm grep only);
  httpdirfs  a fresh httpdirfs mount over bench/static_server.py serving
             that copy with the simulator's latency (generic FUSE-over-HTTP).
"""

import hashlib
import os
from dataclasses import dataclass

CURL_JQ, TMPFS, HTTPDIRFS = "curl+jq", "tmpfs", "httpdirfs"
TMPFS_TREE = "tmpfs-tree"

GREP = "grep -rl 'API1:2023' vulns/ --exclude=all.jsonl"
# ARG_MAX-safe at 100,000 files: xargs may split the list, so each batch's
# count is summed (the same on both sides).
JQ = ("find vulns -maxdepth 1 -type f -name '*.json' -print0"
      " | xargs -0 jq -s 'map(select(.severity==\"critical\"))|length'"
      " | awk '{s+=$1} END {print s+0}'")
JSONL = "cat vulns/all.jsonl | wc -l"
LS_APPS = "ls -l apps/"
FIND = "find . -type f | wc -l"
# The findings a tree holds (apisecfs --export writes vulns/<id>.json as
# the baseline does; all.jsonl and the by-* views are not counted).
FINDINGS = "find vulns -maxdepth 1 -type f -name '*.json' | wc -l"
# {sample} is a file of relative paths vulns/<id>.json chosen at random
# (seeded) from the listing; 16 cat processes at a time, 8 files each.
PCAT = "xargs -a {sample} -P16 -n 8 cat | wc -c"


# ---- output normalizers: stdout -> (what to show, what to compare) --------

def file_set(out):
    """grep -l output: the set of matching file names, path prefix aside."""
    names = sorted(os.path.basename(line) for line in out.splitlines() if line)
    digest = hashlib.sha1("\n".join(names).encode()).hexdigest()[:12]
    return f"{len(names)} files", (len(names), digest)


def number(out):
    text = out.strip()
    try:
        value = int(text)
    except ValueError:
        return f"?{text[:20]!r}", ("unparsable", text)
    return str(value), value


def ls_entries(out):
    """ls -l output: the number of entries, the 'total' line and
    apisecfs's control file apps/new aside (a symlink into the control
    mount, "new -> ../.ctl/apps/new", or a file of that name)."""
    lines = [line for line in out.splitlines()
             if line and not line.startswith("total ") and not line.endswith(" new")
             and not (line.startswith("l") and " new -> " in line)]
    return f"{len(lines)} entries", len(lines)


@dataclass(frozen=True)
class Scenario:
    key: str                 # short id used in the JSON and --scenarios
    title: str               # what the table shows
    cmd: str                 # shell command, run in the tree's root
    warm: bool               # False: fresh mount / fresh download per run
    site: str                # "vulns" (the findings simulator) or "apps"
    kinds: tuple             # what baseline_curl_jq.sh downloads for it
    baselines: tuple
    normalize: object
    comparable: bool = True  # False: the trees differ, outputs are info
    export: bool = False     # apisecfs side: `apisecfs --export URL .` in a
                             # fresh directory (warm: a re-run into the same
                             # one), then cmd; no mount
    export_only: str = ""    # -o only= of that export ("": the whole tree)


SCENARIOS = (
    Scenario("grep-cold", "grep -rl API1:2023 vulns/ (cold)", GREP, False, "vulns",
             ("vulns",), (CURL_JQ, HTTPDIRFS), file_set),
    Scenario("grep-warm", "grep -rl API1:2023 vulns/ (warm)", GREP, True, "vulns",
             (), (TMPFS, TMPFS_TREE), file_set),
    Scenario("jq-cold", "jq -s critical count (cold)", JQ, False, "vulns",
             ("vulns",), (CURL_JQ, HTTPDIRFS), number),
    Scenario("jq-warm", "jq -s critical count (warm)", JQ, True, "vulns",
             (), (TMPFS,), number),
    Scenario("jsonl-cold", "cat vulns/all.jsonl | wc -l (cold)", JSONL, False, "vulns",
             ("jsonl",), (CURL_JQ, HTTPDIRFS), number),
    Scenario("jsonl-warm", "cat vulns/all.jsonl | wc -l (warm)", JSONL, True, "vulns",
             (), (TMPFS,), number),
    Scenario("ls-apps-cold", "ls -l apps/ (cold, many apps)", LS_APPS, False, "apps",
             ("apps",), (CURL_JQ, HTTPDIRFS), ls_entries),
    Scenario("find-cold", "find . -type f | wc -l (cold)", FIND, False, "vulns",
             ("vulns", "jsonl", "apps"), (CURL_JQ, TMPFS, HTTPDIRFS), number,
             comparable=False),
    Scenario("export-cold", "apisecfs --export vs download (cold)", FINDINGS,
             False, "vulns", ("vulns",), (CURL_JQ,), number, export=True),
    Scenario("export-rerun", "apisecfs --export re-run, no change", FINDINGS,
             True, "vulns", ("vulns",), (CURL_JQ,), number, export=True),
    # The same findings the baseline writes: -o only=vulns (the finding
    # files, plus all.jsonl and the by-* views the baseline does not write).
    Scenario("export-vulns-cold", "apisecfs --export only=vulns (cold)",
             FINDINGS, False, "vulns", ("vulns",), (CURL_JQ,), number,
             export=True, export_only="vulns"),
    Scenario("export-vulns-rerun", "apisecfs --export only=vulns re-run",
             FINDINGS, True, "vulns", ("vulns",), (CURL_JQ,), number,
             export=True, export_only="vulns"),
    Scenario("pcat16-cold", "16-way parallel cat, random files (cold)", PCAT, False,
             "vulns", ("vulns",), (CURL_JQ, HTTPDIRFS), number),
)


def select(keys):
    """The scenarios named in keys (comma-separated), all when empty."""
    if not keys:
        return SCENARIOS
    wanted = [k.strip() for k in keys.split(",") if k.strip()]
    known = {s.key: s for s in SCENARIOS}
    unknown = [k for k in wanted if k not in known]
    if unknown:
        raise SystemExit(f"unknown scenario(s) {', '.join(unknown)}; "
                         f"known: {', '.join(known)}")
    return tuple(known[k] for k in wanted)
