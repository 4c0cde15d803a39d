"""simstore.py - the simulator's data model and its operations.

Owns applications, instances, scans, vulnerabilities and teams behind one
lock, runs the scan lifecycle (Queued -> Running -> Completed | Failed, or
Cancelled) in real time, and keeps what makes big lists cheap: serialized
vulnerability JSON and filtered id lists cached by a data version.  Every
public method takes the lock and first advances running scans, so callers
always see the present.  Lists handed out are snapshots: the store replaces
them instead of changing them in place.

A completed rescan reports again about RESCAN_KEEP of the weaknesses
(fingerprints) of the previous Completed scan of its instance, as findings
of its own with new ids, plus one to three weaknesses the previous scan did
not report.
"""

import copy
import json
import random
import threading
import time

import simdata
import simspec
from simconv import parse_time
from simdata import (CATEGORIES, RESCAN_KEEP, SEVERITIES, STATUSES, App,
                     Instance, Scan, completion_order, make_id, rfc3339)
from simerr import bad_request, conflict, not_found

APP_NAME_MAX = 256          # the seeded data has a 250-character name
SCAN_STATUSES = ("Queued", "Running", "Completed", "Failed", "Cancelled")
FILTER_CACHE_MAX = 64       # distinct vulnerability queries kept
VULN_TEXTS = ("title", "description", "remediation", "category")  # /_sim/vuln-text


