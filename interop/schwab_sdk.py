"""schwab-py 1.5.1 (unmodified) against broker-sim's Schwab side.

Pointed at the simulator only where PROTOCOLS.md says ("Pointing official
clients at broker-sim"): `schwab.auth.TOKEN_ENDPOINT` for the OAuth calls,
and a transport that rewrites the hard-coded `https://api.schwabapi.com`
host to the simulator for API calls. Checks: the authorize URL schwab-py
builds is accepted, `client_from_received_url` exchanges the `%40` code and
writes the token file, `client_from_token_file` refreshes an expired token
(keeping `creation_timestamp`) and calls accountNumbers, a reused code is
refused, and a login elsewhere makes the next refresh fail.
"""

import json
import os
import tempfile
import time
from urllib.parse import parse_qs, urlparse

import httpx
import requests
import schwab

from sim import Sim, expect


class RewriteTransport(httpx.BaseTransport):
    """Sends requests for api.schwabapi.com to the simulator instead."""

    def __init__(self, inner, base):
        self.inner = inner
        u = urlparse(base)
        self.host, self.port = u.hostname, u.port
        self.rewritten = 0

    def handle_request(self, request):
        if request.url.host == "api.schwabapi.com":
            request.url = request.url.copy_with(scheme="http", host=self.host, port=self.port)
            request.headers["host"] = f"{self.host}:{self.port}"
            self.rewritten += 1
        return self.inner.handle_request(request)


def run(binary, checks):
    with Sim(binary) as sim:
        app = sim.control("GET", "schwab/settings")
        key, secret, callback = app["app_key"], app["app_secret"], app["callback_url"]
        schwab.auth.TOKEN_ENDPOINT = f"{sim.base}/v1/oauth/token"
        tmp = tempfile.mkdtemp(prefix="schwab-interop-")
        token_path = os.path.join(tmp, "token.json")
        state = {}

        def write_token(token, *args, **kwargs):
            with open(token_path, "w") as f:
                json.dump(token, f)

        def approve(authorize_url):
            return sim.control("POST", "schwab/approve", {"authorize_url": authorize_url})[
                "redirect_url"
            ]

        def counters():
            return sim.counters()

        def login():
            ctx = schwab.auth.get_auth_context(key, callback)
            q = parse_qs(urlparse(ctx.authorization_url).query)
            expect(q["response_type"] == ["code"], f"authorize URL: {q}")
            expect(q["client_id"] == [key] and q["redirect_uri"] == [callback], f"{q}")
            # The page the person would open, on the simulator's host.
            page = requests.get(
                f"{sim.base}/v1/oauth/authorize?{urlparse(ctx.authorization_url).query}",
                timeout=10,
            )
            expect(page.status_code == 200, f"authorize page: {page.status_code}")
            received = approve(ctx.authorization_url)
            expect("%40&session=" in received, f"code not sent as %40: {received}")
            expect(parse_qs(urlparse(received).query)["state"] == [ctx.state], "state echoed")
            state["ctx"], state["received"] = ctx, received
            return schwab.auth.client_from_received_url(key, secret, ctx, received, write_token)

        def exchange():
            client = login()
            with open(token_path) as f:
                saved = json.load(f)
            token = saved["token"]
            expect(token["access_token"].endswith("@"), "access token ends in @")
            expect(token["refresh_token"].endswith("@"), "refresh token ends in @")
            expect(token["expires_in"] == 1800, f"expires_in {token['expires_in']}")
            state["created"] = saved["creation_timestamp"]
            state["client"] = client

        def reused_code():
            try:
                schwab.auth.client_from_received_url(
                    key, secret, state["ctx"], state["received"], lambda *a, **k: None
                )
            except Exception as e:  # authlib's OAuthError
                expect("invalid_grant" in str(e), f"reused code: {e}")
            else:
                raise AssertionError("a reused code was accepted")

        def refresh_from_token_file():
            with open(token_path) as f:
                saved = json.load(f)
            old_access = saved["token"]["access_token"]
            # 31 minutes later: the access token is dead on both sides.
            sim.advance(31 * 60)
            saved["token"]["expires_at"] = int(time.time()) - 60
            with open(token_path, "w") as f:
                json.dump(saved, f)
            before = counters()["schwab_token"]
            client = schwab.auth.client_from_token_file(token_path, key, secret)
            rewrite = RewriteTransport(client.session._transport, sim.base)
            client.session._transport = rewrite
            r = client.get_account_numbers()
            expect(r.status_code == 200, f"accountNumbers: {r.status_code} {r.text[:200]}")
            expect("hashValue" in r.json()[0], "accountNumbers body")
            expect(rewrite.rewritten == 1, f"rewritten {rewrite.rewritten}")
            expect(counters()["schwab_token"] == before + 1, "one refresh")
            with open(token_path) as f:
                now = json.load(f)
            expect(now["token"]["access_token"] != old_access, "new access token saved")
            expect(now["creation_timestamp"] == state["created"], "creation_timestamp kept")

        def login_elsewhere_revokes():
            # Another program logs in; our refresh token is revoked.
            login()
            other = json.load(open(token_path))
            sim.advance(31 * 60)
            other_path = os.path.join(tmp, "first.json")
            first = dict(other)
            first["token"] = dict(first["token"])
            first["token"]["refresh_token"] = state["first_refresh"]
            first["token"]["expires_at"] = int(time.time()) - 60
            with open(other_path, "w") as f:
                json.dump(first, f)
            client = schwab.auth.client_from_token_file(other_path, key, secret)
            client.session._transport = RewriteTransport(client.session._transport, sim.base)
            try:
                client.get_account_numbers()
            except Exception as e:
                expect("unsupported_token_type" in str(e), f"refresh after login elsewhere: {e}")
            else:
                raise AssertionError("a revoked refresh token still refreshed")

        checks.run("schwab-py: client_from_received_url exchanges the %40 code", exchange)
        checks.run("schwab-py: a reused code is refused (invalid_grant)", reused_code)
        checks.run(
            "schwab-py: client_from_token_file refreshes and calls accountNumbers",
            refresh_from_token_file,
        )
        state["first_refresh"] = json.load(open(token_path))["token"]["refresh_token"]
        checks.run(
            "schwab-py: a login elsewhere revokes the refresh token", login_elsewhere_revokes
        )
