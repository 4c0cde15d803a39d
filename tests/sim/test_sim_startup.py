"""Start-up: command line, TLS, determinism, hostile names at any size, and
start-up / page timing at 100,000 vulnerabilities."""

import json
import ssl
import subprocess
import time
import urllib.error
import urllib.request

import pytest

from simctl import PYTHON, SIM, Sim


def dump(sim):
    """Everything seeded, as the API shows it (tokens excluded: their
    secrets are random by design)."""
    tok = sim.creds["admin_token"]
    out = {}
    for path in ("/v1/applications", "/v1/scans", "/v1/vulnerabilities", "/v1/teams"):
        st, _, data = sim.request("GET", path + "?limit=500", token=tok)
        assert st == 200 and data["nextToken"] is None
        out[path] = data["items"]
    app = out["/v1/applications"][0]
    inst = app["instances"][0]["instanceId"]
    out["spec"] = sim.request("GET", f"/v1/applications/{app['applicationId']}/instances/"
                              f"{inst}/spec", token=tok)[2]
    return out


def test_same_seed_same_data():
    with Sim(apps=12, vulns=300, seed=7) as a, Sim(apps=12, vulns=300, seed=7) as b, \
            Sim(apps=12, vulns=300, seed=8) as c:
        da, db, dc = dump(a), dump(b), dump(c)
    assert da == db
    assert da["/v1/vulnerabilities"] != dc["/v1/vulnerabilities"]
    assert da["/v1/applications"][0]["applicationName"] == "payments-api"


@pytest.mark.parametrize("apps,names", [
    (1, ["payments-api"]),
    (3, ["payments-api", "a/b", "a_b"]),
])
def test_hostile_names_fit_small_sizes(apps, names):
    with Sim(apps=apps, vulns=20) as s:
        items = s.request("GET", "/v1/applications", token=s.creds["admin_token"])[2]["items"]
        assert [a["applicationName"] for a in items] == names


def test_unique_names_at_scale():
    with Sim(apps=300, vulns=10) as s:
        tok = s.creds["admin_token"]
        items = s.request("GET", "/v1/applications?limit=500", token=tok)[2]["items"]
        names = [a["applicationName"] for a in items]
        assert len(names) == 300 == len(set(names))


def test_tls():
    with Sim(apps=2, vulns=10, tls=True) as s:
        assert s.url.startswith("https://127.0.0.1:")
        ca = s.creds["ca_file"]
        with open(ca) as f:
            assert "BEGIN CERTIFICATE" in f.read()
        st, _, me = s.request("GET", "/v1/me", token=s.creds["admin_token"])
        assert st == 200 and me["authType"] == "api_token"
        ctx = ssl.create_default_context(cafile=ca)
        req = urllib.request.Request(s.url + "/v1/me", headers={
            "Authorization": f"Bearer {s.creds['admin_token']}"})
        with urllib.request.urlopen(req, context=ctx, timeout=10) as resp:
            assert json.loads(resp.read())["authType"] == "api_token"
        with pytest.raises(urllib.error.URLError):
            urllib.request.urlopen(s.url + "/v1/me", timeout=10,
                                   context=ssl.create_default_context())


def test_command_line_and_sigterm(tmp_path):
    creds = tmp_path / "c.json"
    proc = subprocess.Popen([PYTHON, SIM, "--port", "0", "--apps", "2", "--vulns", "5",
                             "--write-credentials", str(creds)],
                            stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert line.startswith("listening on http://127.0.0.1:")
        assert json.loads(creds.read_text())["url"] == line.split()[-1]
        assert creds.stat().st_mode & 0o777 == 0o600
    finally:
        proc.terminate()
        assert proc.wait(10) == 0
        proc.stdout.close()


@pytest.mark.parametrize("args", [["--apps", "0"], ["--vulns", "-1"], []])
def test_bad_command_line(tmp_path, args):
    extra = [] if not args else ["--write-credentials", str(tmp_path / "c.json")]
    res = subprocess.run([PYTHON, SIM, "--port", "0"] + args + extra,
                         capture_output=True, text=True, timeout=10)
    assert res.returncode == 2 and res.stderr


def test_startup_and_page_time_at_100k():
    t0 = time.monotonic()
    with Sim(apps=50, vulns=100_000) as big:
        started = time.monotonic() - t0
        print(f"\nstart-up with 100,000 vulnerabilities: {started:.2f} s")
        assert started < 20
        tok = big.creds["admin_token"]
        conn = big.connection()
        auth = {"Authorization": f"Bearer {tok}"}
        times = []
        try:
            for _ in range(5):
                t = time.monotonic()
                conn.request("GET", "/v1/vulnerabilities?limit=500", headers=auth)
                resp = conn.getresponse()
                body = resp.read()
                times.append(time.monotonic() - t)
                assert resp.status == 200 and len(json.loads(body)["items"]) == 500
        finally:
            conn.close()
        print(f"500-item page: first {times[0] * 1000:.1f} ms, "
              f"then best {min(times[1:]) * 1000:.1f} ms")
        assert min(times[1:]) < 0.05
        last = big.request("GET", "/v1/vulnerabilities/vuln_100000", token=tok)
        assert last[0] == 200 and last[2]["vulnerabilityId"] == "vuln_100000"
