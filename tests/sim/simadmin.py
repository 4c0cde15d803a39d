"""simadmin.py - the simulator's own knobs under /_sim (never under /v1).

Faults: injected latency, error rate, 429 bursts, hung requests, dropped
connections and truncated bodies, optionally limited to a path prefix.
Stats: per-route request counters, status counters and the last requests.
Admin: the /_sim/* routes that set and read those, revoke sessions, mint
tokens, choose the next scan's id and plant hostile text in a finding.  /_sim
requests are neither faulted nor counted nor authenticated.
"""

import collections
import random
import threading
import time

from simauth import check_addresses, check_scopes
from simconv import parse_time
from simerr import ApiError, bad_request

ERROR_CODES = {429: "rate_limited", 500: "internal", 502: "bad_gateway",
               503: "unavailable", 504: "gateway_timeout"}
RECENT_MAX = 200
HANG_POLL = 0.5   # seconds between re-checks of a hung request


def number(cfg, key, lo, hi, kind=float):
    val = cfg[key]
    if isinstance(val, bool) or not isinstance(val, (int, float)) \
            or not lo <= val <= hi or (kind is int and val != int(val)):
        raise bad_request(f"{key} must be a {kind.__name__} in [{lo}, {hi}]")
    return kind(val)


class Faults:
    """The fault set now in force; POST replaces it, DELETE clears it."""

    def __init__(self, seed):
        self.cond = threading.Condition()
        self.cfg = {}
        self.rng = random.Random(seed)
        self.stopping = False

    def set(self, body):
        cfg = {}
        for key, val in body.items():
            if key == "latency_ms":
                cfg[key] = number(body, key, 0, 600000)
            elif key in ("error_rate", "truncate_rate"):
                cfg[key] = number(body, key, 0, 1)
            elif key == "error_status":
                cfg[key] = number(body, key, 429, 504, int)
                if cfg[key] not in ERROR_CODES:
                    raise bad_request(f"error_status must be one of {sorted(ERROR_CODES)}")
            elif key in ("burst_429", "retry_after"):
                cfg[key] = number(body, key, 0, 10**9, int)
            elif key == "pad_bytes":
                cfg[key] = number(body, key, 0, 256 << 20, int)
            elif key in ("hang", "down", "truncate"):
                if not isinstance(val, bool):
                    raise bad_request(f"{key} must be true or false")
                cfg[key] = val
            elif key == "path_prefix":
                if not isinstance(val, str):
                    raise bad_request("path_prefix must be a string")
                cfg[key] = val
            else:
                raise bad_request(f"unknown fault {key!r}")
        with self.cond:
            self.cfg = cfg
            self.cond.notify_all()
        return self.snapshot()

    def clear(self):
        with self.cond:
            self.cfg = {}
            self.cond.notify_all()

    def snapshot(self):
        with self.cond:
            return dict(self.cfg)

    def stop(self):
        """Server shutdown: release hung requests."""
        with self.cond:
            self.stopping = True
            self.cond.notify_all()

    def active(self, path):
        """The fault set if it applies to path, else an empty dict."""
        with self.cond:
            if path.startswith(self.cfg.get("path_prefix", "")):
                return dict(self.cfg)
            return {}

    def wait_unhung(self, path):
        """Block while a hang applies to path; True if the server stops."""
        with self.cond:
            while not self.stopping and self.cfg.get("hang") \
                    and path.startswith(self.cfg.get("path_prefix", "")):
                self.cond.wait(HANG_POLL)
            return self.stopping

    def cut_body(self, cfg):
        """Whether this answer is sent cut: always with truncate, else
        with probability truncate_rate (after the platform acted)."""
        with self.cond:
            return bool(cfg.get("truncate")) or \
                cfg.get("truncate_rate", 0) > self.rng.random()

    def check_errors(self, path):
        """Raise the injected 429 burst or random error due for path."""
        with self.cond:
            cfg = self.cfg
            if not path.startswith(cfg.get("path_prefix", "")):
                return
            if cfg.get("burst_429", 0) > 0:
                cfg["burst_429"] -= 1
                wait = cfg.get("retry_after", 1)
                raise ApiError(429, "rate_limited", "injected 429 burst",
                               {"Retry-After": str(wait)})
            if cfg.get("error_rate", 0) > self.rng.random():
                status = cfg.get("error_status", 500)
                raise ApiError(status, ERROR_CODES[status], f"injected {status} fault")


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.reset()

    def reset(self):
        with self.lock:
            self.total = 0
            self.routes = collections.Counter()
            self.status = collections.Counter()
            self.recent = collections.deque(maxlen=RECENT_MAX)

    def arrive(self, method, route_key, path, query, if_none_match, idem_key):
        """Count a request as it arrives; the entry gets its status later."""
        entry = {"method": method, "path": path, "query": query, "status": None,
                 "ifNoneMatch": if_none_match, "idempotencyKey": idem_key}
        with self.lock:
            self.total += 1
            self.routes[route_key] += 1
            self.recent.append(entry)
        return entry

    def answered(self, entry, status):
        with self.lock:
            entry["status"] = status
            self.status[str(status)] += 1

    def snapshot(self):
        with self.lock:
            return {"total": self.total, "routes": dict(self.routes),
                    "status": dict(self.status),
                    "recent": [dict(e) for e in self.recent]}


class Admin:
    """Routes under /_sim; handle() returns (status, JSON object or None)."""

    def __init__(self, auth, faults, stats, store=None):
        self.auth, self.faults, self.stats = auth, faults, stats
        self.routes = {
            ("GET", "/_sim/faults"): lambda body: (200, faults.snapshot()),
            ("POST", "/_sim/faults"): lambda body: (200, faults.set(body)),
            ("DELETE", "/_sim/faults"): lambda body: (204, faults.clear()),
            ("GET", "/_sim/stats"): lambda body: (200, stats.snapshot()),
            ("POST", "/_sim/stats/reset"): lambda body: (204, stats.reset()),
            ("POST", "/_sim/revoke-sessions"):
                lambda body: (200, {"revoked": auth.revoke_sessions()}),
            ("POST", "/_sim/tokens"): self.mint_token,
        }
        if store is not None:
            self.routes[("POST", "/_sim/next-scan-id")] = \
                lambda body: (200, store.set_next_scan_id(body.get("scanId")))
            self.routes[("POST", "/_sim/vuln-text")] = \
                lambda body: (200, store.set_vuln_text(body))

    def handle(self, method, path, body):
        action = self.routes.get((method, path))
        if action is None:
            if any(p == path for _, p in self.routes):
                raise ApiError(405, "method_not_allowed", f"{method} not allowed on {path}")
            raise ApiError(404, "not_found", f"no such route {path}")
        return action(body)

    def mint_token(self, body):
        """Any scope set, any expiry (past ones make expired tokens)."""
        scopes = check_scopes(body.get("scopes", []))
        expires = None
        if body.get("expiresAt") is not None:
            expires = parse_time(body["expiresAt"], "expiresAt")
        allowed = check_addresses(body.get("allowedAddresses", []))
        name = body.get("name") or f"sim-minted-{int(time.time())}"
        if not isinstance(name, str):
            raise bad_request("name must be a string")
        secret, tok = self.auth.create_token(name, scopes, expires, allowed)
        return 201, {"token": secret, "tokenId": tok.token_id}
