"""kiteconnect 5.2.2 (Zerodha's official Python client, unmodified; only its
`root` and `_default_login_uri` point at broker-sim) against broker-sim's Kite
side: login URL -> simulator approval -> generate_session() -> profile() ->
invalidate_access_token(), and the refusals (expired token after 06:00 IST,
wrong checksum, reused request token, 429).
"""

from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qs, urlparse

import requests
from kiteconnect import KiteConnect
from kiteconnect import exceptions as ex

from sim import Sim, expect

IST = timezone(timedelta(hours=5, minutes=30))


def run(binary, checks):
    with Sim(binary) as sim:
        k = sim.control("GET", "kite/settings")
        api_key, secret = k["api_key"], k["api_secret"]
        expired = []

        def client():
            c = KiteConnect(api_key, root=sim.base, timeout=10)
            c._default_login_uri = f"{sim.base}/connect/login"
            c.set_session_expiry_hook(lambda: expired.append(True))
            return c

        def request_token(c):
            """The 'person' opens the SDK's login URL and logs in."""
            url = c.login_url()
            q = parse_qs(urlparse(url).query)
            expect(q == {"api_key": [api_key], "v": ["3"]}, f"login URL: {url}")
            r = requests.get(url, timeout=10)
            expect(r.status_code == 200 and "html" in r.headers["Content-Type"], f"login page: {r.status_code}")
            redirect = sim.control("POST", "kite/approve")["redirect_url"]
            expect(redirect == sim.control("GET", "kite/redirect")["redirect_url"], "redirect readable")
            q = parse_qs(urlparse(redirect).query)
            expect(redirect.startswith(k["redirect_url"] + "?") and q["status"] == ["success"], redirect)
            return q["request_token"][0]

        state = {}

        def login_profile_logout():
            c = client()
            rt = request_token(c)
            data = c.generate_session(rt, api_secret=secret)
            expect(data["user_id"] == k["user_id"] and data["access_token"], "session answer")
            expect(data["refresh_token"] == "", "individuals get no refresh token")
            expect(isinstance(data["login_time"], datetime), f"login_time parsed: {data['login_time']!r}")
            p = c.profile()
            expect(p["user_id"] == k["user_id"] and "access_token" not in p, f"profile: {p}")
            expect(c.invalidate_access_token() is True, "logout")
            try:
                c.profile()
            except ex.TokenException:
                pass
            else:
                raise AssertionError("profile after logout worked")
            state["rt"] = rt

        checks.run("kite: login_url() -> approval -> generate_session() -> profile() -> "
                   "invalidate_access_token()", login_profile_logout)

        def reused_request_token():
            try:
                client().generate_session(state["rt"], api_secret=secret)
            except ex.TokenException as e:
                expect(e.code == 403, f"code {e.code}")
            else:
                raise AssertionError("a used request_token worked again")

        checks.run("kite: a used request_token is a 403 TokenException", reused_request_token)

        def wrong_checksum():
            c = client()
            try:
                c.generate_session(request_token(c), api_secret="S1m-Wr0ng-Secret-Zq9vKx")
            except ex.TokenException as e:
                expect("checksum" in str(e), str(e))
            else:
                raise AssertionError("a wrong api_secret worked")

        checks.run("kite: a wrong api_secret gives TokenException `Invalid checksum`", wrong_checksum)

        def expired_token():
            c = client()
            c.generate_session(request_token(c), api_secret=secret)
            c.profile()
            now = datetime.fromisoformat(sim.now()).astimezone(IST)
            six = now.replace(hour=6, minute=0, second=0, microsecond=0)
            if six <= now:
                six += timedelta(days=1)
            sim.advance((six - now).total_seconds() + 1)
            expired.clear()
            try:
                c.profile()
            except ex.TokenException as e:
                expect(e.code == 403, f"code {e.code}")
            else:
                raise AssertionError("the token outlived 06:00 IST")
            expect(expired == [True], "session_expiry_hook fired")

        checks.run("kite: after 06:00 IST profile() raises TokenException (expiry hook fires)", expired_token)

        def rate_limited():
            c = client()
            c.generate_session(request_token(c), api_secret=secret)
            sim.fault("kite_profile", {"kind": "rate_limited", "retry_after_secs": 2}, times=1)
            try:
                c.profile()
            except ex.NetworkException as e:
                expect(e.code == 429, f"code {e.code}")
            else:
                raise AssertionError("no 429")
            expect(c.profile()["user_id"] == k["user_id"], "profile after the fault")

        checks.run("kite: 429 surfaces as NetworkException", rate_limited)
