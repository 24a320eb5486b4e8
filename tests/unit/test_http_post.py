"""The notification POST client against raw loopback servers: answer framings,
keep-alive reuse, a kept connection the receiver closed, refusals."""

from __future__ import annotations

import asyncio

import pytest

from dosi.notify.http_post import HttpPoster, PostError


async def serve(answers: list[bytes], close_after: bool = False):
    """A server answering each request on a connection with the next answer."""
    got: list[bytes] = []
    connections = 0

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        while answers:
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
            got.append(await reader.readexactly(length))
            writer.write(answers.pop(0))
            await writer.drain()
            if close_after:
                break
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, f"http://127.0.0.1:{port}/n", got, lambda: connections


async def test_framings_and_keep_alive():
    server, url, got, conns = await serve([
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
        b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
        b"HTTP/1.1 500 Oops\r\nContent-Length: 0\r\n\r\n",
    ])
    p = HttpPoster(5.0)
    assert await p.post(url, b'{"a":1}', {"Content-Type": "application/json"}) == 200
    assert await p.post(url, b"[2]", {}) == 201
    assert await p.post(url, b"[3]", {}) == 500
    assert got == [b'{"a":1}', b"[2]", b"[3]"]
    assert conns() == 1  # one kept-alive connection for the three
    await p.close()
    server.close()


async def test_answer_until_close_and_a_closed_kept_connection():
    server, url, got, conns = await serve([
        b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.0 204 No Content\r\n\r\n",
    ], close_after=True)
    p = HttpPoster(5.0)
    assert await p.post(url, b"1", {}) == 200  # kept, but the server closes it
    await asyncio.sleep(0.05)
    assert await p.post(url, b"2", {}) == 204  # a new connection, not an error
    assert got == [b"1", b"2"] and conns() == 2
    await p.close()
    server.close()


async def test_refused_and_bad_answers_are_errors():
    server, url, _, _ = await serve([b"garbage\r\n\r\n"])
    p = HttpPoster(2.0)
    with pytest.raises(PostError):
        await p.post(url, b"x", {})
    server.close()
    await server.wait_closed()
    with pytest.raises(PostError):
        await p.post(url, b"x", {})
    with pytest.raises(PostError):
        await p.post("ftp://127.0.0.1/x", b"x", {})


async def test_a_kept_connection_reset_while_idle_is_not_a_failure():
    import socket
    import struct

    served = 0

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal served
        head = await reader.readuntil(b"\r\n\r\n")
        length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
        await reader.readexactly(length)
        served += 1
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.close()  # an RST, not a FIN

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/n"
    p = HttpPoster(5.0)
    assert await p.post(url, b"1", {}) == 200
    await asyncio.sleep(0.05)
    assert await p.post(url, b"2", {}) == 200
    assert served == 2
    await p.close()
    server.close()


async def test_credentials_in_the_endpoint_uri_are_sent_as_basic_auth():
    heads: list[bytes] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        heads.append(head)
        length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
        await reader.readexactly(length)
        writer.write(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    p = HttpPoster(5.0)
    assert await p.post(f"http://city%40ops:s3cr%3At@127.0.0.1:{port}/n", b"{}", {}) == 204
    await p.close()
    server.close()
    # base64("city@ops:s3cr:t")
    assert b"\r\nAuthorization: Basic Y2l0eUBvcHM6czNjcjp0\r\n" in heads[0]
    assert b"Host: 127.0.0.1:" in heads[0] and b"s3cr" not in heads[0]


async def test_a_huge_or_endless_answer_body_is_not_read():
    """A receiver announcing a gigabyte (or streaming without end) cannot make the hub
    buffer it or hang: the status is taken and the connection is not reused."""
    hold = asyncio.Event()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
        await reader.readexactly(length)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1000000000\r\n\r\n" + b"x" * 10)
        await writer.drain()
        await hold.wait()  # never sends the rest
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    p = HttpPoster(5.0)
    assert await p.post(f"http://127.0.0.1:{port}/n", b"{}", {}) == 200
    assert p._idle.get(("http", "127.0.0.1", port)) == []  # closed, not kept
    hold.set()
    await p.close()
    server.close()
