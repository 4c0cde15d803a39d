"""report.py - bench/run's output: the machine description, one table per
configuration, the probe figures, the verdict on each target, and the
JSON file under bench/results/ that later runs are compared with.

Table columns: apisecfs and baseline wall times are medians over the runs
("n" in the JSON); ratio = apisecfs / baseline (below 1: apisecfs is
faster); requests are API calls counted by the simulator (/_sim/stats) or,
for httpdirfs, by the static server; RSS is the apisecfs process's VmHWM
read just before unmounting (the largest over the runs).
"""

import json
import math
import os
import time

from measure import RSS_BASE_MIB
from scenarios import CURL_JQ, HTTPDIRFS, TMPFS

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")


def out(line=""):
    print(line, flush=True)


def describe_machine(m, git, opts):
    out("== machine")
    out(f"   cpu      {m['cpu']} ({m['cores']} cores), {m['mem_gib']} GiB RAM")
    out(f"   system   {m['os']}, Linux {m['kernel']}, Python {m['python']}")
    la = ", ".join(f"{x:.2f}" for x in m["loadavg_at_start"])
    out(f"   load     {la} (1/5/15 min, at start; other work on the machine skews times)")
    out(f"   tmpfs    {m['tmpfs']}")
    tools = ", ".join(f"{k} {v or 'missing'}" for k, v in m["tools"].items())
    out(f"   tools    {tools}")
    dirty = " (work tree has uncommitted changes)" if git["dirty"] else ""
    b = git.get("binary", {})
    out(f"   apisecfs {b.get('path', m['apisecfs'])} (built {b.get('built', '?')}, "
        f"sha256 {b.get('sha256', '?')}, copied for the run)")
    out(f"   commit   {git['short']}{dirty}: {git['subject']}")
    out(f"   options  cache_ttl=600 cache_size={opts.cache_size} "
        f"{' '.join(opts.fs_options)}; reps {opts.reps} (httpdirfs {opts.httpdirfs_reps}); caps {opts.cap:g} s, "
        f"httpdirfs {opts.httpdirfs_cap:g} s")
    out()


# ---- cells --------------------------------------------------------------------

def fmt_s(cell):
    if cell["skipped"]:
        return "skipped"
    if cell["error"]:
        return "error"
    if cell["median_s"] is None:
        return f">{cell['cap_s']:g} t/o" if cell["timed_out"] else "-"
    m = cell["median_s"]
    text = f"{m:.3f}" if m < 10 else f"{m:.2f}"
    return text + ("*" if cell["timed_out"] or cell["n"] < 3 else "")


def ratio(fs, base):
    """apisecfs / baseline as (text, number or None)."""
    a, b = fs["median_s"], base["median_s"]
    if a is not None and b is not None:
        r = a / b if b > 0 else math.inf
        return (f"{r:.2f}" if r < 100 else f"{r:.0f}"), r
    if a is not None and base["timed_out"]:
        r = a / base["cap_s"]
        return f"<{r:.2f}", r
    if b is not None and fs["timed_out"]:
        r = fs["cap_s"] / b
        return f">{r:.2f}", None
    return "-", None


def fmt_req(cell):
    v = cell["requests_median"]
    return "-" if v is None else f"{v:g}"


def fmt_rss(cell):
    v = cell["peak_rss_kib"]
    return "-" if v is None else f"{v / 1024:.1f}"


def check(sc_comparable, fs, base):
    if not fs["consistent"]:
        return "UNSTABLE"
    if fs["output"] is None or base["output"] is None:
        return "-"
    if not sc_comparable:
        return "info"
    return "ok" if fs["key"] == base["key"] else "MISMATCH"


# ---- tables -------------------------------------------------------------------

COLS = (("scenario", 40, "<"), ("apisecfs s", 10, ">"), ("baseline", 9, "<"),
        ("base s", 10, ">"), ("ratio", 6, ">"), ("fs req", 7, ">"),
        ("base req", 8, ">"), ("fs RSS MiB", 10, ">"), ("output fs / base", 28, "<"),
        ("check", 8, "<"))


