"""test_fs_stats.py - .stats: Prometheus text exposition of what the mount
did. The text parses (every sample under its HELP and TYPE, labels well
formed, histograms cumulative), the request counter agrees exactly with
the simulator's own count route by route and status by status, reading it
asks the platform nothing, it carries no secret and no name from the data,
and its size is the size of what a read returns.
"""

import errno
import os
import re

import pytest

from fsutil import Mount, Sim, api_items

RATE_LIMIT = 100000  # headers on every answer, never near pacing

NAME_RE = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
LABEL_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"')
TYPES = {"counter", "gauge", "histogram", "summary", "untyped"}
# Every label value .stats may hold: fixed vocabularies, nothing else.
ROUTE_WORDS = {"v1", "me", "applications", "instances", "endpoints", "spec",
               "scans", "cancel", "report", "vulnerabilities", "teams",
               "tokens", "oauth2", "token", "auth", "login"}
FUSE_OPS = {"init", "lookup", "forget", "forget_multi", "getattr", "setattr",
            "readlink", "opendir", "readdir", "readdirplus", "releasedir",
            "open", "read", "write", "flush", "release", "unlink", "statfs"}


def unescape(v):
    return re.sub(r"\\(.)", lambda m: "\n" if m.group(1) == "n" else m.group(1), v)


def parse_labels(text):
    """'{a="x",b="y"}' -> {"a": "x", "b": "y"}, checking the syntax."""
    assert text.startswith("{") and text.endswith("}"), text
    body, labels, pos = text[1:-1], {}, 0
    while pos < len(body):
        m = LABEL_RE.match(body, pos)
        assert m, "bad label syntax at %r" % body[pos:]
        assert m.group(1) not in labels, "repeated label in %r" % text
        labels[m.group(1)] = unescape(m.group(2))
        pos = m.end()
        if pos < len(body):
            assert body[pos] == ",", "bad label separator in %r" % text
            pos += 1
    return labels


def parse(text):
    """The exposition text (format 0.0.4) as {family: {"type", "help",
    "samples": [(name, labels, value)]}}, asserting it is well formed."""
    assert text.endswith("\n")
    fams, current = {}, None
    for line in text.splitlines():
        if line.startswith("# HELP "):
            name, _, help_text = line[7:].partition(" ")
            assert NAME_RE.fullmatch(name) and help_text, line
            assert name not in fams, "family %s declared twice" % name
            fams[name] = {"help": help_text, "type": None, "samples": []}
            current = name
        elif line.startswith("# TYPE "):
            name, _, typ = line[7:].partition(" ")
            assert name == current, "TYPE without its HELP: %r" % line
            assert fams[name]["type"] is None and typ in TYPES, line
            fams[name]["type"] = typ
        else:
            assert line and not line.startswith("#"), "stray line %r" % line
            m = re.fullmatch(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})? (\S+)", line)
            assert m, "bad sample line %r" % line
            name, labels = m.group(1), parse_labels(m.group(2) or "{}")
            value = float(m.group(3))
            fam = name
            if current and fams[current]["type"] == "histogram":
                fam = re.sub(r"_(bucket|sum|count)$", "", name)
            assert fam == current and fams[fam]["type"], \
                "sample %r not under its own HELP and TYPE" % line
            fams[fam]["samples"].append((name, labels, value))
    for name, fam in fams.items():
        if fam["type"] == "histogram" and fam["samples"]:
            buckets = [(float(lb["le"]), v) for n, lb, v in fam["samples"]
                       if n.endswith("_bucket")]
            assert buckets == sorted(buckets) and buckets[-1][0] == float("inf")
            count = [v for n, _, v in fam["samples"] if n.endswith("_count")]
            assert count == [buckets[-1][1]], name
    return fams


def read_stats(m):
    with open(m.path(".stats")) as f:
        return f.read()


def series(fams, family, **match):
    """{tuple of label values: value} of a family's samples matching."""
    out = {}
    for name, labels, value in fams[family]["samples"]:
        if all(labels.get(k) == v for k, v in match.items()):
            out[tuple(sorted(labels.items()))] = value
    return out


