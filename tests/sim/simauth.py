"""simauth.py - the simulator's credentials and how requests prove them.

Holds the three ways in (API tokens, OAuth2 client credentials, service
account login with an HS256 JWT), the scopes each grants, token metadata for
/v1/tokens, and the session revocation behind /_sim/revoke-sessions.
``Auth.authenticate`` turns an Authorization header into a Principal or
raises the contract's 401/403 ApiError.  Thread-safe through its own lock.
"""

import base64
import binascii
import datetime
import hashlib
import hmac
import ipaddress
import json
import secrets
import threading
import time
from dataclasses import dataclass

from simdata import B62, TENANT_ID, TENANT_NAME, TENANT_ORG, make_id, rfc3339
from simconv import parse_time
from simerr import ApiError, bad_request, missing_scope

ALL_SCOPES = (
    "apps:read", "apps:write", "apps:delete", "scans:read", "scans:write",
    "vulns:read", "vulns:write", "reports:read", "teams:read",
    "tokens:read", "tokens:write", "tokens:delete",
)
READ_SCOPES = tuple(s for s in ALL_SCOPES if s.endswith(":read"))

OAUTH_TTL_DEFAULT = 3600
LOGIN_TTL_DEFAULT = 86400
TOKEN_MAX_YEARS = 2
TOKEN_DEFAULT_LIFE = 90 * 86400

INVALID = {"WWW-Authenticate": 'Bearer error="invalid_token"'}


def random_b62(n):
    return "".join(secrets.choice(B62) for _ in range(n))


def b64url(raw):
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def unb64url(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def years_ahead(epoch, years):
    """The same calendar day and time, years later (Feb 29 -> Feb 28)."""
    dt = datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc)
    try:
        return dt.replace(year=dt.year + years).timestamp()
    except ValueError:
        return dt.replace(year=dt.year + years, day=28).timestamp()


def check_scopes(scopes):
    if not isinstance(scopes, list) or not all(isinstance(s, str) for s in scopes):
        raise bad_request("scopes must be a list of strings")
    unknown = [s for s in scopes if s not in ALL_SCOPES]
    if unknown:
        raise bad_request(f"unknown scope {unknown[0]!r}")
    return [s for s in ALL_SCOPES if s in scopes]


def check_addresses(addresses):
    if not isinstance(addresses, list):
        raise bad_request("allowedAddresses must be a list of CIDR strings")
    try:
        return [str(ipaddress.ip_network(a, strict=False)) for a in addresses]
    except (TypeError, ValueError):
        raise bad_request("allowedAddresses must be a list of CIDR strings") from None


@dataclass(slots=True)
class Principal:
    """Who a request comes from: the key for rate limits and idempotency
    (ident), and what /v1/me reports."""
    auth_type: str
    ident: str
    subject: str
    user_id: str
    token_id: str
    scopes: frozenset
    expires: float


@dataclass(slots=True)
class ApiToken:
    token_id: str
    name: str
    user_id: str
    scopes: list
    allowed: list
    created_at: str
    expires: float
    partial: str
    last_used_at: str = None

    def to_json(self):
        return {"tokenId": self.token_id, "name": self.name,
                "userId": self.user_id, "scopes": list(self.scopes),
                "allowedAddresses": list(self.allowed),
                "partialToken": self.partial, "createdAt": self.created_at,
                "expiresAt": rfc3339(self.expires),
                "lastUsedAt": self.last_used_at}