def row(values):
    return " | ".join(f"{str(v)[:w]:{a}{w}}" for v, (_, w, a) in zip(values, COLS))


def print_config(cfg):
    out(f"== N={cfg['n_vulns']} findings, latency {cfg['latency_ms']:g} ms "
        f"(vulns sim: {cfg['vuln_apps']} apps; apps sim: {cfg['n_apps']} apps; "
        f"reference download {cfg.get('download_s', 0):.2f} s; load average "
        f"{cfg['loadavg_start'][0]:.1f} at start, {cfg['loadavg_end'][0]:.1f} at end)")
    out(row([c[0] for c in COLS]))
    out("-+-".join("-" * c[1] for c in COLS))
    notes = []
    for sc in cfg["scenarios"]:
        fs = sc["cells"][0]
        for i, base in enumerate(sc["cells"][1:]):
            rtext, _ = ratio(fs, base)
            outputs = f"{fs['output'] or '-'} / {base['output'] or '-'}"
            first = i == 0   # apisecfs requests and RSS only once per scenario
            out(row([sc["title"] if first else "", fmt_s(fs), base["side"], fmt_s(base),
                     rtext, fmt_req(fs) if first else "", fmt_req(base),
                     fmt_rss(fs) if first else "", outputs, base["check"]]))
            for c in (fs, base) if i == 0 else (base,):
                if c["skipped"]:
                    notes.append(f"{sc['key']}/{c['side']}: skipped: {c['skipped']}")
                if c["error"]:
                    notes.append(f"{sc['key']}/{c['side']}: error: {c['error']}")
    for note in notes:
        out(f"   note: {note}")
    out("   (* fewer than 3 runs or a run hit the cap; t/o: killed at the cap)")
    print_probes(cfg["probes"])
    out()


def yes(met):
    return "MET" if met else "MISSED"


def print_probes(p):
    if not p:
        return
    f = p["first_ls"]
    out(f"   mount -> first ls: {f['beyond_auth']} request(s) beyond auth "
        f"({f['auth']} auth at mount; spawn to ls done {f['spawn_to_first_ls_s'] * 1000:.0f} ms); "
        f"then ls -l of the root: +{f['then_ls_l_requests']}  [<= 2: {yes(f['met'])}]")
    lv = p["list_vulns"]
    out(f"   ls -l vulns/ ({lv['n']} items), fresh mount: {lv['requests']} requests "
        f"{fmt_routes(lv['routes'])}  [<= ceil(N/500)+5 = {lv['bound']}: {yes(lv['met'])}]")
    la = p["list_apps"]
    out(f"   ls -l apps/ ({la['n']} apps), fresh mount: {la['requests']} requests "
        f"{fmt_routes(la['routes'])}  [<= {la['bound']}: {yes(la['met'])}]")
    c = p["cached_reread"]
    out(f"   re-read within TTL (ls -l vulns/, cat all.jsonl + a file): {c['requests']} "
        f"requests  [0: {yes(c['met'])}]")
    t = p["ttl"]
    ttl = t.get("ttl", 2)
    out(f"   re-list after TTL (cache_ttl={ttl}, sleep {ttl + 1}): {t['requests']} requests, "
        f"status {t['status']}, {t['seconds'] * 1000:.0f} ms  [all 304, at most one per "
        f"page the first listing fetched ({t['pages']}): "
        f"{yes(t['met'])}]")
    r = p["rss_bound"]
    rss = "-" if r["peak_rss_kib"] is None else f"{r['peak_rss_kib'] / 1024:.1f} MiB"
    out(f"   peak RSS with cache_size={r['cache_size_mib']} after grep+jq+all.jsonl: {rss}  "
        f"[<= {r['bound_kib'] // 1024} MiB: {yes(r['met'])}]")


