"""simdata.py - the simulator's seeded, deterministic data set.

Builds applications (with instances, endpoints and scans), teams and
vulnerabilities from ``--apps``, ``--vulns`` and ``--seed``: the same seed
always gives the same ids, names, texts and timestamps.  Also holds the
record types the store keeps and ``draw`` / ``render``, which scans run at
run time reuse to produce their findings.  Every finding carries a
``fingerprint`` naming its weakness (instance + category + endpoint), and
consecutive seeded scans of an instance share most of their weaknesses, as
rescans do.
"""

import calendar
import functools
import hashlib
import random
import re
import time
from dataclasses import dataclass, field

import simspec

# Seeded timestamps lie in the year before this instant (2026-01-01Z), so
# they are in the past and do not depend on the clock.
BASE_EPOCH = calendar.timegm((2026, 1, 1, 0, 0, 0))

B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"  # ASCII order

SEVERITIES = ("critical", "high", "medium", "low", "info")
SEVERITY_WEIGHTS = (8, 22, 35, 20, 15)
CVSS_RANGES = {"critical": (9.0, 10.0), "high": (7.0, 8.9),
               "medium": (4.0, 6.9), "low": (0.1, 3.9), "info": (0.0, 0.0)}
# Share of the previous scan's weaknesses that a rescan reports again.
RESCAN_KEEP = 0.7
STATUSES = ("ACTIVE", "DISMISSED", "RISK_ACCEPTED", "RESOLVED")
STATUS_WEIGHTS = (70, 8, 7, 15)

TENANT_ID, TENANT_NAME, TENANT_ORG = "tnt_acme", "Acme Bank", "AcmeBank"

# Names that exercise the filesystem's name mapping, in the order they are
# handed out after payments-api.
LONG_NAME = ("Legacy Mainframe Integration Gateway for Corporate Treasury "
             "and Cross-Border Settlement Reconciliation ") * 3
HOSTILE_APP_NAMES = (
    "a/b", "a_b", "..", ".", "Customer Portal API",
    "Zahlungs-API ✓ – Ünïcødé", "-leading-dash-api", LONG_NAME[:250],
)
APP_WORDS = ("orders", "inventory", "loyalty", "shipping", "identity",
             "billing", "catalog", "ledger", "search", "pricing", "fraud",
             "kyc", "notifications", "checkout", "partner", "analytics")
APP_KINDS = ("api", "service", "gateway", "backend", "bff")
TEAM_NAMES = ("Platform/Security", "..", "Équipe Paiements ✓",
              "Mobile & Web", "Data Platform")
FIRST_NAMES = ("alice", "bob", "chen", "dara", "emeka", "fatima", "goran",
               "hana", "ivan", "jun", "kofi", "lena", "mateo", "nadia")
LAST_NAMES = ("nguyen", "smith", "okafor", "garcia", "kowalski", "tanaka",
              "muller", "haddad", "silva", "ivanova")

FAKE_JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1c2VyXzEwMiJ9.c2ltdWxhdGVk"

