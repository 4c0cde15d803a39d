#!/usr/bin/python3
"""profile.py - where does apisecfs spend one benchmark scenario?

    bench/profile.py --scenario grep-cold --n 10000 --latency 20 --tool callgrind
    bench/profile.py --scenario grep-warm --tool perf --system

Starts the simulator, mounts apisecfs (under valgrind's callgrind, or
normally with `perf record` attached to it, or with no profiler), runs the
scenario's command once (a warm scenario first runs it once unmeasured:
callgrind starts with instrumentation off and turns it on after that pass),
and prints

* the wall time and the simulator's request trace for the measured run:
  requests per route, statuses, and the last requests in order;
* the profile: callgrind_annotate's inclusive and self tables, or perf
  report's (with --system, perf samples the whole machine: the tool, the
  kernel's FUSE path and the daemon together).

The raw profile stays in --out (printed at the end) for kcachegrind or
`perf report`.  Only 127.0.0.1; everything started is stopped on exit.
"""

import argparse
import collections
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.realpath(__file__)))

import scenarios  # noqa: E402
from benchlib import (BASELINE_SH, FsMount, Janitor, Sim, log, quote,  # noqa: E402
                      run_shell, write_secret)


def parse_args(argv):
    p = argparse.ArgumentParser(prog="bench/profile.py",
                                description=__doc__.split("\n")[0])
    p.add_argument("--scenario", default="grep-cold",
                   choices=[s.key for s in scenarios.SCENARIOS])
    p.add_argument("--n", type=int, default=10000, help="findings (default 10000)")
    p.add_argument("--latency", type=float, default=20, help="ms per request")
    p.add_argument("--apps", type=int, help="applications (default: 20, or 2000 "
                   "for ls-apps-cold)")
    p.add_argument("--tool", choices=("callgrind", "perf", "none"), default="callgrind")
    p.add_argument("--system", action="store_true", help="perf: sample the whole machine")
    p.add_argument("--fs-option", action="append", default=[], dest="fs_options")
    p.add_argument("--timeline", action="store_true",
                   help="mount with log_level=debug and report when requests were in "
                   "flight (time waiting on the API vs local work)")
    p.add_argument("--top", type=int, default=30, help="rows of each profile table")
    p.add_argument("--trace", type=int, default=25, help="last requests to print")
    p.add_argument("--cap", type=float, default=1800, help="seconds before giving up")
    p.add_argument("--out", help="directory for the raw profile (default: a new one in /tmp)")
    return p.parse_args(argv)


def sample_file(janitor, sim, token_file, workdir, n_files=2000):
    """The pcat scenario's random file list, from a quick curl+jq listing."""
    tree = tempfile.mkdtemp(prefix="ids-", dir=workdir)
    r = run_shell(janitor, f"{quote(BASELINE_SH)} {quote(sim.url)} {quote(token_file)} "
                  ". vulns", tree, 600)
    if not r.ok:
        raise RuntimeError("listing for the sample failed: " + r.stderr[-500:])
    names = sorted(os.listdir(os.path.join(tree, "vulns")))
    path = os.path.join(workdir, "pcat-sample")
    with open(path, "w") as f:
        for name in random.Random(1).sample(names, min(n_files, len(names))):
            f.write(f"vulns/{name}\n")
    return path


def print_trace(stats, last):
    log(f"\n== requests: {stats['total']} in all")
    for route, count in sorted(stats["routes"].items(), key=lambda kv: -kv[1]):
        log(f"   {count:6d}  {route}")
    log(f"   statuses: {stats['status']}")
    recent = stats["recent"][-last:]
    if recent:
        log(f"   the last {len(recent)} requests, in order:")
        for e in recent:
            q = f"?{e['query']}" if e["query"] else ""
            inm = " (If-None-Match)" if e["ifNoneMatch"] else ""
            log(f"     {e['status']} {e['method']} {e['path']}{q[:90]}{inm}")
    kinds = collections.Counter(e["path"].split("?")[0].rsplit("/", 1)[0]
                                for e in stats["recent"])
    if kinds:
        log(f"   path prefixes in the last {len(stats['recent'])}: {dict(kinds)}")


REQ_RE = re.compile(r"debug: (\w+) (\S+) -> (\d+) \((\d+) bytes, (\d+) ms\)")


def print_timeline(stamped, t0, t1):
    """From the daemon's per-request debug lines (logged when a request
    ends, with its duration): how long at least one request was in flight,
    the largest number in flight at once, and the slowest requests."""
    reqs = []
    for t, line in stamped:
        m = REQ_RE.search(line)
        if m and t0 <= t <= t1 + 0.5:
            end = t - t0
            reqs.append((end - int(m.group(5)) / 1000.0, end, m.group(1),
                         m.group(2).split("/", 3)[-1], m.group(3)))
    wall = t1 - t0
    log(f"\n== timeline: {len(reqs)} requests logged in {wall:.3f} s")
    if not reqs:
        return
    edges = sorted([(s, 1) for s, *_ in reqs] + [(e, -1) for _, e, *_ in reqs])
    busy, depth, peak, last = 0.0, 0, 0, 0.0
    for t, d in edges:
        if depth > 0:
            busy += t - last
        depth += d
        peak = max(peak, depth)
        last = t
    total = sum(e - s for s, e, *_ in reqs)
    log(f"   a request in flight {busy:.3f} s ({100 * busy / wall:.0f}% of the wall time); "
        f"local work with none in flight {wall - busy:.3f} s")
    log(f"   at most {peak} in flight at once; sum of request times {total:.3f} s; "
        f"mean {1000 * total / len(reqs):.1f} ms")
    first = min(s for s, *_ in reqs)
    last_end = max(e for _, e, *_ in reqs)
    log(f"   first request starts at {first:.3f} s, last ends at {last_end:.3f} s")
    gaps = []
    prev_end = 0.0
    for s_, e, *_ in sorted(reqs):
        if s_ > prev_end:
            gaps.append((s_ - prev_end, prev_end))
        prev_end = max(prev_end, e)
    gaps.append((wall - prev_end, prev_end))
    for g, at in sorted(gaps, reverse=True)[:5]:
        log(f"   idle gap {1000 * g:7.1f} ms after {at:.3f} s")


