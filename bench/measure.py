"""measure.py - one benchmark configuration (N findings, L ms latency,
a kind): start the simulators, lay out the reference trees, time every
scenario on apisecfs and its baselines, and take the request-count probes.

Kinds (the third field of --configs N:L[:KIND]):
  (none)  every scenario and every probe, findings of ~1.1 KB;
  lean    findings with one-line texts (simulator --lean, ~700 bytes): the
          grep rows (apisecfs vs curl+jq cold, vs tmpfs warm), the export of
          the findings (-o only=vulns vs curl+jq) and the FUSE requests per
          file, where the per-file cost dominates;
  fresh   no scenario: the freshness probes only (freshness.py), at the N
          issue 15 names for them (30,000).

A "site" is one simulator plus what is derived from it: a token file, the
reference tree on tmpfs (downloaded once with baseline_curl_jq.sh), and,
when httpdirfs is usable, a static server over that tree with the same
latency.  Two sites per configuration:

  vulns  N findings over a few applications (scans, findings, find -r);
  apps   many applications (the `ls -l apps/` scenario).

Cells (one scenario on one side) are repeated --reps times; cold runs use
a fresh mount or a fresh download every time, warm runs reuse one mount
after an untimed first pass.  A run that passes its cap is killed and the
cell reports a lower bound.
"""

import math
import os
import random
import shutil
import statistics
import tempfile
import time

import benchlib
import freshness
import fuseops
from benchlib import (BASELINE_SH, FsMount, Httpdirfs, Sim, StaticServer, log,
                      quote, run_shell, write_secret)
from scenarios import CURL_JQ, GREP, HTTPDIRFS, JQ, JSONL, TMPFS, TMPFS_TREE

PAGE = 500                      # the API's largest page
AUTH_ROUTES = ("GET /v1/me", "POST /oauth2/token", "POST /auth/login")
RSS_PROBE_CACHE_MIB = 16        # the small cache of the memory-bound probe
RSS_BASE_MIB = 64               # the target: 64 MiB + cache_size
LOOKUP_BOUND = 10               # "no LOOKUP per entry": a few, whatever N is
KINDS = ("", "lean", "fresh")
# Lean data makes the baselines faster too: the export of the findings
# is held to them there as well (a careful user's script on lean data).
LEAN_SCENARIOS = ("grep-cold", "grep-warm", "export-vulns-cold",
                  "export-vulns-rerun")


def pages(n):
    return max(1, math.ceil(n / PAGE))


class Site:
    """One simulator and its reference tree."""

    def __init__(self, cfg, name, apps, vulns, kinds, lean=False):
        self.cfg, self.name = cfg, name
        self.n_apps, self.n_vulns = apps, vulns
        self.sim = cfg.janitor.add("sim", Sim(apps=apps, vulns=vulns, seed=1,
                                              latency_ms=cfg.latency_ms,
                                              extra_args=["--lean"] if lean else ()).start())
        self.url = self.sim.url
        self.token_file = write_secret(cfg.workdir, f"{name}.token",
                                       self.sim.creds["admin_token"])
        self.tree = os.path.join(cfg.tmpfs_dir, name)
        os.mkdir(self.tree)
        t0 = time.perf_counter()
        r = run_shell(cfg.janitor, f"{quote(BASELINE_SH)} {quote(self.url)} "
                      f"{quote(self.token_file)} . {kinds}", self.tree, cfg.opts.cap)
        if not r.ok:
            raise RuntimeError(f"reference download failed: {r.stderr[-1000:]}")
        self.download_s = time.perf_counter() - t0
        self.static = None
        self.same_tree = None

    def mirror(self):
        """A cp -a of a mount's vulns/ on tmpfs, made once: the tree the
        mount shows (link directories included), as local files."""
        if self.same_tree is None:
            d = os.path.join(self.cfg.tmpfs_dir, self.name + "-tree")
            os.mkdir(d)
            m = self.mount()
            try:
                r = run_shell(self.cfg.janitor, f"cp -a {quote(m.mnt)}/vulns .",
                              d, self.cfg.opts.cap, on_stuck=m.kill)
            finally:
                m.close()
            if not r.ok:
                raise RuntimeError(f"cp -a of the mount failed: {r.stderr[-1000:]}")
            self.same_tree = d
        return self.same_tree

    def static_server(self):
        if self.static is None:
            self.static = StaticServer(self.cfg.janitor, self.tree, self.cfg.latency_ms)
        return self.static

    def mount(self, ttl=600, cache_size=None, wrapper=(), debug=False):
        opts = [f"cache_ttl={ttl}",
                f"cache_size={cache_size or self.cfg.opts.cache_size}"]
        return FsMount(self.cfg.janitor, self.cfg.workdir, self.url, self.token_file,
                       opts + list(self.cfg.opts.fs_options), wrapper=wrapper,
                       debug=debug)