# (category, title, description, remediation, request, response); the texts
# are str.format templates over method, path, concrete, host, n, other, jwt.
CATEGORIES = (
    ("API1:2023 Broken Object Level Authorization",
     "Broken object level authorization on {method} {path}",
     "Changing the object id in {method} {path} returns another user's object: "
     "the server does not check that the caller owns it.",
     "Check on every request that the caller may access the object the id "
     "names; prefer random, unguessable ids.",
     "{method} {concrete} HTTP/1.1\nHost: {host}\nAuthorization: Bearer {jwt}\n"
     "Accept: application/json\n",
     'HTTP/1.1 200 OK\nContent-Type: application/json\n\n'
     '{{"id":"{n}","ownerId":"usr_{other}","balance":1520.75}}\n'),
    ("API2:2023 Broken Authentication",
     "Authentication bypass on {method} {path}",
     "{method} {path} answers without a valid credential: a request with no "
     "Authorization header is served.",
     "Require authentication on every endpoint and reject missing, expired "
     "or malformed tokens with 401.",
     "{method} {concrete} HTTP/1.1\nHost: {host}\nAccept: application/json\n",
     'HTTP/1.1 200 OK\nContent-Type: application/json\n\n'
     '{{"id":"{n}","email":"user{n}@example.com"}}\n'),
    ("API3:2023 Broken Object Property Level Authorization",
     "Excessive data exposure on {method} {path}",
     "{method} {path} returns properties the caller must not see, such as "
     "password hashes and national ids.",
     "Return only the properties the caller's role may read; use explicit "
     "response schemas instead of serializing whole records.",
     "{method} {concrete} HTTP/1.1\nHost: {host}\nAuthorization: Bearer {jwt}\n",
     'HTTP/1.1 200 OK\nContent-Type: application/json\n\n'
     '{{"id":"{n}","passwordHash":"$2b$10$Q9...","ssn":"078-05-{other}"}}\n'),
    ("API4:2023 Unrestricted Resource Consumption",
     "No page size cap on {method} {path}",
     "{method} {path} accepts any page size and request rate, so one client "
     "can exhaust the service.",
     "Cap page sizes, enforce per-client rate limits and bound request "
     "bodies and execution time.",
     "{method} {concrete}?limit=1000000 HTTP/1.1\nHost: {host}\nAuthorization: Bearer {jwt}\n",
     "HTTP/1.1 200 OK\nContent-Type: application/json\nX-Total-Count: 1000000\n\n"
     '{{"items":[...],"count":1000000}}\n'),
    ("API5:2023 Broken Function Level Authorization",
     "Broken function level authorization on {method} {path}",
     "A caller with the plain user role can invoke {method} {path}, an "
     "administrative function.",
     "Deny by default and check the caller's role for every function, not "
     "only in the user interface.",
     "{method} {concrete} HTTP/1.1\nHost: {host}\nAuthorization: Bearer {jwt}\n"
     "X-Role: user\n",
     'HTTP/1.1 200 OK\nContent-Type: application/json\n\n{{"updated":true,"id":"{n}"}}\n'),
    ("API6:2023 Unrestricted Access to Sensitive Business Flows",
     "Unrestricted business flow on {method} {path}",
     "{method} {path} can be automated without limit: 50 requests in two "
     "seconds were all accepted.",
     "Detect automation on sensitive flows (device fingerprinting, captcha, "
     "per-account velocity limits).",
     "{method} {concrete} HTTP/1.1\nHost: {host}\nAuthorization: Bearer {jwt}\n"
     "Content-Type: application/json\n\n{{\"quantity\":1}}\n",
     'HTTP/1.1 201 Created\nContent-Type: application/json\n\n{{"id":"{n}","attempt":50}}\n'),
    ("API7:2023 Server Side Request Forgery",
     "Server-side request forgery via {method} {path}",
     "{method} {path} fetches a caller-supplied URL, including the cloud "
     "metadata service at 169.254.169.254.",
     "Allow-list outbound destinations, block link-local and private ranges "
     "and do not return fetched content verbatim.",
     "{method} {concrete} HTTP/1.1\nHost: {host}\nAuthorization: Bearer {jwt}\n"
     "Content-Type: application/json\n\n"
     "{{\"callbackUrl\":\"http://169.254.169.254/latest/meta-data/\"}}\n",
     "HTTP/1.1 200 OK\nContent-Type: text/plain\n\nami-id\nhostname\niam/\n"),
    ("API8:2023 Security Misconfiguration",
     "Security misconfiguration on {method} {path}",
     "{method} {path} allows any CORS origin with credentials and returns "
     "stack traces on errors.",
     "Restrict CORS origins, disable debug output in production and set "
     "security headers.",
     "{method} {concrete} HTTP/1.1\nHost: {host}\nOrigin: https://evil.example\n",
     "HTTP/1.1 500 Internal Server Error\nAccess-Control-Allow-Origin: *\n"
     "Access-Control-Allow-Credentials: true\nServer: nginx/1.18.0\n\n"
     "java.lang.NullPointerException at com.acme.api.Handler.handle(Handler.java:{n})\n"),
    ("API9:2023 Improper Inventory Management",
     "Undocumented legacy version of {method} {path}",
     "An older, undocumented version of {method} {path} is still deployed "
     "and lacks the current authorization checks.",
     "Keep an inventory of hosts and versions, retire old versions and "
     "route them through the same gateway policies.",
     "{method} /v0{concrete} HTTP/1.1\nHost: legacy-{host}\n",
     'HTTP/1.1 200 OK\nContent-Type: application/json\n\n{{"id":"{n}","deprecated":true}}\n'),
    ("API10:2023 Unsafe Consumption of APIs",
     "Unsafe consumption of third-party data on {method} {path}",
     "{method} {path} forwards data from a third-party API without "
     "validating it, reflecting injected markup to clients.",
     "Validate and sanitize data from integrated services like user input; "
     "use TLS and allow-lists for upstreams.",
     "{method} {concrete} HTTP/1.1\nHost: {host}\nAuthorization: Bearer {jwt}\n",
     'HTTP/1.1 200 OK\nContent-Type: application/json\n\n'
     '{{"partnerName":"<script>alert({n})</script>"}}\n'),
)


