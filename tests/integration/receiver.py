"""A real notification receiver for tests: an HTTP server on a free loopback port
(uvicorn in the test's event loop) that records what it is sent, and can refuse
(answer 500) while ``down`` is set."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Receiver:
    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.received: list[tuple[dict[str, str], dict[str, Any]]] = []
        self.down = False
        self._arrived = asyncio.Event()
        app = Starlette(routes=[Route("/notify", self._notify, methods=["POST"])])
        self._server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port,
                                                     log_level="warning", lifespan="off"))
        self._task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/notify"

    async def _notify(self, request: Request) -> Response:
        if self.down:
            return Response(status_code=500)
        self.received.append((dict(request.headers), orjson.loads(await request.body())))
        self._arrived.set()
        return Response(status_code=200)

    async def start(self) -> Receiver:
        self._task = asyncio.create_task(self._server.serve())
        while not self._server.started:
            await asyncio.sleep(0.01)
        return self

    async def stop(self) -> None:
        self._server.should_exit = True
        if self._task is not None:
            await self._task

    @property
    def bodies(self) -> list[dict[str, Any]]:
        return [b for _, b in self.received]

    async def wait_for(self, n: int, deadline: float = 20.0) -> list[dict[str, Any]]:
        """The first ``n`` notifications, waiting up to ``deadline`` seconds for them
        (the deadline only bounds a hang; tests assert on content, not on time)."""
        loop = asyncio.get_running_loop()
        end = loop.time() + deadline
        while len(self.received) < n and loop.time() < end:
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), max(0.01, end - loop.time()))
            except TimeoutError:
                break
        return self.bodies[:n]
