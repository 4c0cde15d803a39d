"""freshness.py - what staying fresh costs: the requests a mount makes
once its cache_ttl has passed (issue 15, "freshness in O(changes)").

Two probes, each on a fresh mount with a short cache_ttl, over the
findings simulator of one configuration:

  revalidate  ls -l vulns/ and a read of a few findings; sleep past the
              TTL; the same again.  Nothing changed on the platform, so
              the second round should cost a few requests whatever N is
              (target: <= 5; one 304 per listing page is what a design
              without updatedSince pays: 61 at 30,000 findings).
  change      the same first round; then another client changes one
              finding's status through the API (PATCH with the admin
              token); sleep past the TTL; read that finding's file until
              it shows the new status (at most CHANGE_ROUNDS reads, a TTL
              apart).  Target: shown within <= 8 requests.

Requests are counted by the simulator (/_sim/stats) and reported by route
and status; for a handful of requests, also one line per request shape
(method, path, query keys, status) from its recent-request log.
"""

import collections
import json
import os
import time
import urllib.parse

from benchlib import quote

REVALIDATE_BOUND = 5
CHANGE_BOUND = 8
CHANGE_ROUNDS = 3
SAMPLE_FILES = 3


def ttl_for(n):
    """A TTL that one round (ls -l vulns/ + the reads) outlasts: on the
    loaded 2-core machine `ls -l` of 30,000 entries took 3.4 s, and a TTL
    passing in mid-round starts a second revalidation that counts twice."""
    return 2 if n <= 10000 else 5 if n <= 30000 else 10


def sample_names(site, k=SAMPLE_FILES):
    """k finding files spread over the listing (first, middle, last...)."""
    names = sorted(f for f in os.listdir(os.path.join(site.tree, "vulns"))
                   if f.endswith(".json") and f != "all.jsonl")
    if not names:
        raise RuntimeError("the reference tree has no findings")
    step = max(1, (len(names) - 1) // max(1, k - 1))
    return [names[min(i * step, len(names) - 1)] for i in range(k)]


def shapes(stats):
    """Requests by shape when the recent log holds them all, else None:
    {"GET /v1/vulnerabilities?limit,updatedSince -> 200": n, ...}."""
    recent = stats.get("recent") or []
    if len(recent) < stats["total"]:
        return None
    out = collections.Counter()
    for e in recent:
        keys = ",".join(sorted(urllib.parse.parse_qs(e.get("query") or "",
                                                     keep_blank_values=True)))
        path = e["path"]
        if path.startswith("/v1/vulnerabilities/"):
            path = "/v1/vulnerabilities/{id}"
        out[f"{e['method']} {path}{'?' + keys if keys else ''} -> {e['status']}"] += 1
    return dict(out)


def summary(stats):
    return {"requests": stats["total"], "routes": stats["routes"],
            "status": stats["status"], "shapes": shapes(stats)}


def probe_revalidate(cfg, site):
    """ls -l vulns/ + a few reads, sleep past the TTL, again: requests."""
    ttl = ttl_for(site.n_vulns)
    files = " ".join(quote("vulns/" + f) for f in sample_names(site))
    action = f"ls -l vulns/ >/dev/null && cat {files} >/dev/null"
    m = site.mount(ttl=ttl)
    try:
        site.sim.reset_stats()
        first = cfg.shell(action, m.mnt)
        first_requests = site.sim.stats()["total"]
        time.sleep(ttl + 1)
        site.sim.reset_stats()
        r = cfg.shell(action, m.mnt)
        st = site.sim.stats()
    finally:
        m.close()
    out = summary(st)
    out.update(n=site.n_vulns, ttl=ttl, what=action, seconds=r.seconds,
               first_requests=first_requests, first_seconds=first.seconds,
               bound=REVALIDATE_BOUND, met=st["total"] <= REVALIDATE_BOUND)
    return out


def probe_change(cfg, site):
    """One finding changed through the API: requests until the mount
    shows it, reading only that finding's file."""
    ttl = ttl_for(site.n_vulns)
    name = sample_names(site)[1]
    vid = name[:-len(".json")]
    with open(os.path.join(site.tree, "vulns", name)) as f:
        old = json.load(f)["status"]
    new = "RESOLVED" if old != "RESOLVED" else "ACTIVE"
    read = f"cat {quote('vulns/' + name)}"
    m = site.mount(ttl=ttl)
    rounds, shown, seen = 0, False, old
    try:
        cfg.shell(f"ls -l vulns/ >/dev/null && {read} >/dev/null", m.mnt)
        status, _, body = site.sim.request(
            "PATCH", f"/v1/vulnerabilities/{urllib.parse.quote(vid)}",
            token=site.sim.creds["admin_token"], body={"status": new})
        if status != 200:
            raise RuntimeError(f"PATCH {vid} -> {status} {body!r}"[:300])
        site.sim.reset_stats()
        while rounds < CHANGE_ROUNDS and not shown:
            time.sleep(ttl + 1)
            rounds += 1
            r = cfg.shell(read, m.mnt)
            try:
                seen = json.loads(r.stdout)["status"]
            except (ValueError, KeyError, TypeError):
                seen = f"unparsable: {r.stdout[:60]!r}"
            shown = seen == new
        st = site.sim.stats()
    finally:
        m.close()
    out = summary(st)
    out.update(n=site.n_vulns, ttl=ttl, finding=vid, old=old, new=new, seen=seen,
               shown=shown, rounds=rounds, bound=CHANGE_BOUND,
               met=shown and st["total"] <= CHANGE_BOUND)
    return out