def rfc3339(epoch):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def make_id(prefix, seq, width, seed, salt=2):
    """An opaque id that still sorts in creation order: the sequence number
    in fixed-width base62, then a few characters hashed from the seed."""
    digits = ""
    for _ in range(width):
        seq, r = divmod(seq, 62)
        digits = B62[r] + digits
    h = hashlib.sha256(f"{seed}:{prefix}:{digits}".encode()).digest()
    return prefix + digits + "".join(B62[b % 62] for b in h[:salt])


def vuln_id(n, width):
    return f"vuln_{n:0{width}d}"


@functools.lru_cache(maxsize=1 << 16)
def fingerprint(instance_id, category, method, path):
    """The opaque name of one weakness: the same instance, category and
    endpoint give the same fingerprint in every scan.  Memoized because a
    data set has far fewer weaknesses than findings."""
    key = "\0".join((instance_id, category, method, path)).encode()
    return "fp_" + hashlib.sha256(key).hexdigest()[:16]


def empty_stats():
    return dict.fromkeys(("total",) + SEVERITIES, 0)


@dataclass(slots=True)
class Instance:
    instance_id: str
    host_url: str
    endpoints: list             # sorted (method, path)
    spec_text: str = None       # rendered lazily unless uploaded
    spec_type: str = "application/json"
    latest_scan_id: str = None
    latest_stats: dict = field(default_factory=empty_stats)


@dataclass(slots=True)
class App:
    app_id: str
    name: str
    team_id: str
    created_at: str
    updated_at: str
    instances: list


@dataclass(slots=True)
class Scan:
    scan_id: str
    app_id: str
    instance_id: str
    status: str
    created_at: str
    started_at: str = None
    completed_at: str = None
    updated_at: str = None      # moves at every status change
    progress: int = 0
    endpoints: list = None      # the (method, path) pairs it probes
    stats: dict = field(default_factory=empty_stats)
    failure_reason: str = None
    t_mono: float = 0.0         # run-time scans: creation, monotonic clock
    t_wall: float = 0.0         # ... and wall clock, for their timestamps

    def to_json(self):
        total = len(self.endpoints)
        return {
            "scanId": self.scan_id, "applicationId": self.app_id,
            "instanceId": self.instance_id, "status": self.status,
            "progress": self.progress, "createdAt": self.created_at,
            "startedAt": self.started_at, "completedAt": self.completed_at,
            "updatedAt": self.updated_at,
            "endpointsScanned": total * self.progress // 100,
            "vulnerabilityStats": dict(self.stats),
            "failureReason": self.failure_reason,
        }


@dataclass(slots=True)
class Draw:
    """What is drawn for one finding before it is rendered: the weakness
    (cat, an entry of CATEGORIES, and endpoint) and the probe's numbers."""
    cat: tuple
    endpoint: tuple
    n: int
    other: str
    score: float


def draw(rng, endpoint, severity, cat=None):
    """The random part of a finding, drawn in a fixed order (the seeded
    data depends on it); cat is drawn unless given."""
    if cat is None:
        cat = rng.choice(CATEGORIES)
    n = rng.randint(2, 9999)
    other = f"{rng.randint(1000, 9999)}"
    lo, hi = CVSS_RANGES[severity]
    return Draw(cat, endpoint, n, other, round(rng.uniform(lo, hi), 1))