def total(fams, family, **match):
    return sum(series(fams, family, **match).values())


def by_label(fams, family, label):
    out = {}
    for name, labels, value in fams[family]["samples"]:
        out[labels[label]] = out.get(labels[label], 0) + value
    return out


def by_route(fams):
    """{"GET /v1/vulnerabilities/{id}": count}, keyed as the simulator
    keys its routes."""
    out = {}
    for _, lb, v in fams["apisecfs_http_requests_total"]["samples"]:
        key = "%s %s" % (lb["method"], re.sub(r"\{\w+\}", "{id}", lb["route"]))
        out[key] = out.get(key, 0) + v
    return out


def delta(after, before):
    return {k: after.get(k, 0) - before.get(k, 0)
            for k in set(after) | set(before) if after.get(k, 0) != before.get(k, 0)}


@pytest.fixture(scope="module")
def own_sim():
    """A simulator only this module's mounts talk to, so its counters are
    theirs."""
    with Sim(apps=6, vulns=150, scan_seconds=1, rate_limit=RATE_LIMIT) as s:
        yield s


@pytest.fixture
def stats_mnt(own_sim):
    own_sim.clear_faults()
    own_sim.reset_stats()  # from here on, it counts this mount alone
    m = Mount(own_sim.url, token=own_sim.creds["admin_token"],
              options=["cache_ttl=30", "retries=1"])
    yield m
    own_sim.clear_faults()
    m.umount()


def test_stats_is_listed_and_well_formed(mnt):
    assert ".stats" in os.listdir(mnt.mnt)
    st = os.stat(mnt.path(".stats"))
    assert st.st_mode & 0o777 == 0o444 and st.st_size > 0
    fams = parse(read_stats(mnt))
    want = {
        "apisecfs_http_requests_total": "counter",
        "apisecfs_http_request_duration_seconds": "histogram",
        "apisecfs_cache_hits_total": "counter",
        "apisecfs_cache_misses_total": "counter",
        "apisecfs_cache_revalidations_total": "counter",
        "apisecfs_cache_stale_served_total": "counter",
        "apisecfs_cache_bytes": "gauge",
        "apisecfs_cache_max_bytes": "gauge",
        "apisecfs_fuse_requests_total": "counter",
        "apisecfs_errors_total": "counter",
        "apisecfs_ratelimit_remaining": "gauge",
        "apisecfs_credential_expiry_timestamp_seconds": "gauge",
    }
    for name, typ in want.items():
        assert fams.get(name, {}).get("type") == typ, name
    # The preflight alone made requests; the shared mount read more since.
    assert total(fams, "apisecfs_http_requests_total") >= 1
    assert total(fams, "apisecfs_http_request_duration_seconds",
                 le="+Inf") == total(fams, "apisecfs_http_requests_total")
    assert set(by_label(fams, "apisecfs_fuse_requests_total", "op")) == FUSE_OPS
    assert total(fams, "apisecfs_cache_max_bytes") > 0