class Store:
    def __init__(self, seed, n_apps, n_vulns, scan_seconds, lean=False):
        apps, teams, scans, vulns, width = simdata.generate(seed, n_apps, n_vulns, lean)
        self.seed = seed
        self.lean = lean            # short finding texts, scans' findings too
        self.scan_seconds = scan_seconds
        self.lock = threading.RLock()
        self.apps = {a.app_id: a for a in apps}
        self.names = {a.name: a.app_id for a in apps}
        self.teams = {t["teamId"]: t for t in teams}
        self.scans = {s.scan_id: s for s in scans}
        self.active = {}            # scanId -> Scan still Queued or Running
        self.vulns = {v["vulnerabilityId"]: v for v in vulns}
        self.vuln_order = list(self.vulns)
        self.by_scan = {}           # scanId -> its vulnerabilityIds
        for v in vulns:
            self.by_scan.setdefault(v["scanId"], []).append(v["vulnerabilityId"])
        self.vuln_json = {}         # vulnerabilityId -> serialized object
        self.vuln_width = width
        self.vuln_seq = len(vulns)
        self.version = 0            # bumped on every vulnerability change
        self.filtered = {}          # filter key -> (version, id list)
        self.app_seq = len(apps)
        self.scan_seq = len(scans)
        self.inst_seq = sum(len(a.instances) for a in apps)
        self.next_scan_id = None    # /_sim/next-scan-id: the next scan's id

    # -- lookups (lock held) --------------------------------------------------

    def app(self, app_id):
        app = self.apps.get(app_id)
        if app is None:
            raise not_found("application", app_id)
        return app

    def instance(self, app_id, inst_id):
        app = self.app(app_id)
        for inst in app.instances:
            if inst.instance_id == inst_id:
                return app, inst
        raise not_found("instance", inst_id)

    def scan(self, scan_id):
        scan = self.scans.get(scan_id)
        if scan is None:
            raise not_found("scan", scan_id)
        return scan

    @staticmethod
    def app_json(app):
        return {"applicationId": app.app_id, "applicationName": app.name,
                "teamId": app.team_id, "createdAt": app.created_at,
                "updatedAt": app.updated_at,
                "instances": [{"instanceId": i.instance_id, "hostUrl": i.host_url,
                               "latestScanId": i.latest_scan_id,
                               "latestScanStats": dict(i.latest_stats)}
                              for i in app.instances]}

    # -- applications -----------------------------------------------------------

    def list_apps(self):
        with self.lock:
            self.tick()
            return [self.app_json(a) for a in self.apps.values()]

    def get_app(self, app_id):
        with self.lock:
            self.tick()
            return self.app_json(self.app(app_id))

    def create_app(self, body):
        name, host = body.get("applicationName"), body.get("hostUrl")
        if not isinstance(name, str) or not name.strip() or len(name) > APP_NAME_MAX \
                or "\0" in name:
            raise bad_request(f"applicationName must be 1 to {APP_NAME_MAX} characters")
        if not isinstance(host, str) or not host.startswith(("http://", "https://")):
            raise bad_request("hostUrl must be an http(s) URL")
        for key in ("teamId", "oas", "oasUrl"):
            if body.get(key) is not None and not isinstance(body[key], str):
                raise bad_request(f"{key} must be a string")
        parsed = None
        if body.get("oas") is not None:
            try:
                parsed = simspec.parse_spec(body["oas"])
            except simspec.SpecError as exc:
                raise bad_request(str(exc)) from None
        with self.lock:
            team_id = body.get("teamId")
            if team_id is not None and team_id not in self.teams:
                raise bad_request(f"unknown teamId {team_id}")
            if name in self.names:
                raise conflict(f"an application named {name!r} already exists")
            self.app_seq += 1
            self.inst_seq += 1
            app_id = make_id("app_", self.app_seq, 3, self.seed)
            if parsed:
                inst = Instance(make_id("inst_", self.inst_seq, 3, self.seed), host,
                                parsed[1], body["oas"], parsed[0])
            else:
                rng = random.Random(f"{self.seed}:{app_id}")
                inst = Instance(make_id("inst_", self.inst_seq, 3, self.seed), host,
                                simspec.make_endpoints(rng))
            now = rfc3339(time.time())
            app = App(app_id, name, team_id, now, now, [inst])
            self.apps[app_id] = app
            self.names[name] = app_id
            if team_id:
                self.teams[team_id]["applicationIds"].append(app_id)
            return self.app_json(app)

    def delete_app(self, app_id):
        with self.lock:
            self.tick()
            app = self.app(app_id)
            del self.apps[app_id]
            del self.names[app.name]
            if app.team_id:
                self.teams[app.team_id]["applicationIds"].remove(app_id)
            for sid in [s.scan_id for s in self.scans.values() if s.app_id == app_id]:
                del self.scans[sid]
                self.active.pop(sid, None)
                self.by_scan.pop(sid, None)
            gone = [v for v, d in self.vulns.items() if d["applicationId"] == app_id]
            for vid in gone:
                del self.vulns[vid]
                self.vuln_json.pop(vid, None)
            if gone:
                self.vuln_order = [v for v in self.vuln_order if v in self.vulns]
                self.version += 1

    def endpoints(self, app_id, inst_id):
        with self.lock:
            _, inst = self.instance(app_id, inst_id)
            return [{"endpointId": simspec.endpoint_id(m, p), "method": m, "path": p}
                    for m, p in inst.endpoints]

    def get_spec(self, app_id, inst_id):
        """(content type, text) of the instance's OpenAPI document."""
        with self.lock:
            app, inst = self.instance(app_id, inst_id)
            if inst.spec_text is None:
                inst.spec_text = simspec.render_spec(app.name, inst.host_url,
                                                     inst.endpoints)
            return inst.spec_type, inst.spec_text

    def put_spec(self, app_id, inst_id, text):
        try:
            ctype, endpoints = simspec.parse_spec(text)
        except simspec.SpecError as exc:
            raise bad_request(str(exc)) from None
        with self.lock:
            app, inst = self.instance(app_id, inst_id)
            inst.spec_text, inst.spec_type, inst.endpoints = text, ctype, endpoints
            app.updated_at = rfc3339(time.time())
            return {"applicationId": app_id, "instanceId": inst_id,
                    "contentType": ctype, "endpointCount": len(endpoints)}

    # -- scans --------------------------------------------------------------------

    def start_scan(self, app_id, inst_id, body):
        wanted = body.get("endpointIds")
        with self.lock:
            self.tick()
            _, inst = self.instance(app_id, inst_id)
            targets = inst.endpoints
            if wanted is not None:
                by_id = {simspec.endpoint_id(m, p): (m, p) for m, p in inst.endpoints}
                if not isinstance(wanted, list) or not wanted:
                    raise bad_request("endpointIds must be a non-empty list")
                unknown = [e for e in wanted if e not in by_id]
                if unknown:
                    raise bad_request(f"unknown endpointId {unknown[0]!r}")
                targets = simspec.sort_endpoints(by_id[e] for e in wanted)
            if not targets:
                raise bad_request("the instance has no endpoints to scan")
            self.scan_seq += 1
            now = time.time()
            scan_id = self.next_scan_id or make_id("scan_", self.scan_seq, 4, self.seed)
            self.next_scan_id = None
            scan = Scan(scan_id, app_id,
                        inst_id, "Queued", rfc3339(now), updated_at=rfc3339(now),
                        endpoints=list(targets), t_mono=time.monotonic(), t_wall=now)
            self.scans[scan.scan_id] = scan
            self.active[scan.scan_id] = scan
            return scan.to_json()

    def set_next_scan_id(self, scan_id):
        """The next scan started gets scan_id (ids are opaque: a client
        must cope with any, such as "new")."""
        if not isinstance(scan_id, str) or not scan_id or "/" in scan_id:
            raise bad_request("scanId must be a non-empty string without '/'")
        with self.lock:
            if scan_id in self.scans:
                raise conflict(f"scan {scan_id} exists")
            self.next_scan_id = scan_id
            return {"scanId": scan_id}

    def list_scans(self, app_id=None, status=None, updated_since=None):
        if status is not None and status not in SCAN_STATUSES:
            raise bad_request(f"status must be one of {', '.join(SCAN_STATUSES)}")
        since = None
        if updated_since is not None:
            since = rfc3339(parse_time(updated_since, "updatedSince"))
        with self.lock:
            self.tick()
            return [s.to_json() for s in self.scans.values()
                    if (app_id is None or s.app_id == app_id)
                    and (status is None or s.status == status)
                    and (since is None or s.updated_at >= since)]

    def get_scan(self, scan_id):
        with self.lock:
            self.tick()
            return self.scan(scan_id).to_json()

    def cancel_scan(self, scan_id):
        with self.lock:
            self.tick()
            scan = self.scan(scan_id)
            if scan_id not in self.active:
                raise conflict(f"scan {scan_id} is already {scan.status}")
            scan.status = "Cancelled"
            scan.completed_at = scan.updated_at = rfc3339(time.time())
            del self.active[scan_id]
            return scan.to_json()

    def advance(self):
        """Bring the scans up to now; the server calls it for every request
        before it takes the time its Date header shows, so that a change a
        response does not show has an updatedAt at or after that Date."""
        with self.lock:
            self.tick()

    def tick(self):
        """Move active scans along their timeline (lock held).  A scan is
        Queued for a tenth of --scan-seconds (at most 1 s), then Running;
        it completes at --scan-seconds, or fails halfway through when the
        instance's hostUrl contains "fail"."""
        if not self.active:
            return
        now = time.monotonic()
        total = self.scan_seconds
        queued = min(total * 0.1, 1.0)
        for scan in list(self.active.values()):
            wall = scan.t_wall
            elapsed = now - scan.t_mono
            if elapsed < queued:
                continue
            if scan.started_at is None:
                scan.status, scan.started_at = "Running", rfc3339(wall + queued)
                scan.updated_at = scan.started_at
            frac = (elapsed - queued) / (total - queued) if total > queued else 1.0
            inst = self.instance(scan.app_id, scan.instance_id)[1]
            if "fail" in inst.host_url and frac >= 0.5:
                scan.status, scan.progress = "Failed", 50
                scan.completed_at = rfc3339(wall + queued + (total - queued) / 2)
                scan.updated_at = scan.completed_at
                scan.failure_reason = (f"could not reach {inst.host_url}: "
                                       "connection refused")
                del self.active[scan.scan_id]
            elif frac >= 1.0:
                self.complete(scan, rfc3339(wall + total))
            else:
                scan.progress = min(99, int(frac * 100))

    def complete(self, scan, done_at):
        """Finish scan with findings seeded by its id (lock held): again
        RESCAN_KEEP of the weaknesses the previous Completed scan of the
        instance reported on the endpoints this one probes (same severity
        and score), then 1-3 weaknesses the previous scan did not report
        (see new_weaknesses); a first scan finds 2-4."""
        app, inst = self.instance(scan.app_id, scan.instance_id)
        rng = random.Random(f"{self.seed}:{scan.scan_id}")
        prev = self.previous_scan(scan)
        again, seen, before = {}, set(), set()
        if prev is not None:
            probed = set(scan.endpoints)
            for vid in self.by_scan.get(prev.scan_id, ()):
                v = self.vulns[vid]
                before.add(v["fingerprint"])
                ep = (v["endpoint"]["method"], v["endpoint"]["path"])
                if ep in probed:
                    again.setdefault(v["fingerprint"], v)
            for s in self.scans.values():
                if s.instance_id == scan.instance_id:
                    seen.update(self.vulns[vid]["fingerprint"]
                                for vid in self.by_scan.get(s.scan_id, ()))
        cats = {c[0]: c for c in CATEGORIES}
        picks = []
        if again:
            keep = max(1, round(RESCAN_KEEP * len(again)))
            for v in rng.sample(list(again.values()), keep):
                ep = (v["endpoint"]["method"], v["endpoint"]["path"])
                picks.append((cats[v["category"]], ep, v["severity"], v["cvssScore"]))
        fresh = rng.randint(1, 3) if prev is not None else rng.randint(2, 4)
        for cat, ep in self.new_weaknesses(rng, scan, seen, before, fresh):
            sev = rng.choices(SEVERITIES, simdata.SEVERITY_WEIGHTS)[0]
            picks.append((cat, ep, sev, None))
        found = []
        for cat, ep, sev, cvss in picks:
            self.vuln_seq += 1
            vid = simdata.vuln_id(self.vuln_seq, self.vuln_width)
            d = simdata.draw(rng, ep, sev, cat)
            if cvss is not None:
                d.score = cvss
            self.vulns[vid] = simdata.render(d, vid, scan, inst.host_url,
                                             done_at, done_at, sev, "ACTIVE", self.lean)
            found.append(vid)
            scan.stats["total"] += 1
            scan.stats[sev] += 1
        self.by_scan[scan.scan_id] = found
        self.vuln_order = self.vuln_order + found
        self.version += 1
        scan.status, scan.progress = "Completed", 100
        scan.completed_at = scan.updated_at = done_at
        inst.latest_scan_id, inst.latest_stats = scan.scan_id, dict(scan.stats)
        app.updated_at = done_at
        del self.active[scan.scan_id]

    def previous_scan(self, scan):
        """The Completed scan of scan's instance that completed last, or
        None (lock held; scan itself is not Completed yet)."""
        done = [s for s in self.scans.values()
                if s.instance_id == scan.instance_id and s.status == "Completed"]
        return max(done, key=completion_order, default=None)

    @staticmethod
    def new_weaknesses(rng, scan, seen, before, n):
        """n distinct (category, endpoint) pairs on the endpoints scan
        probes: weaknesses the instance never showed (fingerprint not in
        seen), else ones that came back (not in before, the previous scan's
        fingerprints): at large sizes an instance has shown them all."""
        pairs = [(cat, ep) for ep in scan.endpoints for cat in CATEGORIES]
        fps = [simdata.fingerprint(scan.instance_id, cat[0], *ep) for cat, ep in pairs]
        unseen = [p for p, fp in zip(pairs, fps) if fp not in seen]
        if len(unseen) >= n:
            return rng.sample(unseen, n)
        back = [p for p, fp in zip(pairs, fps) if fp in seen and fp not in before]
        return unseen + rng.sample(back, min(n - len(unseen), len(back)))

    # -- vulnerabilities --------------------------------------------------------

    def vuln_ids(self, app_id=None, scan_id=None, severity=None, status=None,
                 updated_since=None):
        """Ids of matching vulnerabilities in id order (a snapshot)."""
        if severity is not None and severity not in SEVERITIES:
            raise bad_request(f"severity must be one of {', '.join(SEVERITIES)}")
        if status is not None and status not in STATUSES:
            raise bad_request(f"status must be one of {', '.join(STATUSES)}")
        since = None
        if updated_since is not None:
            since = rfc3339(parse_time(updated_since, "updatedSince"))
        key = (app_id, scan_id, severity, status, since)
        with self.lock:
            self.tick()
            if key == (None,) * 5:
                return self.vuln_order
            hit = self.filtered.get(key)
            if hit and hit[0] == self.version:
                return hit[1]
            ids = []
            for vid in self.vuln_order:
                v = self.vulns[vid]
                if ((app_id is None or v["applicationId"] == app_id)
                        and (scan_id is None or v["scanId"] == scan_id)
                        and (severity is None or v["severity"] == severity)
                        and (status is None or v["status"] == status)
                        and (since is None or v["updatedAt"] >= since)):
                    ids.append(vid)
            if len(self.filtered) >= FILTER_CACHE_MAX:
                self.filtered.clear()
            self.filtered[key] = (self.version, ids)
            return ids

    def vuln_texts(self, ids):
        """Serialized JSON of each id still present, cached per object."""
        out = []
        with self.lock:
            for vid in ids:
                text = self.vuln_json.get(vid)
                if text is None and vid in self.vulns:
                    text = self.vuln_json[vid] = json.dumps(self.vulns[vid],
                                                            ensure_ascii=False)
                if text is not None:
                    out.append(text)
        return out

    def get_vuln(self, vid):
        with self.lock:
            self.tick()
            if vid not in self.vulns:
                raise not_found("vulnerability", vid)
            return self.vuln_texts([vid])[0]

    def patch_vuln(self, vid, body):
        status, comment = body.get("status"), body.get("comment")
        if status not in STATUSES:
            raise bad_request(f"status must be one of {', '.join(STATUSES)}")
        if comment is not None and not isinstance(comment, str):
            raise bad_request("comment must be a string")
        with self.lock:
            v = self.vulns.get(vid)
            if v is None:
                raise not_found("vulnerability", vid)
            v["status"] = status
            if comment is not None:
                v["comment"] = comment
            v["updatedAt"] = rfc3339(time.time())
            self.vuln_json.pop(vid, None)
            self.version += 1
            return dict(v)

    def set_vuln_text(self, body):
        """/_sim/vuln-text: plant text in a finding (markup, control
        characters, and lone surrogates U+DC80..U+DCFF, which answers
        carry as those raw bytes: invalid UTF-8). A change like a PATCH:
        updatedAt moves."""
        vid = body.get("vulnerabilityId")
        fields = {k: body[k] for k in VULN_TEXTS if k in body}
        if not isinstance(vid, str) or not fields \
                or not all(isinstance(v, str) for v in fields.values()):
            raise bad_request("expected {vulnerabilityId, and strings for any of "
                              + ", ".join(VULN_TEXTS) + "}")
        with self.lock:
            v = self.vulns.get(vid)
            if v is None:
                raise not_found("vulnerability", vid)
            v.update(fields)
            v["updatedAt"] = rfc3339(time.time())
            self.vuln_json.pop(vid, None)
            self.version += 1
            return {"vulnerabilityId": vid, "updatedAt": v["updatedAt"]}

    def scan_findings(self, scan_id):
        """(scan JSON, app name, host, vulnerability objects) for a report;
        409 unless the scan is Completed."""
        with self.lock:
            self.tick()
            scan = self.scan(scan_id)
            if scan.status != "Completed":
                raise conflict(f"scan {scan_id} is {scan.status}, not Completed")
            app, inst = self.instance(scan.app_id, scan.instance_id)
            vulns = [dict(self.vulns[v]) for v in self.vuln_ids(scan_id=scan_id)]
            return scan.to_json(), app.name, inst.host_url, vulns

    # -- teams ------------------------------------------------------------------

    def list_teams(self):
        with self.lock:
            return copy.deepcopy(list(self.teams.values()))

    def get_team(self, team_id):
        with self.lock:
            team = self.teams.get(team_id)
            if team is None:
                raise not_found("team", team_id)
            return copy.deepcopy(team)