def fmt_routes(routes):
    return "(" + ", ".join(f"{k} x{v}" for k, v in sorted(routes.items())) + ")"


# ---- targets ------------------------------------------------------------------

def find_cell(cfg, key, side):
    for sc in cfg["scenarios"]:
        if sc["key"] == key:
            for c in sc["cells"]:
                if c["side"] == side:
                    return c
    return None


def pick(configs, n, latency):
    """The configuration at (n, latency), else the largest N at that latency
    (marked indicative), else None."""
    exact = [c for c in configs if c["n_vulns"] == n and c["latency_ms"] == latency]
    if exact:
        return exact[0], ""
    same = sorted((c for c in configs if c["latency_ms"] == latency),
                  key=lambda c: c["n_vulns"])
    if same:
        return same[-1], f" (indicative: measured at N={same[-1]['n_vulns']}, not {n})"
    return None, ""


def evaluate_targets(configs, opts):
    t = []

    def add(name, met, figure):
        t.append({"target": name, "verdict": met, "figure": figure})

    # 1. cold grep at 10k / 20 ms vs curl+jq and httpdirfs
    cfg, note = pick(configs, 10000, 20)
    name = "cold grep -r over 10,000 findings at 20 ms <= 1.0x curl+jq and faster than httpdirfs"
    if cfg is None or find_cell(cfg, "grep-cold", "apisecfs") is None:
        add(name, "NOT MEASURED", "")
    else:
        fs = find_cell(cfg, "grep-cold", "apisecfs")
        cj = find_cell(cfg, "grep-cold", CURL_JQ)
        hd = find_cell(cfg, "grep-cold", HTTPDIRFS)
        r_cj = ratio(fs, cj)[1] if cj else None
        fig = [f"apisecfs {fmt_s(fs)} s, curl+jq {fmt_s(cj) if cj else '-'} s "
               f"(x{ratio(fs, cj)[0] if cj else '-'})"]
        ok = r_cj is not None and r_cj <= 1.0
        if hd and not hd["skipped"] and not hd["error"]:
            r_hd = ratio(fs, hd)
            fig.append(f"httpdirfs {fmt_s(hd)} s (x{r_hd[0]})")
            ok = ok and r_hd[1] is not None and r_hd[1] < 1.0
            verdict = yes(ok)
        else:
            fig.append("httpdirfs not measured")
            verdict = yes(ok) + " (curl+jq part only)"
        add(name, verdict + note, "; ".join(fig))

    # 2. warm grep and jq vs tmpfs
    figs, ok, any_ = [], True, False
    for cfg in configs:
        for key in ("grep-warm", "jq-warm"):
            fs, tf = find_cell(cfg, key, "apisecfs"), find_cell(cfg, key, TMPFS)
            if not fs or not tf:
                continue
            r = ratio(fs, tf)
            any_ = True
            ok = ok and r[1] is not None and r[1] <= 2.0
            figs.append(f"N={cfg['n_vulns']}/{cfg['latency_ms']:g}ms {key} "
                        f"{fmt_s(fs)} vs {fmt_s(tf)} s = x{r[0]}")
    add("warm grep -r and warm jq <= 2x tmpfs", yes(ok) if any_ else "NOT MEASURED",
        "; ".join(figs))

    # 3-5, 7: probes
    def probe_target(name, getter, figure):
        figs, ok, any_ = [], True, False
        for cfg in configs:
            p = cfg.get("probes")
            if not p:
                continue
            for item in getter(p):
                any_ = True
                ok = ok and item["met"]
                figs.append(f"N={cfg['n_vulns']}/{cfg['latency_ms']:g}ms {figure(item)}")
        add(name, yes(ok) if any_ else "NOT MEASURED", "; ".join(figs))

    probe_target("listing requests <= ceil(N/500)+5",
                 lambda p: (p["list_vulns"], p["list_apps"]),
                 lambda i: f"{i['n']} items: {i['requests']} (bound {i['bound']})")
    probe_target("cached re-read within TTL: 0 requests", lambda p: (p["cached_reread"],),
                 lambda i: f"{i['requests']}")
    probe_target("re-read after TTL: one 304 per page", lambda p: (p["ttl"],),
                 lambda i: f"{i['requests']} requests {i['status']} for {i['pages']} pages")

    # 6. RSS at 100k
    name = f"peak RSS <= {RSS_BASE_MIB} MiB + cache_size at 100,000 findings"
    big = max((c["n_vulns"] for c in configs), default=None)
    if big is None:
        add(name, "NOT MEASURED", "")
    else:
        note = "" if big >= 100000 else f" (indicative: largest N measured is {big})"
        peak = max((c["peak_rss_kib"] or 0 for cfg in configs if cfg["n_vulns"] == big
                    for sc in cfg["scenarios"] for c in sc["cells"][:1]), default=0)
        bound = (RSS_BASE_MIB + opts.cache_size) * 1024
        figs = [f"cache_size={opts.cache_size}: {peak / 1024:.1f} MiB (bound {bound // 1024})"]
        ok = peak <= bound
        for cfg in configs:
            p = cfg.get("probes")
            if cfg["n_vulns"] == big and p:
                r = p["rss_bound"]
                ok = ok and r["met"]
                figs.append(f"cache_size={r['cache_size_mib']}: "
                            f"{(r['peak_rss_kib'] or 0) / 1024:.1f} MiB "
                            f"(bound {r['bound_kib'] // 1024}, {cfg['latency_ms']:g}ms)")
        add(name, yes(ok) + note, "; ".join(figs))

    # 8. --export vs the curl+jq download of the same findings (issue 18)
    figs, ok, any_ = [], True, False
    for cfg in configs:
        fs, cj = find_cell(cfg, "export-cold", "apisecfs"), find_cell(cfg, "export-cold", CURL_JQ)
        if not fs or not cj:
            continue
        r = ratio(fs, cj)
        any_ = True
        ok = ok and r[1] is not None and r[1] <= 1.0 and cj["check"] == "ok"
        figs.append(f"N={cfg['n_vulns']}/{cfg['latency_ms']:g}ms {fmt_s(fs)} vs "
                    f"{fmt_s(cj)} s = x{r[0]}")
    add("apisecfs --export <= 1.0x curl+jq writing the same findings",
        yes(ok) if any_ else "NOT MEASURED", "; ".join(figs))

    probe_target("mount to first ls <= 2 round trips beyond auth", lambda p: (p["first_ls"],),
                 lambda i: f"{i['beyond_auth']} beyond {i['auth']} auth")
    return t


