"""`canlian serve` behind the HTTPS reverse proxy: waitress passes on the scheme and the client's address that
the proxy on this machine sends, and drops them from anyone else.

Without it, production (``SECURE_SSL_REDIRECT``) answered every request the proxy forwarded with a redirect to
the same https address, and the audit log recorded 127.0.0.1 for every user."""

from __future__ import annotations

import contextlib
import http.client
import threading

from django.core.wsgi import get_wsgi_application
from django.test import override_settings
from waitress import create_server

from canlian.serve import WAITRESS_OPTIONS


@contextlib.contextmanager
def running(app):
    options = {k: v for k, v in WAITRESS_OPTIONS.items() if k != "threads"}
    srv = create_server(app, host="127.0.0.1", port=0, threads=2, **options)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    try:
        yield srv.effective_port
    finally:
        srv.close()
        thread.join(timeout=5)


def _get(port: int, path: str, *, source: str = "127.0.0.1", headers: dict | None = None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10, source_address=(source, 0))
    conn.request("GET", path, headers={"Host": "127.0.0.1", **(headers or {})})
    resp = conn.getresponse()
    body = resp.read().decode()
    conn.close()
    return resp, body


PROXY = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "10.20.30.40"}


def test_the_local_proxy_is_trusted_for_scheme_only_others_are_redirected():
    with (
        override_settings(
            SECURE_SSL_REDIRECT=True,
            SECURE_PROXY_SSL_HEADER=("HTTP_X_FORWARDED_PROTO", "https"),
            ALLOWED_HOSTS=["127.0.0.1"],
        ),
        running(get_wsgi_application()) as port,  # the middleware reads the settings when it is made
    ):
        resp, body = _get(port, "/accounts/login/", headers=PROXY)
        assert resp.status == 200
        assert 'name="username"' in body

        resp, _ = _get(port, "/accounts/login/")  # plain http, no proxy: sent to https
        assert resp.status == 301
        assert resp.getheader("Location") == "https://127.0.0.1/accounts/login/"

        # another peer (127.0.0.2 is loopback too, but not the trusted proxy) cannot claim https
        resp, _ = _get(port, "/accounts/login/", source="127.0.0.2", headers=PROXY)
        assert resp.status == 301


def test_the_client_address_comes_from_the_proxy_and_from_nobody_else():
    seen = {}

    def app(environ, start_response):
        seen.update(
            addr=environ["REMOTE_ADDR"],
            scheme=environ["wsgi.url_scheme"],
            proto=environ.get("HTTP_X_FORWARDED_PROTO"),
        )
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    with running(app) as port:
        _get(port, "/", headers={**PROXY, "X-Forwarded-For": "1.2.3.4, 10.20.30.40"})
        # the last hop (what nginx's $proxy_add_x_forwarded_for appended): not what the client claimed
        assert seen == {"addr": "10.20.30.40", "scheme": "https", "proto": "https"}
        _get(port, "/", source="127.0.0.2", headers=PROXY)
        assert seen == {"addr": "127.0.0.2", "scheme": "http", "proto": None}