def render(d, vid, scan, host_url, detected, updated, severity, status, lean=False):
    """One vulnerability object (the API's JSON shape) found by scan.
    lean: the same object with one-line texts (~700 bytes pretty-printed
    instead of ~1.1 KB; the fields alone take ~560), for benchmarks where
    the per-file cost of a filesystem, not the bytes, dominates; nothing
    else changes (the draws are the same), so ids, severities, statuses
    and titles do not."""
    name, title, desc, fix, req, resp = d.cat
    method, path = d.endpoint
    fmt = {"method": method, "path": path, "host": host_url.split("://", 1)[-1],
           "concrete": path.replace("{id}", str(d.n)), "n": d.n,
           "other": d.other, "jwt": FAKE_JWT}
    v = {
        "vulnerabilityId": vid, "applicationId": scan.app_id,
        "instanceId": scan.instance_id, "scanId": scan.scan_id,
        "fingerprint": fingerprint(scan.instance_id, name, method, path),
        "title": title.format(**fmt), "category": name,
        "severity": severity, "cvssScore": d.score,
        "status": status, "endpoint": {"method": method, "path": path},
        "description": desc.format(**fmt), "remediation": fix,
        "evidence": {"request": req.format(**fmt), "response": resp.format(**fmt)},
        "detectedAt": detected, "updatedAt": updated,
    }
    if lean:
        code = name.split(" ", 1)[0]
        v["description"] = f"{method} {path}: {code}."
        v["remediation"] = f"See OWASP {code}."
        v["evidence"] = {key: text.split("\n", 1)[0]
                         for key, text in v["evidence"].items()}
    return v


def app_names(rng, n):
    fixed = ("payments-api",) + HOSTILE_APP_NAMES
    names = list(fixed[:n])
    taken = set(names)
    while len(names) < n:
        name = f"{rng.choice(APP_WORDS)}-{rng.choice(APP_KINDS)}"
        if name in taken:
            name = f"{name}-{len(names)}"
        taken.add(name)
        names.append(name)
    return names


def host_for(index, name):
    if index == 0:
        return "https://pay.example.com"
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:40].strip("-")
    return f"https://{slug or f'app{index}'}.example.com"


def make_teams(rng, seed):
    teams = []
    for i, name in enumerate(TEAM_NAMES[:rng.randint(3, 5)]):
        members = []
        for j, first in enumerate(rng.sample(FIRST_NAMES, rng.randint(2, 5))):
            last = rng.choice(LAST_NAMES)
            members.append({"userId": make_id("usr_", i * 16 + j, 3, seed, 4),
                            "email": f"{first}.{last}@acme.example",
                            "role": "owner" if j == 0 else "member"})
        teams.append({"teamId": f"team_{i + 1:02d}", "name": name,
                      "description": f"{name} ({len(members)} people)",
                      "members": members, "applicationIds": []})
    return teams


def parse_rfc3339(text):
    return calendar.timegm(time.strptime(text, "%Y-%m-%dT%H:%M:%SZ"))


def completion_order(scan):
    """Sort key of Completed scans: "previous" and "latest" follow it."""
    return scan.completed_at, scan.scan_id


def make_scans(rng, seed, seq, app, inst):
    """Two to four completed scans of inst between the app's creation and
    BASE_EPOCH, oldest first; seq numbers them across the data set."""
    created = parse_rfc3339(app.created_at)
    times = sorted(rng.uniform(created, BASE_EPOCH - 7200)
                   for _ in range(rng.randint(2, 4)))
    scans = []
    for i, t in enumerate(times):
        start = t + rng.randint(5, 120)
        done = rfc3339(start + rng.randint(60, 1800))
        scans.append(Scan(
            scan_id=make_id("scan_", seq + i, 4, seed), app_id=app.app_id,
            instance_id=inst.instance_id, status="Completed",
            created_at=rfc3339(t), started_at=rfc3339(start),
            completed_at=done, updated_at=done,
            progress=100, endpoints=inst.endpoints))
    return scans


def generate(seed, n_apps, n_vulns, lean=False):
    """Build the whole data set: (apps, teams, scans, vulns, id width);
    lean: findings with one-line texts (see render)."""
    rng = random.Random(seed)
    teams = make_teams(rng, seed)
    apps, scans, inst_seq = [], [], 0
    for i, name in enumerate(app_names(rng, n_apps)):
        host = host_for(i, name)
        created = BASE_EPOCH - rng.randint(200, 400) * 86400 + rng.randint(0, 86399)
        endpoints = simspec.make_endpoints(rng, first=i == 0)
        hosts = [host]
        if i == 0 or rng.random() < 0.4:
            hosts.append(host.replace("https://", "https://staging."))
        instances = []
        for h in hosts:
            inst_seq += 1
            instances.append(Instance(make_id("inst_", inst_seq, 3, seed), h, endpoints))
        team = teams[i % len(teams)]
        app = App(make_id("app_", i + 1, 3, seed), name, team["teamId"],
                  rfc3339(created), rfc3339(created), instances)
        team["applicationIds"].append(app.app_id)
        for inst in instances:
            inst_scans = make_scans(rng, seed, len(scans) + 1, app, inst)
            scans += inst_scans
            last = max(inst_scans, key=completion_order)
            inst.latest_scan_id = last.scan_id
            app.updated_at = max(app.updated_at, last.completed_at)
        apps.append(app)
    vulns, width = make_seed_vulns(rng, seed, apps, scans, n_vulns, lean)
    return apps, teams, scans, vulns, width