def test_request_counter_matches_the_platforms_count(stats_mnt, own_sim):
    m, sim = stats_mnt, own_sim
    before_sim = sim.stats()
    before = parse(read_stats(m))
    # The simulator has served this mount alone since it began.
    assert total(before, "apisecfs_http_requests_total") == before_sim["total"]

    for app in os.listdir(m.path("apps")):
        if os.path.isdir(m.path("apps", app)):
            os.listdir(m.path("apps", app))
    vulns = sorted(f for f in os.listdir(m.path("vulns")) if f.endswith(".json"))
    for name in vulns[:20]:
        with open(m.path("vulns", name), "rb") as f:
            f.read()
    with open(m.path("whoami.json"), "rb") as f:
        f.read()
    # Everything revalidates: 304s.
    with open(m.path(".refresh"), "w") as f:
        f.write("1\n")
    os.listdir(m.path("vulns"))
    os.listdir(m.path("apps"))

    after_sim = sim.stats()
    after = parse(read_stats(m))
    made = total(after, "apisecfs_http_requests_total") - \
        total(before, "apisecfs_http_requests_total")
    assert made > 0
    assert made == after_sim["total"] - before_sim["total"]
    assert delta(by_route(after), by_route(before)) == \
        delta(after_sim["routes"], before_sim["routes"])
    assert delta(by_label(after, "apisecfs_http_requests_total", "code"),
                 by_label(before, "apisecfs_http_requests_total", "code")) == \
        delta(after_sim["status"], before_sim["status"])
    assert after_sim["status"].get("304", 0) > 0
    # Every 304 answered a revalidation of the cache (the preflight and
    # identity checks bypass it, with no ETag to send).
    assert total(after, "apisecfs_cache_revalidations_total") == \
        after_sim["status"]["304"]
    assert total(after, "apisecfs_cache_hits_total") > 0
    assert total(after, "apisecfs_http_request_duration_seconds", le="+Inf") \
        == total(after, "apisecfs_http_requests_total")
    rl = total(after, "apisecfs_ratelimit_remaining")
    assert 0 <= rl < RATE_LIMIT
    assert series(after, "apisecfs_ratelimit_remaining")

    # A failing platform: stale data served, each failed attempt counted
    # under its status, as the platform counted it.
    sim.set_faults(error_status=503, error_rate=1)
    with open(m.path(".refresh"), "w") as f:
        f.write("1\n")
    assert os.listdir(m.path("vulns"))
    faulted_sim = sim.stats()
    faulted = parse(read_stats(m))
    failed = total(faulted, "apisecfs_http_requests_total", code="503") - \
        total(after, "apisecfs_http_requests_total", code="503")
    assert failed > 0
    assert failed == faulted_sim["status"].get("503", 0) - \
        after_sim["status"].get("503", 0)
    assert total(faulted, "apisecfs_http_requests_total") == faulted_sim["total"]
    assert total(faulted, "apisecfs_cache_stale_served_total") > \
        total(after, "apisecfs_cache_stale_served_total")


def test_reading_stats_asks_the_platform_nothing(stats_mnt, own_sim):
    m = stats_mnt
    os.listdir(m.path("vulns"))
    before = own_sim.stats()["total"]
    texts = [read_stats(m) for _ in range(5)]
    os.stat(m.path(".stats"))
    os.listdir(m.mnt)
    assert own_sim.stats()["total"] == before
    counts = {total(parse(t), "apisecfs_http_requests_total") for t in texts}
    assert counts == {before}


def test_no_secret_and_no_names_from_the_data(stats_mnt, own_sim):
    m, sim = stats_mnt, own_sim
    token = sim.creds["admin_token"]
    for app in os.listdir(m.path("apps")):
        if os.path.isdir(m.path("apps", app)):
            os.listdir(m.path("apps", app, "scans"))
    vulns = sorted(f for f in os.listdir(m.path("vulns")) if f.endswith(".json"))
    for name in vulns[:5]:
        with open(m.path("vulns", name), "rb") as f:
            f.read()
    text = read_stats(m)
    fams = parse(text)
    assert token not in text
    apps = api_items(sim, "/v1/applications", token)
    vuln_ids = [name[:-5] for name in vulns]
    for item in apps:
        assert item["applicationId"] not in text
        # Short names ("..", "a_b") are common words; the long ones are
        # the data's own.
        if len(item["applicationName"]) >= 8:
            assert item["applicationName"] not in text, item
    for vid in vuln_ids[:50]:
        assert vid not in text
    # Bounded: every label value comes from a fixed vocabulary.
    for fam in fams.values():
        for _, labels, _ in fam["samples"]:
            for key, value in labels.items():
                if key == "route":
                    assert value == "other" or all(
                        seg in ROUTE_WORDS or re.fullmatch(r"\{[a-zA-Z]+\}", seg)
                        for seg in value.split("/")[1:]), value
                elif key == "method":
                    assert value in {"GET", "POST", "PUT", "PATCH", "DELETE",
                                     "other"}
                elif key == "code":
                    assert re.fullmatch(r"[1-5]\d\d|[1-5]xx|error", value)
                elif key == "op":
                    assert value in FUSE_OPS
                elif key == "errno":
                    assert re.fullmatch(r"E[A-Z0-9]+|other", value)
                elif key == "le":
                    float(value)
                else:
                    pytest.fail("unexpected label %s" % key)


