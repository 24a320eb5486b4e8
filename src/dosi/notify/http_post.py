"""A small HTTP/1.1 POST client for notifications, on asyncio streams.

Notifications are many small POSTs to few receivers. A general client (httpx) spends
most of the delivery CPU on its connection pool's bookkeeping; this one keeps idle
keep-alive connections per origin in a list and does only what a notification needs:
POST a body, read the status, the headers and the body (Content-Length, chunked, or
until the connection closes). http and https; no redirects (a 3xx is a failure, as
before), no proxies.
"""

from __future__ import annotations

import asyncio
import base64
import ssl
from urllib.parse import unquote, urlsplit

_Conn = tuple[asyncio.StreamReader, asyncio.StreamWriter]
_MAX_HEADER = 64 * 1024
MAX_ANSWER_BODY = 1 << 20
"""A receiver's answer body is read (and dropped) up to this size; a longer one is not read:
the status is taken and the connection closed, so a receiver cannot make the hub buffer it."""


class PostError(Exception):
    """The exchange failed before a complete answer arrived."""


class HttpPoster:
    def __init__(self, timeout: float, connect_timeout: float = 5.0,
                 max_idle: int = 8) -> None:
        self.timeout = timeout
        self.connect_timeout = min(timeout, connect_timeout)
        self.max_idle = max_idle
        self._idle: dict[tuple[str, str, int], list[_Conn]] = {}
        self._ssl: ssl.SSLContext | None = None

    async def post(self, uri: str, body: bytes, headers: dict[str, str]) -> int:
        """POST ``body``; the answer's status code."""
        parts = urlsplit(uri)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise PostError(f"not an http(s) URL: {uri}")
        tls = parts.scheme == "https"
        try:
            port = parts.port or (443 if tls else 80)
        except ValueError as exc:
            raise PostError(str(exc)) from exc
        key = (parts.scheme, parts.hostname, port)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        host = parts.netloc.rsplit("@", 1)[-1]
        head = [f"POST {path} HTTP/1.1", f"Host: {host}", f"Content-Length: {len(body)}"]
        if parts.username is not None and not any(k.lower() == "authorization" for k in headers):
            # credentials in the endpoint URI (http://user:pass@host/...) as HTTP Basic auth
            creds = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
            head.append("Authorization: Basic " + base64.b64encode(creds.encode()).decode())
        head += [f"{k}: {v}" for k, v in headers.items()
                 if "\r" not in k + v and "\n" not in k + v]
        request = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1", "replace") + body
        idle = self._idle.setdefault(key, [])
        while idle:  # a kept connection the receiver may have closed meanwhile
            conn = idle.pop()
            if conn[0].at_eof() or conn[1].is_closing():
                conn[1].close()
                continue
            try:
                return await asyncio.wait_for(self._exchange(key, conn, request), self.timeout)
            except _Stale:
                continue
            except (TimeoutError, OSError, asyncio.IncompleteReadError) as exc:
                raise PostError(f"{type(exc).__name__}: {exc}") from exc
        try:
            conn = await asyncio.wait_for(self._connect(parts.hostname, port, tls),
                                          self.connect_timeout)
            return await asyncio.wait_for(self._exchange(key, conn, request, fresh=True),
                                          self.timeout)
        except (TimeoutError, OSError, asyncio.IncompleteReadError, _Stale) as exc:
            raise PostError(f"{type(exc).__name__}: {exc}") from exc

    async def _connect(self, host: str, port: int, tls: bool) -> _Conn:
        if tls and self._ssl is None:
            self._ssl = ssl.create_default_context()
        return await asyncio.open_connection(host, port, ssl=self._ssl if tls else None,
                                             limit=_MAX_HEADER)

    async def _exchange(self, key: tuple[str, str, int], conn: _Conn, request: bytes,
                        fresh: bool = False) -> int:
        reader, writer = conn
        keep = False
        try:
            try:
                writer.write(request)
                await writer.drain()
                status_line = await reader.readline()
            except ConnectionError:
                if fresh:
                    raise
                raise _Stale() from None  # reset while idle: try a new connection
            if not status_line:
                if fresh:
                    raise asyncio.IncompleteReadError(b"", None)
                raise _Stale()
            parts = status_line.split(None, 2)
            if len(parts) < 2 or not parts[0].startswith(b"HTTP/1."):
                raise PostError(f"not an HTTP answer: {status_line[:80]!r}")
            status = int(parts[1])
            length, chunked, close = None, False, parts[0] == b"HTTP/1.0"
            size = 0
            while True:
                line = await reader.readline()
                size += len(line)
                if size > _MAX_HEADER:
                    raise PostError("answer headers too large")
                if line in (b"\r\n", b"\n", b""):
                    break
                name, _, value = line.partition(b":")
                name, value = name.strip().lower(), value.strip().lower()
                if name == b"content-length":
                    length = int(value)
                elif name == b"transfer-encoding" and b"chunked" in value:
                    chunked = True
                elif name == b"connection":
                    close = value == b"close" or (close and value != b"keep-alive")
            if status in (204, 304) or 100 <= status < 200:
                pass
            elif chunked:
                total = 0
                while True:
                    n = int((await reader.readline()).split(b";")[0].strip() or b"0", 16)
                    total += n
                    if total > MAX_ANSWER_BODY:  # the body is not needed: stop and close
                        close = True
                        break
                    if n == 0:
                        while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                            pass
                        break
                    await reader.readexactly(n + 2)
            elif length is not None:
                if length > MAX_ANSWER_BODY:
                    close = True
                else:
                    await reader.readexactly(length)
            else:
                await reader.read(MAX_ANSWER_BODY)
                close = True
            keep = not close
            return status
        except ValueError as exc:
            raise PostError(f"malformed answer: {exc}") from exc
        finally:
            idle = self._idle.setdefault(key, [])
            if keep and len(idle) < self.max_idle:
                idle.append(conn)
            else:
                writer.close()

    async def close(self) -> None:
        for conns in self._idle.values():
            for _, writer in conns:
                writer.close()
        self._idle.clear()


class _Stale(Exception):
    """A kept-alive connection closed by the receiver before answering: use a new one."""
