"""Addresses staff open: the dashboard as they reach it, and its one-time sign-in links.

In the core because the chat command (/dangnhap), the CLI (`staff login-link`) and the web app
all build them, and neither the CLI nor the web app may import a handler.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def dashboard_url(settings: Any) -> str:
    """The dashboard's address as staff reach it (behind a proxy: its https sub-path)."""
    extra: Mapping[str, Any] = settings.extra
    configured = extra.get("congdoan_dashboard_url") or (extra.get("http") or {}).get("public_url")
    if configured:
        return str(configured).rstrip("/") + "/"
    return f"http://{settings.http_host}:{settings.http_port}/"


def login_link(settings: Any, token: str) -> str:
    return f"{dashboard_url(settings)}dangnhap/{token}"