class Cell:
    """The runs of one scenario on one side."""

    def __init__(self, side, cap):
        self.side, self.cap = side, cap
        self.samples, self.requests, self.rss_kib = [], [], []
        self.outputs = []
        self.timed_out = False
        self.error = None
        self.skipped = None
        self.extra = {}

    def add(self, run, scenario, requests=None, rss_kib=None):
        """Record one run; False when the cell should stop repeating."""
        if run.timed_out:
            self.timed_out = True
            return False
        if run.rc != 0:
            self.error = f"exit {run.rc}: {run.stderr.strip()[-300:]}"
            return False
        self.samples.append(run.seconds)
        self.outputs.append(scenario.normalize(run.stdout))
        if requests is not None:
            self.requests.append(requests)
        if rss_kib is not None:
            self.rss_kib.append(rss_kib)
        return True

    def summary(self):
        """One line for the progress log."""
        if self.skipped:
            return f"{self.side} skipped"
        if self.error:
            return f"{self.side} error"
        if self.median is None:
            return f"{self.side} >{self.cap:g} s"
        return f"{self.side} {self.median:.3f} s (n={len(self.samples)})"

    @property
    def median(self):
        return statistics.median(self.samples) if self.samples else None

    @property
    def output(self):
        """(display, key) of the first run, or None."""
        return self.outputs[0] if self.outputs else None

    def as_json(self):
        return {
            "side": self.side, "median_s": self.median, "samples_s": self.samples,
            "n": len(self.samples), "timed_out": self.timed_out, "cap_s": self.cap,
            "error": self.error, "skipped": self.skipped,
            "requests": self.requests,
            "requests_median": statistics.median(self.requests) if self.requests else None,
            "peak_rss_kib": max(self.rss_kib) if self.rss_kib else None,
            "output": self.output[0] if self.output else None,
            "key": self.output[1] if self.output else None,
            "consistent": len({repr(o[1]) for o in self.outputs}) <= 1,
            "outputs": [o[0] for o in self.outputs],
            **self.extra,
        }


