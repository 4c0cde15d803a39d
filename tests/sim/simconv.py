"""simconv.py - the contract's cross-cutting conventions (section 3).

Pagination (limit / opaque nextToken bound to the query), strong ETags and
If-None-Match matching, the per-credential fixed-window rate limiter, the
Idempotency-Key replay cache, and timestamp parsing for query and body
fields.  Each piece is independent of routes and data.
"""

import base64
import binascii
import datetime
import hashlib
import json
import math
import threading
import time

from simerr import ApiError, bad_request

DEFAULT_LIMIT = 50
MAX_LIMIT = 500
RATE_WINDOW = 60          # seconds: the contract's "requests per minute"
IDEMPOTENCY_TTL = 86400   # a repeat "within 24 h" replays


def parse_time(text, what):
    """RFC 3339 (or a bare date) to epoch seconds; naive means UTC."""
    if not isinstance(text, str):
        raise bad_request(f"{what} must be an RFC 3339 timestamp")
    try:
        dt = datetime.datetime.fromisoformat(text)
    except ValueError:
        raise bad_request(f"{what} is not an RFC 3339 timestamp: {text!r}") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=datetime.timezone.utc)
    return dt.timestamp()


# -- pagination ---------------------------------------------------------------

def query_fingerprint(path, query):
    """Binds a nextToken to the list and filters it was issued for."""
    keep = sorted((k, v) for k, v in query.items() if k not in ("limit", "nextToken"))
    return hashlib.sha256(json.dumps([path, keep]).encode()).hexdigest()[:12]


def paginate(seq, path, query):
    """The page of seq the query asks for, and the nextToken after it."""
    raw = query.get("limit")
    if raw is None:
        limit = DEFAULT_LIMIT
    elif not raw.isdigit() or int(raw) < 1:
        raise bad_request(f"limit must be a positive integer, got {raw!r}")
    else:
        limit = min(int(raw), MAX_LIMIT)
    fp = query_fingerprint(path, query)
    start = 0
    if query.get("nextToken"):
        start = decode_token(query["nextToken"], fp)
    end = start + limit
    token = encode_token(end, fp) if end < len(seq) else None
    return seq[start:end], token


def encode_token(offset, fp):
    raw = json.dumps({"o": offset, "f": fp}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def decode_token(token, fp):
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        data = json.loads(raw)
        offset = data["o"]
        ok = data["f"] == fp and isinstance(offset, int) and offset >= 0
    except (binascii.Error, ValueError, TypeError, KeyError):
        ok = False
    if not ok:
        raise bad_request("nextToken is invalid or belongs to another query")
    return offset


# -- conditional GET ----------------------------------------------------------

def etag(body):
    return '"' + hashlib.blake2b(body, digest_size=16).hexdigest() + '"'


def etag_matches(if_none_match, tag):
    if not if_none_match:
        return False
    for cand in if_none_match.split(","):
        cand = cand.strip()
        if cand == "*" or cand.removeprefix("W/") == tag:
            return True
    return False


# -- rate limit ---------------------------------------------------------------

class RateLimiter:
    """Fixed windows (60 s, the contract's minute, unless a test asks for
    shorter) per credential key; limit 0 turns it off (and then no
    X-RateLimit-* headers are sent)."""

    def __init__(self, limit, window=RATE_WINDOW):
        self.limit = limit
        self.window = window
        self.lock = threading.Lock()
        self.windows = {}   # key -> [window start, requests in it]

    def hit(self, key):
        """Count one request; returns the headers to send, or raises 429."""
        if not self.limit:
            return {}
        now = time.monotonic()
        with self.lock:
            win = self.windows.get(key)
            if win is None or now - win[0] >= self.window:
                win = self.windows[key] = [now, 0]
            win[1] += 1
            count = win[1]
            reset = max(1, math.ceil(win[0] + self.window - now))
        headers = {"X-RateLimit-Limit": str(self.limit),
                   "X-RateLimit-Remaining": str(max(0, self.limit - count)),
                   "X-RateLimit-Reset": str(reset)}
        if count > self.limit:
            raise ApiError(429, "rate_limited",
                           f"rate limit of {self.limit} requests per {self.window:g} s exceeded",
                           dict(headers, **{"Retry-After": str(reset)}))
        return headers


# -- idempotency --------------------------------------------------------------

class Idempotency:
    """First reply per (credential, Idempotency-Key), replayed on repeats.

    action() must return the reply, errors included, so that a failed
    first attempt is replayed as it was.  The lock is held while the first
    request runs so that a concurrent repeat waits for it instead of acting
    twice; POST handlers never sleep.
    """

    def __init__(self):
        self.lock = threading.Lock()
        self.done = {}   # (ident, key) -> (time, reply)

    def run(self, ident, key, action):
        with self.lock:
            hit = self.done.get((ident, key))
            if hit and time.monotonic() - hit[0] < IDEMPOTENCY_TTL:
                return hit[1]
            reply = action()
            self.done[(ident, key)] = (time.monotonic(), reply)
            return reply
