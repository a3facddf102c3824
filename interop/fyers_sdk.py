"""fyers-apiv3 3.2.0 (the official FYERS SDK, unmodified; only its base URL
`fyersModel.Config.API` points at broker-sim) against broker-sim's FYERS side:
login URL, token exchange, profile, logout, the documented refresh request
(the SDK has no refresh method), and the negative cases (reused auth code,
wrong PIN, after 06:00 IST, after logout, refresh discontinued, 429).
"""

import base64
import hashlib
import json
import tempfile
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qs, urlparse

import requests
from fyers_apiv3 import fyersModel

from sim import Sim, expect

IST = timezone(timedelta(hours=5, minutes=30))


def claims(jwt):
    payload = jwt.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def next_0600_ist(ts):
    local = datetime.fromtimestamp(ts, IST)
    six = local.replace(hour=6, minute=0, second=0, microsecond=0)
    return six if six > local else six + timedelta(days=1)


def run(binary, checks):
    with Sim(binary) as sim:
        fyersModel.Config.API = f"{sim.base}/api/v3"
        creds = sim.credentials()
        client_id = creds["fyers_client_id"]
        secret = creds["fyers_secret_key"]
        pin = creds["fyers_pin"]
        app_id_hash = hashlib.sha256(f"{client_id}:{secret}".encode()).hexdigest()
        logs = tempfile.mkdtemp(prefix="fyers-interop-")

        def session():
            return fyersModel.SessionModel(
                client_id=client_id,
                secret_key=secret,
                redirect_uri=creds["fyers_redirect_uri"],
                response_type="code",
                grant_type="authorization_code",
                state="interop-state",
            )

        def auth_code(s):
            """The 'person' opens the login URL the SDK built."""
            r = requests.get(s.generate_authcode(), allow_redirects=False, timeout=10)
            expect(r.status_code == 302, f"login URL: {r.status_code} {r.text[:200]}")
            q = parse_qs(urlparse(r.headers["Location"]).query)
            expect(q["s"] == ["ok"] and q["state"] == ["interop-state"], f"redirect: {q}")
            return q["auth_code"][0]

        def login():
            s = session()
            s.set_token(auth_code(s))
            resp = s.generate_token()
            expect(resp.get("s") == "ok", f"token exchange: {resp}")
            return s, resp

        def model(access):
            return fyersModel.FyersModel(client_id=client_id, token=access, log_path=logs)

        def refresh(refresh_token, pin_value):
            """The documented refresh request (PROTOCOLS.md; not in the SDK)."""
            r = requests.post(
                f"{fyersModel.Config.API}/validate-refresh-token",
                json={
                    "grant_type": "refresh_token",
                    "appIdHash": app_id_hash,
                    "refresh_token": refresh_token,
                    "pin": pin_value,
                },
                headers={"version": "3"},
                timeout=10,
            )
            return r.status_code, r.json()

        state = {}

        def login_and_profile():
            s, resp = login()
            state["session"], state["tokens"] = s, resp
            p = model(resp["access_token"]).get_profile()
            expect(p.get("s") == "ok" and p["data"]["fy_id"], f"profile: {p}")

        checks.run("fyers: login URL, generate_token(), get_profile()", login_and_profile)

        def expiry_rule():
            c = claims(state["tokens"]["access_token"])
            expect(c["exp"] == int(next_0600_ist(c["iat"]).timestamp()), f"access exp {c}")
            r = claims(state["tokens"]["refresh_token"])
            issued = datetime.fromtimestamp(r["iat"], IST).date()
            end = datetime.fromtimestamp(r["exp"], IST)
            expect((end.date() - issued).days == 15 and (end.hour, end.minute) == (6, 0), f"refresh exp {r}")

        checks.run("fyers: access token exp = next 06:00 IST; refresh token 15 days, 06:00 IST", expiry_rule)

        def reused_auth_code():
            resp = state["session"].generate_token()
            expect(resp.get("s") == "error" and resp.get("code") == -437, f"reuse: {resp}")

        checks.run("fyers: a reused auth code is refused (-437)", reused_auth_code)

        def refresh_works():
            code, body = refresh(state["tokens"]["refresh_token"], pin)
            expect(code == 200 and body["s"] == "ok", f"refresh: {code} {body}")
            p = model(body["access_token"]).get_profile()
            expect(p.get("s") == "ok", f"profile with refreshed token: {p}")

        checks.run("fyers: documented refresh request (refresh token + PIN)", refresh_works)

        def wrong_pin():
            code, body = refresh(state["tokens"]["refresh_token"], "S1m-Wr0ng-P1n-Zq9vKx")
            expect(code == 400 and body["s"] == "error" and body["code"] == -16, f"{code} {body}")
            sim.settings(fyers_wrong_pin={"status": 401, "code": -18, "message": "Invalid PIN"})
            code, body = refresh(state["tokens"]["refresh_token"], "S1m-Wr0ng-P1n-Zq9vKx")
            expect(code == 401 and body["code"] == -18, f"configured: {code} {body}")
            sim.settings(fyers_wrong_pin={"status": 400, "code": -16, "message": "Invalid PIN"})

        checks.run("fyers: wrong PIN refused (-16 by default, configurable)", wrong_pin)

        def after_0600_ist():
            access = state["tokens"]["access_token"]
            exp = claims(access)["exp"]
            now = datetime.fromisoformat(sim.now()).timestamp()
            sim.advance(exp - now + 60)
            p = model(access).get_profile()
            expect(p.get("s") == "error" and p.get("code") == -16, f"after 06:00 IST: {p}")
            sim.settings(fyers_dead_token={"status": 401, "code": -17, "message": "Token is invalid or expired"})
            p = model(access).get_profile()
            expect(p.get("code") == -17, f"-17 mode: {p}")
            code, body = refresh(state["tokens"]["refresh_token"], pin)
            expect(code == 200, f"refresh after 06:00 IST: {code} {body}")
            state["access"] = body["access_token"]

        checks.run("fyers: after 06:00 IST profile is refused (-16, or -17 when set); refresh still works",
                   after_0600_ist)

        def logout():
            m = model(state["access"])
            out = m.logout()
            expect(out.get("s") == "ok", f"logout: {out}")
            p = m.get_profile()
            expect(p.get("s") == "error", f"profile after logout: {p}")

        checks.run("fyers: logout(), then the token is refused", logout)

        def refresh_discontinued():
            sim.settings(fyers_refresh_disabled=True,
                         fyers_refresh_refused={"status": 400, "code": -502,
                                                "message": "Refresh token flow is discontinued"})
            code, body = refresh(state["tokens"]["refresh_token"], pin)
            expect(code == 400 and body["code"] == -502, f"{code} {body}")
            sim.settings(fyers_refresh_disabled=False)

        checks.run("fyers: refresh discontinued answers the configured code and message", refresh_discontinued)

        def rate_limited_and_permission():
            _, resp = login()
            m = model(resp["access_token"])
            sim.fault("fyers_profile", {"kind": "rate_limited", "retry_after_secs": 2}, times=1)
            r = requests.get(f"{fyersModel.Config.API}/profile",
                             headers={"Authorization": f"{client_id}:{resp['access_token']}", "version": "3"},
                             timeout=10)
            expect(r.status_code == 429 and r.headers.get("Retry-After") == "2"
                   and r.headers.get("X-Retry-After-Ms") == "2000", f"429: {r.status_code} {r.headers}")
            sim.fault("fyers_profile", {"kind": "fyers_permission_error"}, times=1)
            p = m.get_profile()
            expect(p.get("s") == "error" and p.get("code") == -373, f"403: {p}")
            expect(m.get_profile().get("s") == "ok", "profile after the faults")

        checks.run("fyers: 429 carries Retry-After and X-Retry-After-Ms; 403 permission error",
                   rate_limited_and_permission)