def main(argv=None):
    args = parse_args(argv)
    sc = next(s for s in scenarios.SCENARIOS if s.key == args.scenario)
    apps = args.apps or (2000 if sc.site == "apps" else 20)
    out = args.out or tempfile.mkdtemp(prefix="apisecfs-profile-")
    os.makedirs(out, exist_ok=True)
    janitor = Janitor()
    janitor.install_signal_handlers()
    try:
        workdir = janitor.add("dir", tempfile.mkdtemp(prefix="apisecfs-prof-", dir="/tmp"))
        sim = janitor.add("sim", Sim(apps=apps, vulns=args.n, seed=1,
                                     latency_ms=args.latency).start())
        token = write_secret(workdir, "token", sim.creds["admin_token"])
        cmd = sc.cmd
        if "{sample}" in cmd:
            cmd = cmd.replace("{sample}", quote(sample_file(janitor, sim, token, workdir)))
        wrapper = ()
        cg_out = os.path.join(out, "callgrind.out")
        if args.tool == "callgrind":
            wrapper = ("valgrind", "--tool=callgrind", f"--callgrind-out-file={cg_out}",
                       f"--instr-atstart={'no' if sc.warm else 'yes'}")
        opts = ["cache_ttl=600", "cache_size=128"] + args.fs_options
        if args.timeline:
            opts.append("log_level=debug")
        log(f"mounting ({args.tool}); {args.n} findings, {apps} apps, {args.latency:g} ms")
        m = FsMount(janitor, workdir, sim.url, token, opts, wrapper=wrapper,
                    stamp=args.timeline)
        pid = m.proc.pid
        if sc.warm:
            r = run_shell(janitor, cmd, m.mnt, args.cap)
            log(f"first (unmeasured) pass: {r.seconds:.3f} s")
            if args.tool == "callgrind":
                subprocess.run(["callgrind_control", "-i", "on", str(pid)],
                               capture_output=True, check=True)
        perf = None
        perf_data = os.path.join(out, "perf.data")
        if args.tool == "perf":
            target = ["-a"] if args.system else ["-p", str(pid)]
            perf = subprocess.Popen(["perf", "record", "-e", "cpu-clock", "-F", "2000", "-g",
                                     "-o", perf_data] + target,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            janitor.add("proc", perf)
            time.sleep(0.5)
        sim.reset_stats()
        t0 = time.perf_counter()
        r = run_shell(janitor, cmd, m.mnt, args.cap)
        t1 = time.perf_counter()
        stats = sim.stats()
        if perf:
            perf.send_signal(signal.SIGINT)
            perf.wait(60)
        log(f"\n== {sc.key}: {cmd}\n   {r.seconds:.3f} s, exit {r.rc}"
            f"{' (timed out)' if r.timed_out else ''}; output {sc.normalize(r.stdout)[0]}; "
            f"peak RSS {m.peak_rss_kib() or 0} KiB")
        print_trace(stats, args.trace)
        m.close()
        if args.timeline:
            print_timeline(m.stamped, t0, t1)
        if args.tool == "callgrind":
            files = sorted(f for f in os.listdir(out) if f.startswith("callgrind.out"))
            for inclusive in ("yes", "no"):
                rep = subprocess.run(["callgrind_annotate", f"--inclusive={inclusive}",
                                      os.path.join(out, files[-1])],
                                     capture_output=True, text=True)
                lines = rep.stdout.splitlines()
                head = next((i for i, ln in enumerate(lines) if "file:function" in ln), 0)
                log(f"\n== callgrind, {'inclusive' if inclusive == 'yes' else 'self'}")
                log("\n".join(lines[max(0, head - 2):head + args.top]))
        elif args.tool == "perf":
            for children in ("--children", "--no-children"):
                rep = subprocess.run(["perf", "report", "-i", perf_data, "--stdio",
                                      children, "-g", "none", "--percent-limit", "0.5",
                                      "--sort", "comm,dso,sym"],
                                     capture_output=True, text=True)
                lines = [ln for ln in rep.stdout.splitlines() if ln and not ln.startswith("#")]
                log(f"\n== perf {children}")
                log("\n".join(lines[:args.top]))
        log(f"\nraw profile in {out}")
    except KeyboardInterrupt:
        log("interrupted")
        return 130
    finally:
        janitor.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