class Auth:
    def __init__(self, seed, token_ttl=None):
        self.seed = seed
        self.oauth_ttl = token_ttl or OAUTH_TTL_DEFAULT
        self.login_ttl = token_ttl or LOGIN_TTL_DEFAULT
        self.lock = threading.Lock()
        self.tokens = {}            # tokenId -> ApiToken, in creation order
        self.by_hash = {}           # sha256(secret) -> tokenId
        self.sessions = {}          # oauth token or JWT jti -> Principal
        self.token_seq = 0
        self.jwt_key = secrets.token_bytes(32)
        self.client_id = "cli_" + random_b62(20)
        self.client_secret = random_b62(40)
        self.login_user = "svc-apisec@acme.example"
        self.sso_user = "jane.doe@acme.example"
        # username -> (password, SSO enforced, userId)
        self.users = {
            self.login_user: (random_b62(24), False, "usr_svc01"),
            self.sso_user: (random_b62(24), True, "usr_jane1"),
        }

    # -- API tokens ---------------------------------------------------------

    def create_token(self, name, scopes, expires=None, allowed=()):
        """Store a new API token; returns (secret, ApiToken)."""
        secret = "ask_" + random_b62(40)
        now = time.time()
        with self.lock:
            self.token_seq += 1
            tok = ApiToken(
                token_id=make_id("tok_", self.token_seq, 3, self.seed, 4),
                name=name, user_id=make_id("usr_tok", self.token_seq, 3, self.seed, 3),
                scopes=list(scopes), allowed=list(allowed),
                created_at=rfc3339(now),
                expires=now + TOKEN_DEFAULT_LIFE if expires is None else expires,
                partial="ask_\u2026" + secret[-4:])
            self.tokens[tok.token_id] = tok
            self.by_hash[hashlib.sha256(secret.encode()).hexdigest()] = tok.token_id
        return secret, tok

    def create_token_request(self, principal, body):
        """POST /v1/tokens: validate against the caller, then create."""
        name = body.get("name")
        if not isinstance(name, str) or not name.strip() or len(name) > 200:
            raise bad_request("name must be a non-empty string of at most 200 characters")
        scopes = check_scopes(body.get("scopes"))
        for s in scopes:
            if s not in principal.scopes:
                raise missing_scope(s)
        expires = None
        if body.get("expiresAt") is not None:
            expires = parse_time(body["expiresAt"], "expiresAt")
            if expires <= time.time():
                raise bad_request("expiresAt is in the past")
            if expires > years_ahead(time.time(), TOKEN_MAX_YEARS):
                raise bad_request("expiresAt is more than 2 years ahead")
        allowed = check_addresses(body.get("allowedAddresses", []))
        secret, tok = self.create_token(name.strip(), scopes, expires, allowed)
        return dict(tok.to_json(), token=secret)

    def list_tokens(self):
        with self.lock:
            return [t.to_json() for t in self.tokens.values()]

    def get_token(self, token_id):
        with self.lock:
            tok = self.tokens.get(token_id)
            return tok.to_json() if tok else None

    def delete_token(self, token_id):
        with self.lock:
            if self.tokens.pop(token_id, None) is None:
                return False
            self.by_hash = {h: t for h, t in self.by_hash.items() if t != token_id}
            return True

    # -- authentication -----------------------------------------------------

    def authenticate(self, header, address):
        """Principal for an Authorization header, or raise the 401/403."""
        if not header:
            raise ApiError(401, "unauthenticated", "missing Authorization header",
                           {"WWW-Authenticate": "Bearer"})
        scheme, _, cred = header.partition(" ")
        cred = cred.strip()
        if scheme.lower() != "bearer" or not cred:
            raise ApiError(401, "invalid_token", "expected 'Bearer <token>'", INVALID)
        if cred.startswith("ask_"):
            return self.api_token_principal(cred, address)
        if cred.count(".") == 2:
            return self.jwt_principal(cred)
        with self.lock:
            principal = self.sessions.get(cred)
        return self.live(principal)

    def live(self, principal):
        if principal is None:
            raise ApiError(401, "invalid_token", "unknown or revoked token", INVALID)
        if principal.expires is not None and principal.expires <= time.time():
            raise ApiError(401, "token_expired", "token has expired", INVALID)
        return principal

    def api_token_principal(self, secret, address):
        digest = hashlib.sha256(secret.encode()).hexdigest()
        with self.lock:
            tok = self.tokens.get(self.by_hash.get(digest))
            if tok is None:
                raise ApiError(401, "invalid_token", "unknown or revoked token", INVALID)
            principal = Principal("api_token", f"token:{tok.token_id}", tok.name,
                                  tok.user_id, tok.token_id, frozenset(tok.scopes),
                                  tok.expires)
            self.live(principal)
            if tok.allowed and not any(ipaddress.ip_address(address) in
                                       ipaddress.ip_network(a) for a in tok.allowed):
                raise ApiError(403, "address_not_allowed",
                               f"token may not be used from address {address}")
            tok.last_used_at = rfc3339(time.time())
        return principal

    def jwt_principal(self, jwt):
        head, body, sig = jwt.split(".")
        want = hmac.new(self.jwt_key, f"{head}.{body}".encode(), hashlib.sha256).digest()
        try:
            valid = hmac.compare_digest(unb64url(sig), want)
            claims = json.loads(unb64url(body)) if valid else None
        except (binascii.Error, ValueError):
            valid = False
        if not valid or not isinstance(claims, dict):
            raise ApiError(401, "invalid_token", "bad token signature", INVALID)
        with self.lock:
            principal = self.sessions.get(claims.get("jti"))
        return self.live(principal)

    # -- sessions: OAuth client credentials and login -------------------------

    def oauth_token(self, form, basic):
        """POST /oauth2/token. basic is (id, secret) from HTTP Basic or None."""
        if form.get("grant_type") != "client_credentials":
            raise bad_request("grant_type must be client_credentials")
        cid, csecret = basic or (form.get("client_id"), form.get("client_secret"))
        if not cid or not csecret:
            raise ApiError(401, "unauthenticated", "client authentication required",
                           {"WWW-Authenticate": 'Basic realm="oauth2"'})
        if not (hmac.compare_digest(cid, self.client_id)
                and hmac.compare_digest(csecret, self.client_secret)):
            raise ApiError(401, "unauthenticated", "invalid client credentials")
        scopes = list(ALL_SCOPES)
        if form.get("scope"):
            asked = form["scope"].split()
            extra = [s for s in asked if s not in ALL_SCOPES]
            if extra:
                raise bad_request(f"scope {extra[0]!r} is not granted to this client")
            scopes = [s for s in ALL_SCOPES if s in asked]
        token = "oat_" + random_b62(43)
        principal = Principal("oauth", f"oauth:{cid}", cid, "usr_oauth1", None,
                              frozenset(scopes), time.time() + self.oauth_ttl)
        with self.lock:
            self.sessions[token] = principal
        return {"access_token": token, "token_type": "Bearer",
                "expires_in": self.oauth_ttl, "scope": " ".join(scopes)}

    def login(self, body):
        """POST /auth/login: a JWT for a password account, 403 for SSO."""
        user, password = body.get("username"), body.get("password")
        if not isinstance(user, str) or not isinstance(password, str):
            raise bad_request("username and password are required")
        entry = self.users.get(user)
        if entry is None or not hmac.compare_digest(entry[0], password):
            raise ApiError(401, "unauthenticated", "invalid username or password")
        if entry[1]:
            raise ApiError(403, "sso_required",
                           "single sign-on is active for this account: use a service account")
        now = int(time.time())
        sub = f"{TENANT_ORG}//{user}"
        claims = {"sub": sub, "tenant": TENANT_ID, "scopes": ",".join(ALL_SCOPES),
                  "iat": now, "exp": now + self.login_ttl, "jti": random_b62(16)}
        head = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
        payload = b64url(json.dumps(claims, separators=(",", ":")).encode())
        sig = hmac.new(self.jwt_key, f"{head}.{payload}".encode(), hashlib.sha256).digest()
        principal = Principal("login", f"login:{user}", sub, entry[2], None,
                              frozenset(ALL_SCOPES), claims["exp"])
        with self.lock:
            self.sessions[claims["jti"]] = principal
        return {"token": f"{head}.{payload}.{b64url(sig)}"}

    def revoke_sessions(self):
        with self.lock:
            n = len(self.sessions)
            self.sessions.clear()
        return n

    @staticmethod
    def me(principal):
        return {"tenantId": TENANT_ID, "tenantName": TENANT_NAME,
                "subject": principal.subject, "userId": principal.user_id,
                "authType": principal.auth_type, "tokenId": principal.token_id,
                "scopes": [s for s in ALL_SCOPES if s in principal.scopes],
                "expiresAt": rfc3339(principal.expires) if principal.expires else None}
