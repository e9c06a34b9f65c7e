"""Several real `congdoan-bot run` processes behind a small load balancer, for tests and bench/.

The processes are the production command (webhook mode, PostgreSQL, Redis); only Telegram is
the fake on 127.0.0.1. ``Balancer`` does what nginx does in deploy/nginx/congdoan-bot.conf:
round robin, and a request whose connection is refused goes to the next process (a POST that
reached a process that then died is answered 502, and Telegram retries it later).
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

ROOT = Path(__file__).resolve().parent.parent
WEBHOOK_PATH = "/webhooks/telegram"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def bot_command() -> list[str]:
    """The `congdoan-bot` of the interpreter running the tests (the project's .venv)."""
    script = Path(sys.executable).with_name("congdoan-bot")
    return [str(script)] if script.exists() else [sys.executable, "-m", "bot.cli"]


@dataclass
class BotProcess:
    """One `congdoan-bot run`; ``env`` is the shared part, the port is its own."""

    env: Mapping[str, str]
    log_dir: Path
    name: str
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.starts += 1
        env = {**os.environ, **self.env, "HTTP_HOST": "127.0.0.1", "HTTP_PORT": str(self.port)}
        log = (self.log_dir / f"{self.name}.{self.starts}.log").open("wb")
        self.proc = subprocess.Popen(
            [*bot_command(), "run"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
        )
        log.close()

    async def ready(self, timeout: float = 90) -> None:  # noqa: ASYNC109
        """Wait until /readyz answers 200 (database and Redis checked)."""
        deadline = time.monotonic() + timeout
        async with aiohttp.ClientSession() as http:
            while time.monotonic() < deadline:
                if self.proc is not None and self.proc.poll() is not None:
                    raise RuntimeError(f"{self.name} exited: {self.log_tail()}")
                try:
                    async with http.get(f"{self.url}/readyz") as resp:
                        if resp.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.2)
        raise TimeoutError(f"{self.name} not ready: {self.log_tail()}")

    def kill(self) -> None:
        """SIGKILL: no goodbye, no finishing anything."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def stop(self, timeout: float = 20) -> None:
        """SIGTERM, as systemd stops a unit; SIGKILL if it does not exit in time."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def log_tail(self, chars: int = 3000) -> str:
        logs = sorted(self.log_dir.glob(f"{self.name}.*.log"))
        return logs[-1].read_text("utf-8", "replace")[-chars:] if logs else ""

    def log_text(self) -> str:
        """Everything every start of this process logged."""
        logs = sorted(self.log_dir.glob(f"{self.name}.*.log"))
        return "".join(p.read_text("utf-8", "replace") for p in logs)

    def cpu_seconds(self) -> float:
        """User + system CPU of the process so far (Linux /proc)."""
        if self.proc is None:
            return 0.0
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks = os.sysconf("SC_CLK_TCK")
        return (int(fields[11]) + int(fields[12])) / ticks

    def rss_bytes(self) -> int:
        if self.proc is None:
            return 0
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        return 0


class Balancer:
    """Round robin over the processes' webhook endpoints, like nginx's upstream block."""

    def __init__(self, backends: list[BotProcess]) -> None:
        self.backends = backends
        self.port = free_port()
        self.forwarded: collections.Counter[str] = collections.Counter()
        self._turn = itertools.count()
        self._runner: web.AppRunner | None = None
        self._http: aiohttp.ClientSession | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{WEBHOOK_PATH}"

    async def start(self) -> None:
        app = web.Application(client_max_size=1024 * 1024)
        app.router.add_post(WEBHOOK_PATH, self._forward)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()
        self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))

    async def stop(self) -> None:
        if self._http is not None:
            await self._http.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _forward(self, request: web.Request) -> web.Response:
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower().startswith("x-telegram")}
        headers["Content-Type"] = "application/json"
        assert self._http is not None
        for _ in range(len(self.backends)):
            backend = self.backends[next(self._turn) % len(self.backends)]
            try:
                async with self._http.post(
                    f"{backend.url}{WEBHOOK_PATH}", data=body, headers=headers
                ) as resp:
                    self.forwarded[backend.name] += 1
                    return web.Response(status=resp.status, body=await resp.read())
            except aiohttp.ClientConnectorError:
                continue  # refused: nothing was sent, try the next (proxy_next_upstream error)
            except (aiohttp.ClientError, TimeoutError):
                return web.Response(status=502, text="upstream went away")
        return web.Response(status=502, text="no upstream")


async def deliver_in_order(
    fake: Any,
    updates_by_user: Mapping[int, list[dict[str, Any]]],
    url: str,
    secret: str,
    stats: dict[str, int] | None = None,
    *,
    connections: int = 40,
    retry_delay: float = 0.2,
) -> dict[str, int]:
    """Telegram's side: POST every update to ``url``, at most ``connections`` at once, one
    user's next update only after the previous was acknowledged; non-2xx answers retried.
    ``stats`` (posts, retries, acknowledged) is filled as it goes."""
    gate = asyncio.Semaphore(connections)
    stats = stats if stats is not None else {}
    stats.update(posts=0, retries=0, acknowledged=0)

    async def one_user(updates: list[dict[str, Any]]) -> None:
        for update in updates:
            while True:
                async with gate:
                    stats["posts"] += 1
                    try:
                        status, _ = await fake.deliver_webhook(url, update, secret)
                    except (aiohttp.ClientError, TimeoutError):
                        status = 0
                if 200 <= status < 300:
                    stats["acknowledged"] += 1
                    break
                stats["retries"] += 1
                await asyncio.sleep(retry_delay)

    await asyncio.gather(*(one_user(u) for u in updates_by_user.values()))
    return stats


async def redis_reachable(url: str) -> bool:
    import redis.asyncio as redis

    client = redis.Redis.from_url(url, socket_connect_timeout=1)
    try:
        return bool(await client.ping())
    except (redis.RedisError, OSError):
        return False
    finally:
        await client.aclose()


async def forget_pace(url: str, token: str) -> None:
    """Remove the bot's shared-pace keys (congdoan:pace:<bot id>:*) after a run."""
    import redis.asyncio as redis

    client = redis.Redis.from_url(url)
    keys = [k async for k in client.scan_iter(match=f"congdoan:pace:{token.split(':')[0]}:*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()