def print_targets(targets):
    out("== targets")
    for t in targets:
        out(f"   [{t['verdict']}] {t['target']}")
        if t["figure"]:
            out(f"       {t['figure']}")
    out()


def mismatches(configs):
    bad = []
    for cfg in configs:
        for sc in cfg["scenarios"]:
            for c in sc["cells"][1:]:
                fs = sc["cells"][0]
                if c["check"] == "MISMATCH":
                    bad.append(f"N={cfg['n_vulns']}/{cfg['latency_ms']:g}ms {sc['key']}: "
                               f"apisecfs {fs['output']} vs {c['side']} {c['output']}")
                elif c["check"] == "UNSTABLE" and c is sc["cells"][1]:
                    bad.append(f"N={cfg['n_vulns']}/{cfg['latency_ms']:g}ms {sc['key']}: "
                               f"apisecfs gave different outputs run to run: "
                               f"{fs.get('outputs')}")
    return bad


def write_json(doc, git, quick):
    os.makedirs(RESULTS, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    name = f"{stamp}-{git['short']}{'-dirty' if git['dirty'] else ''}" \
           f"{'-quick' if quick else ''}.json"
    path = os.path.join(RESULTS, name)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(doc, f, indent=1, default=str)
        f.write("\n")
    os.replace(tmp, path)
    return path
