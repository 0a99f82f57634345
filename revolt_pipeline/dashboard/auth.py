"""Who may read the dashboard: with a token set, only a browser that logged in with it or a client that sends it.

Analytics data is personal, so every page and asset is refused without the token. A browser logs in once on
`/login` (the token compared in constant time) and then carries an HttpOnly, SameSite=Strict cookie holding an
HMAC of the token, not the token itself; scripts send `Authorization: Bearer <token>`. Without a token the
server listens on loopback only (`server.py` refuses anything else), where this middleware lets everything pass.
"""

import hashlib
import hmac
import ipaddress
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import quote

COOKIE = "revolt_dashboard"
LOGIN_PATH = "/login"
LOGOUT_PATH = "/logout"
COOKIE_MAX_AGE = 12 * 3600  # a working day: a lost laptop's session ends by the next morning

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def session_value(token: str) -> str:
    """The cookie's value: an HMAC of the token, so a leaked cookie does not reveal the token itself."""
    return hmac.new(token.encode(), b"revolt-dashboard-session", hashlib.sha256).hexdigest()


def token_matches(token: str, given: str) -> bool:
    """`given` is the token, compared in constant time."""
    return hmac.compare_digest(token.encode(), given.encode())


def _cookies(header: str) -> dict[str, str]:
    found = {}
    for part in header.split(";"):
        name, _, value = part.strip().partition("=")
        if name:
            found[name] = value
    return found


def authorized(token: str, headers: dict[str, str]) -> bool:
    """The request carries the token as a bearer token or the session cookie made from it."""
    scheme, _, credentials = headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and credentials and token_matches(token, credentials.strip()):
        return True
    cookie = _cookies(headers.get("cookie", "")).get(COOKIE, "")
    return bool(cookie) and hmac.compare_digest(cookie.encode(), session_value(token).encode())


def is_loopback_host(host: str) -> bool:
    """`host` (a Host header: name or address, maybe a port) names this machine only: 127.0.0.0/8, ::1, localhost."""
    name = host.strip().lower()
    if name.startswith("["):  # [::1]:3030
        name = name[1 : name.find("]")] if "]" in name else name
    elif name.count(":") == 1:
        name = name.split(":")[0]
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


class TokenMiddleware:
    """Refuses every request but the login page's without the token: a browser asking for a page is sent to
    `/login?next=...`, anything else gets 401.

    Without a token (loopback only), it answers only requests addressed to a loopback name: a web page whose own
    domain an attacker re-points at 127.0.0.1 (DNS rebinding) would otherwise read the dashboard from a visitor's
    browser."""

    def __init__(self, app: ASGIApp, token: str | None) -> None:
        self.app = app
        self.token = token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in scope["headers"]}
        if not self.token:
            if is_loopback_host(headers.get("host", "")):
                await self.app(scope, receive, send)
            else:
                body = b"without a token the dashboard answers only to 127.0.0.1, ::1 and localhost\n"
                await _respond(send, 421, body, [(b"content-type", b"text/plain")])
            return
        if scope["path"] in (LOGIN_PATH, LOGOUT_PATH):
            await self.app(scope, receive, send)
            return
        if authorized(self.token, headers):
            await self.app(scope, receive, send)
            return
        wants_page = scope["method"] == "GET" and "text/html" in headers.get("accept", "")
        if wants_page:
            target = scope["path"] + (f"?{scope['query_string'].decode('latin-1')}" if scope["query_string"] else "")
            location = f"{LOGIN_PATH}?next={quote(target, safe='')}"
            await _respond(send, 303, b"", [(b"location", location.encode("latin-1"))])
        else:
            await _respond(
                send,
                401,
                b"the dashboard needs its token: log in on /login or send Authorization: Bearer <token>\n",
                [(b"www-authenticate", b'Bearer realm="revolt dashboard"'), (b"content-type", b"text/plain")],
            )


async def _respond(send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [*headers, (b"content-length", str(len(body)).encode()), (b"cache-control", b"no-store")],
        }
    )
    await send({"type": "http.response.body", "body": body})


def safe_next(target: str) -> str:
    """Where to go after logging in: a path of this dashboard only, never another site (`//evil`, `https:`)."""
    if not target.startswith("/") or target.startswith("//") or "\\" in target or target.startswith(LOGIN_PATH):
        return "/"
    return target
