"""`revolt dashboard`: the app of `app.py` under uvicorn, refusing to listen beyond loopback without a token."""

import ipaddress

from revolt_pipeline.settings import Settings

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 3030
LOOPBACK_NAMES = {"localhost"}
MIN_TOKEN_CHARS = 16  # guessing is then hopeless even without a limit on login attempts


class DashboardRefused(Exception):
    """The dashboard would serve personal data beyond this machine without a token."""


def is_loopback(host: str) -> bool:
    """True for addresses only this machine reaches: 127.0.0.0/8, ::1 and `localhost`."""
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # another host name: it may resolve to a public address


def check_exposure(host: str, token: str | None) -> None:
    """Refuse a host beyond loopback without a token (analytics data is personal), and a token short enough to
    guess."""
    if token is not None and len(token) < MIN_TOKEN_CHARS:
        raise DashboardRefused(
            f"REVOLT_DASHBOARD_TOKEN is {len(token)} characters long: use at least {MIN_TOKEN_CHARS} random ones "
            "(`python -c 'import secrets; print(secrets.token_urlsafe(32))'`)"
        )
    if not token and not is_loopback(host):
        raise DashboardRefused(
            f"refusing to serve the dashboard on {host} without a token: analytics data is personal. "
            "Set REVOLT_DASHBOARD_TOKEN (say, `python -c 'import secrets; print(secrets.token_urlsafe(32))'`), "
            f"or listen on {DEFAULT_HOST} only."
        )


def serve(settings: Settings, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT) -> None:
    """Serve the dashboard over the report database of `settings` until interrupted."""
    import uvicorn

    from revolt_pipeline.dashboard.app import create_app

    token = settings.dashboard_token
    check_exposure(host, token)
    app = create_app(settings, token=token)
    uvicorn.run(app, host=host, port=port, log_level="info", server_header=False, proxy_headers=False)
