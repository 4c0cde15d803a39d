#!/usr/bin/python3
"""platform_sim.py - a simulator of the API-security platform apisecfs mounts.

Serves the contract in shared/platform-api.md on one port with seeded data,
ready credentials for every auth way, scans that run in real time, and
fault / stats knobs under /_sim.  See tests/sim/README.md.

    platform_sim.py --port 0 [--host 127.0.0.1] [--apps N] [--vulns M]
        [--seed S] [--scan-seconds X] [--latency-ms L] [--rate-limit N]
        [--rate-window S] [--token-ttl SECONDS] [--tls] [--lean]
        --write-credentials PATH

The first line on stdout is "listening on http(s)://HOST:PORT".
"""

import argparse
import json
import os
import signal
import ssl
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from simadmin import Admin, Faults, Stats          # noqa: E402
from simapi import Api                              # noqa: E402
from simauth import ALL_SCOPES, READ_SCOPES, Auth   # noqa: E402
from simconv import Idempotency, RateLimiter        # noqa: E402
from simserver import SimServer                     # noqa: E402
from simstore import Store                          # noqa: E402

CRED_TOKEN_LIFE = 365 * 86400
CI_SCOPES = ("apps:read", "scans:read", "scans:write", "vulns:read", "reports:read")


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--port", type=int, default=0, help="0 picks a free port")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--apps", type=int, default=10)
    p.add_argument("--vulns", type=int, default=200)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--scan-seconds", type=float, default=3.0)
    p.add_argument("--latency-ms", type=float, default=0.0)
    p.add_argument("--rate-limit", type=int, default=0,
                   help="requests per window per credential; 0 = off")
    p.add_argument("--rate-window", type=float, default=60.0,
                   help="seconds of a rate-limit window (default 60)")
    p.add_argument("--token-ttl", type=int, default=None,
                   help="OAuth and login token lifetime (default 3600 / 86400)")
    p.add_argument("--tls", action="store_true")
    p.add_argument("--lean", action="store_true",
                   help="findings with one-line texts (~700 bytes instead of ~1.1 KB)")
    p.add_argument("--write-credentials", required=True, metavar="PATH")
    args = p.parse_args(argv)
    if args.apps < 1 or args.vulns < 0 or args.scan_seconds < 0 \
            or args.latency_ms < 0 or args.rate_limit < 0 \
            or args.rate_window <= 0 \
            or (args.token_ttl is not None and args.token_ttl < 1):
        p.error("--apps must be >= 1; counts, times and limits must not be negative")
    return args


def make_tls(host, cert_path):
    """A self-signed certificate for host (and 127.0.0.1 / localhost)
    written to cert_path; the key lives only in a temporary directory."""
    san = "IP:127.0.0.1,DNS:localhost"
    if host not in ("127.0.0.1", "localhost", "0.0.0.0"):
        san += f",{'IP' if host.replace('.', '').isdigit() else 'DNS'}:{host}"
    with tempfile.TemporaryDirectory() as tmp:
        key = os.path.join(tmp, "key.pem")
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
             "ec_paramgen_curve:prime256v1", "-nodes", "-days", "30",
             "-subj", f"/CN={host}", "-addext", f"subjectAltName={san}",
             "-keyout", key, "-out", cert_path],
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert_path, key)
    return ctx


def make_credentials(auth):
    """Create the ready tokens and return the credential file's content."""
    life = time.time() + CRED_TOKEN_LIFE
    no_vulns = [s for s in READ_SCOPES if s != "vulns:read"]
    specs = {
        "admin_token": ("Admin token", ALL_SCOPES, life, ()),
        "readonly_token": ("Read-only auditor", READ_SCOPES, life, ()),
        "expired_token": ("Expired token", ALL_SCOPES, time.time() - 86400, ()),
        "restricted_token": ("Office network only (10.0.0.0/8)", ALL_SCOPES, life,
                             ("10.0.0.0/8",)),
        "noscope_token": ("No scopes", (), life, ()),
        "no_vulns_token": ("Everything but vulns", no_vulns, life, ()),
        "ci_token": ("CI/CD pipeline", CI_SCOPES, life, ()),
    }
    creds = {}
    for key, (name, scopes, expires, allowed) in specs.items():
        creds[key] = auth.create_token(name, scopes, expires, allowed)[0]
    creds.update(oauth_client_id=auth.client_id, oauth_client_secret=auth.client_secret,
                 login_username=auth.login_user,
                 login_password=auth.users[auth.login_user][0],
                 sso_username=auth.sso_user, sso_password=auth.users[auth.sso_user][0])
    return creds


def write_private(path, text):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)


def main(argv=None):
    args = parse_args(argv)
    store = Store(args.seed, args.apps, args.vulns, args.scan_seconds, args.lean)
    auth = Auth(args.seed, args.token_ttl)
    creds = make_credentials(auth)
    ca_file, ssl_ctx = None, None
    if args.tls:
        ca_file = os.path.abspath(args.write_credentials) + ".ca.pem"
        ssl_ctx = make_tls(args.host, ca_file)
    admin = Admin(auth, Faults(args.seed), Stats(), store)
    server = SimServer((args.host, args.port), Api(store, auth), admin,
                       RateLimiter(args.rate_limit, args.rate_window), Idempotency(),
                       args.latency_ms, ssl_ctx)
    url = f"{'https' if args.tls else 'http'}://{args.host}:{server.server_address[1]}"
    creds.update(ca_file=ca_file, url=url)
    write_private(args.write_credentials, json.dumps(creds, indent=2) + "\n")

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    worker = threading.Thread(target=server.serve_forever, daemon=True)
    worker.start()
    print(f"listening on {url}", flush=True)
    while not stop.wait(1):
        pass
    admin.faults.stop()
    server.shutdown()
    server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