def make_seed_vulns(rng, seed, apps, scans, n_vulns, lean=False):
    """Vulnerabilities spread over the completed scans; the first ones cover
    every severity and status so that each is present at any size."""
    width = max(5, len(str(n_vulns)))
    by_inst = {}
    for s in scans:
        by_inst.setdefault(s.instance_id, []).append(s)
    insts = {inst.instance_id: inst for app in apps for inst in app.instances}
    done = {s.scan_id: parse_rfc3339(s.completed_at) for s in scans}
    inst_ids = list(insts)
    drawn = []
    for k in range(n_vulns):
        inst = insts[rng.choice(inst_ids)]
        scan = rng.choice(by_inst[inst.instance_id])
        severity = SEVERITIES[k] if k < len(SEVERITIES) else \
            rng.choices(SEVERITIES, SEVERITY_WEIGHTS)[0]
        status = STATUSES[k] if k < len(STATUSES) else \
            rng.choices(STATUSES, STATUS_WEIGHTS)[0]
        detected = scan.completed_at
        updated = detected
        if status != "ACTIVE":
            later = done[scan.scan_id] + rng.randint(3600, 30 * 86400)
            updated = rfc3339(min(later, BASE_EPOCH))
        endpoint = rng.choice(inst.endpoints)
        drawn.append((draw(rng, endpoint, severity), scan, inst, detected,
                       updated, severity, status))
        scan.stats["total"] += 1
        scan.stats[severity] += 1
    rescan_seeded(random.Random(f"{seed}:rescans"), scans, drawn)
    vulns = [render(d, vuln_id(k + 1, width), scan, inst.host_url, *rest, lean=lean)
             for k, (d, scan, inst, *rest) in enumerate(drawn)]
    for app in apps:
        for inst in app.instances:
            latest = next(s for s in by_inst[inst.instance_id]
                          if s.scan_id == inst.latest_scan_id)
            inst.latest_stats = dict(latest.stats)
    return vulns, width


def rescan_seeded(rng, scans, drawn):
    """Make each seeded scan re-report about RESCAN_KEEP of the weaknesses
    of the scan of its instance before it, as rescans at run time do, and
    its other findings name weaknesses that scan did not report (as far as
    the instance has such).

    Only the weakness (category and endpoint) of drawn findings changes;
    their scans, severities and statuses, and so every count, stay as
    drawn.  rng is separate from the main one so that everything else
    drawn stays the same too."""
    findings = {}
    for d, scan, inst, *_ in drawn:
        findings.setdefault(scan.scan_id, (inst, []))[1].append(d)
    by_inst = {}
    for s in sorted(scans, key=completion_order):
        by_inst.setdefault(s.instance_id, []).append(s)
    for chain in by_inst.values():
        for prev, cur in zip(chain, chain[1:]):
            if prev.scan_id not in findings or cur.scan_id not in findings:
                continue
            inst, mine = findings[cur.scan_id]
            weak = {(d.cat, d.endpoint): None for d in findings[prev.scan_id][1]}
            keep = min(len(mine) - 1, round(RESCAN_KEEP * len(weak)))
            if keep < 1:
                continue
            chosen = rng.sample(range(len(mine)), keep)
            for i, (cat, ep) in zip(chosen, rng.sample(list(weak), keep)):
                mine[i].cat, mine[i].endpoint = cat, ep
            others = [(c, ep) for ep in inst.endpoints for c in CATEGORIES
                      if (c, ep) not in weak]
            chosen = set(chosen)
            for i, d in enumerate(mine):
                if i not in chosen and others and (d.cat, d.endpoint) in weak:
                    d.cat, d.endpoint = rng.choice(others)