class Config:
    """N findings at L ms: sites, scenario cells and probes."""

    def __init__(self, janitor, opts, n_vulns, latency_ms, workdir, tmpfs_root,
                 httpdirfs_ok, httpdirfs_timeouts, kind=""):
        assert kind in KINDS
        self.janitor, self.opts = janitor, opts
        self.n_vulns, self.latency_ms, self.kind = n_vulns, latency_ms, kind
        tag = f"n{n_vulns}-l{latency_ms}{'-' + kind if kind else ''}-"
        self.workdir = tempfile.mkdtemp(prefix=tag, dir=workdir)
        self.tmpfs_dir = janitor.add("dir", tempfile.mkdtemp(prefix=tag, dir=tmpfs_root))
        self.httpdirfs_ok = httpdirfs_ok             # None or the reason it is not
        self.httpdirfs_timeouts = httpdirfs_timeouts  # (key, latency) -> N
        self.sites = {}
        self.sample_file = None

    def scenarios(self, selected):
        """The selected scenarios this kind runs."""
        if self.kind == "fresh":
            return ()
        if self.kind == "lean":
            return tuple(s for s in selected if s.key in LEAN_SCENARIOS)
        return tuple(selected)

    def setup(self):
        o = self.opts
        kind = f" ({self.kind})" if self.kind else ""
        log(f"== N={self.n_vulns} findings{kind}, latency {self.latency_ms} ms: "
            "starting simulators, downloading reference trees")
        self.sites["vulns"] = Site(self, "vulns", o.vuln_apps, self.n_vulns,
                                   "vulns" if self.kind else "vulns jsonl apps",
                                   lean=self.kind == "lean")
        if not self.kind:
            self.sites["apps"] = Site(self, "apps", o.n_apps, min(self.n_vulns, 1000), "apps")
        names = sorted(f for f in os.listdir(os.path.join(self.sites["vulns"].tree, "vulns"))
                       if f.endswith(".json"))
        k = min(len(names), o.pcat_files)
        sample = random.Random(o.seed).sample(names, k)
        self.sample_file = os.path.join(self.workdir, "pcat-sample")
        with open(self.sample_file, "w") as f:
            f.writelines(f"vulns/{name}\n" for name in sample)
        for s in self.sites.values():
            log(f"   {s.name}: {s.n_apps} apps, {s.n_vulns} findings; reference "
                f"download {s.download_s:.2f} s")

    def teardown(self):
        for s in self.sites.values():
            if s.static:
                s.static.close()
                self.janitor.forget(s.static)
            s.sim.stop()
            self.janitor.forget(s.sim)
        shutil.rmtree(self.tmpfs_dir, ignore_errors=True)
        self.janitor.forget(self.tmpfs_dir)
        shutil.rmtree(self.workdir, ignore_errors=True)

    # ---- scenarios ---------------------------------------------------------

    def command(self, scenario):
        return scenario.cmd.replace("{sample}", quote(self.sample_file))

    def run_scenario(self, sc):
        site = self.sites[sc.site]
        cells = [self.apisecfs_cell(site, sc)]
        # lean rows answer issue 15's targets, against curl+jq and tmpfs
        baselines = [b for b in sc.baselines if not (self.kind and b == HTTPDIRFS)]
        for side in baselines:
            if side == CURL_JQ:
                cells.append(self.curl_jq_cell(site, sc))
            elif side == TMPFS:
                cells.append(self.tmpfs_cell(site, sc))
            elif side == TMPFS_TREE:
                cells.append(self.tmpfs_cell(site, sc, site.mirror(), TMPFS_TREE))
            elif side == HTTPDIRFS:
                cells.append(self.httpdirfs_cell(site, sc))
        log(f"-- {sc.key}: " + ", ".join(c.summary() for c in cells))
        return cells

    def apisecfs_cell(self, site, sc):
        if sc.export:
            return self.export_cell(site, sc)
        cell = Cell("apisecfs", self.opts.cap)
        cmd = self.command(sc)
        if sc.warm:
            m = site.mount()
            try:
                site.sim.reset_stats()
                first = run_shell(self.janitor, cmd, m.mnt, self.opts.cap, on_stuck=m.kill)
                cell.extra["first_run_s"] = first.seconds
                cell.extra["first_run_requests"] = site.sim.stats()["total"]
                if not first.ok:
                    cell.add(first, sc)
                    return cell
                for _ in range(self.opts.reps):
                    site.sim.reset_stats()
                    r = run_shell(self.janitor, cmd, m.mnt, self.opts.cap, on_stuck=m.kill)
                    if not cell.add(r, sc, site.sim.stats()["total"], m.peak_rss_kib()):
                        break
            finally:
                m.close()
            return cell
        for rep in range(self.opts.reps):
            m = site.mount()
            try:
                site.sim.reset_stats()
                r = run_shell(self.janitor, cmd, m.mnt, self.opts.cap, on_stuck=m.kill)
                st = site.sim.stats()
                more = cell.add(r, sc, st["total"], m.peak_rss_kib())
                if rep == 0:
                    cell.extra["routes"] = st["routes"]
                    cell.extra["status"] = st["status"]
            finally:
                m.close()
            if not more:
                break
        return cell

    def export_cmd(self, site, rss_file, only=""):
        """apisecfs --export of site (only: its -o only=) into the current
        directory, its peak RSS into rss_file (by /usr/bin/time when there
        is one)."""
        opts = ",".join([f"token_file={site.token_file}",
                         f"cache_size={self.opts.cache_size}"] +
                        ([f"only={only}"] if only else []) + self.opts.fs_options)
        cmd = (f"{quote(benchlib.APISECFS)} --export -o {quote(opts)} "
               f"{quote(site.url)} .")
        if os.access("/usr/bin/time", os.X_OK):
            cmd = f"/usr/bin/time -f %M -o {quote(rss_file)} {cmd}"
        return cmd

    def export_cell(self, site, sc):
        """Cold: a fresh directory each run. Warm: one untimed export, then
        re-runs into the same directory (one 304 per unchanged page). The
        directories stay until the configuration ends: see written_dir."""
        cell = Cell("apisecfs", self.opts.cap)
        rss_file = os.path.join(self.workdir, "export.rss")
        cmd = f"{self.export_cmd(site, rss_file, sc.export_only)} && {self.command(sc)}"
        d = None
        for rep in range(self.opts.reps + (1 if sc.warm else 0)):
            if d is None or not sc.warm:
                d = self.written_dir("export-")
            site.sim.reset_stats()
            r = run_shell(self.janitor, cmd, d, self.opts.cap)
            st = site.sim.stats()
            if sc.warm and rep == 0:
                cell.extra["first_run_s"] = r.seconds
                cell.extra["first_run_requests"] = st["total"]
                if r.ok:
                    continue
            try:
                with open(rss_file) as f:
                    rss = int(f.read().split()[-1])
            except (OSError, ValueError, IndexError):
                rss = None
            more = cell.add(r, sc, st["total"], rss)
            if "status" not in cell.extra:
                cell.extra["routes"] = st["routes"]
                cell.extra["status"] = st["status"]
            if not more:
                break
        return cell

    def written_dir(self, prefix):
        """A new directory for one run that writes a tree to disk. It is
        removed with the configuration's, not before the next run: ext4
        without a journal (this VM's disk) passes over inodes freed in the
        last minute when it allocates, so a run made right after removing
        the previous run's 13,000 files paid ~0.2 ms a new file scanning
        them, more the more files it makes, on either side."""
        return tempfile.mkdtemp(prefix=prefix, dir=self.workdir)

    def curl_jq_cell(self, site, sc):
        cell = Cell(CURL_JQ, self.opts.cap)
        cmd = (f"{quote(BASELINE_SH)} {quote(site.url)} {quote(site.token_file)} . "
               f"{' '.join(sc.kinds)} && {self.command(sc)}")
        for _ in range(self.opts.reps):
            d = self.written_dir("curl-jq-")
            site.sim.reset_stats()
            r = run_shell(self.janitor, cmd, d, self.opts.cap)
            more = cell.add(r, sc, site.sim.stats()["total"])
            if not more:
                break
        return cell

    def tmpfs_cell(self, site, sc, tree=None, side=TMPFS):
        cell = Cell(side, self.opts.cap)
        cmd = self.command(sc)
        tree = tree or site.tree
        run_shell(self.janitor, cmd, tree, self.opts.cap)   # warm the caches
        for _ in range(self.opts.reps):
            if not cell.add(run_shell(self.janitor, cmd, tree, self.opts.cap), sc, 0):
                break
        return cell

    def httpdirfs_cell(self, site, sc):
        cap = self.opts.httpdirfs_cap
        cell = Cell(HTTPDIRFS, cap)
        if self.httpdirfs_ok is not None:
            cell.skipped = self.httpdirfs_ok
            return cell
        earlier = self.httpdirfs_timeouts.get((sc.key, self.latency_ms))
        if earlier is not None and earlier <= self.n_vulns:
            cell.skipped = f"timed out (>{cap:g} s) at N={earlier} already"
            return cell
        server = site.static_server()
        for _ in range(self.opts.httpdirfs_reps):
            try:
                h = Httpdirfs(self.janitor, self.workdir, server.url)
            except RuntimeError as exc:
                cell.error = str(exc)[:300]
                break
            try:
                before = server.requests()
                r = run_shell(self.janitor, self.command(sc), h.mnt, cap, on_stuck=h.kill)
                more = cell.add(r, sc, server.requests() - before, h.peak_rss_kib())
            finally:
                h.close()
            if not more:
                break
        if cell.timed_out:
            self.httpdirfs_timeouts[(sc.key, self.latency_ms)] = self.n_vulns
        return cell

    # ---- probes --------------------------------------------------------------

    def shell(self, cmd, cwd):
        r = run_shell(self.janitor, cmd, cwd, self.opts.cap)
        if not r.ok:
            raise RuntimeError(f"probe command failed: {cmd}: "
                               f"{'timeout' if r.timed_out else r.stderr[-300:]}")
        return r

    def run_probes(self):
        """The probes of this kind: {name: result}."""
        log("-- probes")
        out = {}
        vs = self.sites["vulns"]
        if self.kind in ("", "fresh"):
            out["revalidate"] = freshness.probe_revalidate(self, vs)
            out["change"] = freshness.probe_change(self, vs)
        if self.kind == "fresh":
            return out
        out["fuse_ops"] = self.probe_fuse_ops(vs)
        if self.kind == "lean":
            return out
        out["first_ls"] = self.probe_first_ls(vs)
        out.update(self.probe_listing(vs))
        out["list_apps"] = self.probe_list_apps(self.sites["apps"])
        out["rss_bound"] = self.probe_rss(vs)
        return out

    def probe_fuse_ops(self, site):
        """FUSE requests per file by op for the grep row, cold (a fresh
        mount) then warm (the same command again), by fuseops.OpCount."""
        n = site.n_vulns
        m = fuseops.counted_mount(site)
        try:
            counter = fuseops.OpCount(m)
            counter.mark()
            cold_run = self.shell(GREP + " | wc -l", m.mnt)
            cold = counter.take()
            self.shell(GREP + " | wc -l", m.mnt)
            warm = counter.take()
        finally:
            m.close()
        return {"what": GREP, "files": n, "matches": int(cold_run.stdout.strip() or 0),
                "source": counter.source,
                "cold": dict(cold), "warm": dict(warm),
                "cold_per_file": fuseops.per_file(cold, n),
                "warm_per_file": fuseops.per_file(warm, n)}

    def probe_first_ls(self, site):
        """Requests from spawn to the end of the first `ls` of the root."""
        site.sim.reset_stats()
        t0 = time.perf_counter()
        m = site.mount()
        try:
            pre = site.sim.stats()
            r = self.shell("ls >/dev/null", m.mnt)
            elapsed = time.perf_counter() - t0
            post = site.sim.stats()
            site.sim.reset_stats()
            self.shell("ls -l >/dev/null", m.mnt)
            ls_l = site.sim.stats()["total"]
        finally:
            m.close()
        auth = sum(pre["routes"].get(k, 0) for k in AUTH_ROUTES)
        return {"at_mount": pre["total"], "at_mount_routes": pre["routes"],
                "auth": auth, "beyond_auth": post["total"] - auth,
                "first_ls_routes": post["routes"], "ls_s": r.seconds,
                "spawn_to_first_ls_s": elapsed, "then_ls_l_requests": ls_l,
                "bound": 2, "met": post["total"] - auth <= 2}

    def probe_listing(self, site):
        """`ls -l vulns/` on a fresh mount, then the same reads again
        within the TTL (which should make no request at all)."""
        n = site.n_vulns
        sample = "vulns/" + sorted(os.listdir(os.path.join(site.tree, "vulns")))[0]
        again = f"ls -l vulns/ >/dev/null; cat vulns/all.jsonl {quote(sample)} >/dev/null"
        m = fuseops.counted_mount(site)
        try:
            counter = fuseops.OpCount(m)
            counter.mark()
            site.sim.reset_stats()
            self.shell("ls -l vulns/ >/dev/null", m.mnt)
            st = site.sim.stats()
            ops = counter.take()
            self.shell(again, m.mnt)
            site.sim.reset_stats()
            self.shell(again, m.mnt)
            cached = site.sim.stats()
        finally:
            m.close()
        bound = pages(n) + 5
        lookups = ops.get("LOOKUP", 0)
        return {
            "list_vulns": {"n": n, "requests": st["total"], "routes": st["routes"],
                           "bound": bound, "fuse_ops": dict(ops), "lookups": lookups,
                           "ops_source": counter.source,
                           "lookup_bound": LOOKUP_BOUND,
                           "requests_met": st["total"] <= bound,
                           "lookups_met": lookups <= LOOKUP_BOUND,
                           "met": st["total"] <= bound and lookups <= LOOKUP_BOUND},
            "cached_reread": {"requests": cached["total"], "routes": cached["routes"],
                              "what": again, "met": cached["total"] == 0},
        }

    def probe_list_apps(self, site):
        m = site.mount()
        try:
            site.sim.reset_stats()
            self.shell("ls -l apps/ >/dev/null", m.mnt)
            st = site.sim.stats()
        finally:
            m.close()
        bound = pages(site.n_apps) + 5
        return {"n": site.n_apps, "requests": st["total"], "routes": st["routes"],
                "bound": bound, "met": st["total"] <= bound}

    def probe_rss(self, site):
        """Peak RSS with a small cache after grep, jq and all.jsonl: is the
        memory bounded by cache_size?"""
        m = site.mount(cache_size=RSS_PROBE_CACHE_MIB)
        try:
            for cmd in (GREP + " >/dev/null", JQ + " >/dev/null", JSONL):
                self.shell(cmd, m.mnt)
            rss = m.peak_rss_kib()
        finally:
            m.close()
        bound = (RSS_BASE_MIB + RSS_PROBE_CACHE_MIB) * 1024
        return {"cache_size_mib": RSS_PROBE_CACHE_MIB, "peak_rss_kib": rss,
                "bound_kib": bound, "met": rss is not None and rss <= bound}