def test_fuse_counters_move_with_a_read(stats_mnt):
    m = stats_mnt
    before = parse(read_stats(m))
    with open(m.path("README"), "rb") as f:
        assert f.read()
    if os.geteuid() == 0:
        # Root passes the kernel's permission check: the filesystem itself
        # refuses, and counts the errno it answered.
        with pytest.raises(OSError) as e:
            os.unlink(m.path("README"))
        assert e.value.errno == errno.EPERM
    after = parse(read_stats(m))
    ops = delta(by_label(after, "apisecfs_fuse_requests_total", "op"),
                by_label(before, "apisecfs_fuse_requests_total", "op"))
    # The open of this .stats read (README is read without one); the
    # first .stats read and README's.
    assert ops.get("open", 0) >= 1 and ops.get("read", 0) >= 2, ops
    errs = delta(by_label(after, "apisecfs_errors_total", "errno"),
                 by_label(before, "apisecfs_errors_total", "errno"))
    assert errs == ({"EPERM": 1} if os.geteuid() == 0 else {})


def test_size_is_what_a_read_returns(stats_mnt):
    """Its bytes change as the counters move, so stat renders it afresh:
    the length only grows (a count gains a digit), hence a read between
    two stats returns a length between their sizes, and equal sizes mean
    that exact length."""
    p = stats_mnt.path(".stats")
    grew = 0
    # Each round adds a few FUSE requests; a count gains a digit within
    # a few dozen rounds, and a stale size would show then.
    for _ in range(500):
        s1 = os.stat(p).st_size
        data = read_stats(stats_mnt)
        s2 = os.stat(p).st_size
        assert 0 < s1 <= len(data) <= s2
        if s1 == s2:
            assert len(data) == s1
        grew += s2 > s1
        if grew == 3:
            break
    assert grew == 3
    # One read sees one snapshot: reading in small pieces returns the
    # same whole document.
    fd = os.open(p, os.O_RDONLY)
    try:
        pieces = []
        while True:
            b = os.read(fd, 100)
            if not b:
                break
            pieces.append(b)
    finally:
        os.close(fd)
    parse(b"".join(pieces).decode())


def walk_every_view(m):
    """The listing, every view of it and all.jsonl: each walks the pages
    of the findings list."""
    os.listdir(m.path("vulns"))
    for view in ("by-severity", "by-status"):
        for sub in os.listdir(m.path("vulns", view)):
            os.listdir(m.path("vulns", view, sub))
    with open(m.path("vulns", "all.jsonl"), "rb") as f:
        f.read()


def test_a_page_is_parsed_once_for_every_walker(stats_mnt, own_sim):
    m, sim = stats_mnt, own_sim
    walk_every_view(m)
    fams = parse(read_stats(m))
    parsed = total(fams, "apisecfs_pages_parsed_total")
    shared = total(fams, "apisecfs_pages_parse_shared_total")
    # A parse needs a new page version, and a new version came with a
    # 200: no more parses than 200s since the mount began.
    assert 0 < parsed <= sim.stats()["status"]["200"]
    # The views and all.jsonl read the pages the listing parsed.
    assert shared > parsed
    assert total(fams, "apisecfs_parsed_bytes") > 0

    # Every page revalidated (304): the same versions, no parse at all.
    with open(m.path(".refresh"), "w") as f:
        f.write("1\n")
    walk_every_view(m)
    again = parse(read_stats(m))
    assert sim.stats()["status"].get("304", 0) > 0
    assert total(again, "apisecfs_pages_parsed_total") == parsed
    assert total(again, "apisecfs_pages_parse_shared_total") > shared
