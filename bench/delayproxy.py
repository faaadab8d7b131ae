#!/usr/bin/env python3
"""A TCP proxy that adds latency, for bench/network.sh.

    delayproxy.py --delay-ms D [--no-handshake] LISTEN=UPSTREAM [LISTEN=UPSTREAM...]

LISTEN is [HOST:]PORT (host default 127.0.0.1); UPSTREAM is HOST:PORT or
unix:PATH.  Each direction of each connection is delayed by D ms (one way,
so the round trip grows by 2 D): every chunk read on one side is written to
the other side at its read time + D, in order.  A direction is a queue of
(due time, bytes) served by one timer, not a sleep per chunk, so a stream
keeps its throughput whatever the delay; reading pauses when a direction
holds more than MAX_QUEUED bytes or its destination's socket buffer is full,
so a slow side slows the other down as TCP would.  Half-close (EOF one way)
is passed on after the delay; a connection closes once both ways have.

A new connection's TCP handshake costs a real client one round trip before
it can send; connecting to this proxy on loopback costs nothing, so the
first bytes towards the upstream leave no earlier than accept + 2 D (drop
that with --no-handshake).  Not modelled: TCP's congestion window (slow
start after connect or idle), loss, jitter.  The proxy prints "ready" on
standard output once it listens, and runs until SIGTERM or SIGINT.
Standard library only (asyncio).
"""
import argparse
import asyncio
import collections
import signal
import socket
import sys

MAX_QUEUED = 16 << 20     # bytes held per direction before reading pauses
WRITE_HIGH = 1 << 20      # asyncio write buffer limits per transport
WRITE_LOW = 256 << 10
EOF = object()
CLOSE = object()


class Pipe:
    """One direction of a connection: src's bytes to dst, each at read time
    + delay (no earlier than not_before + delay)."""

    def __init__(self, conn, delay, not_before):
        self.conn = conn
        self.loop = conn.loop
        self.delay = delay
        self.not_before = not_before
        self.q = collections.deque()
        self.queued = 0
        self.timer = None
        self.src = None          # Side whose reads feed this pipe
        self.dst = None          # Side written to
        self.eof_done = False

    def feed(self, item):
        now = self.loop.time()
        if self.delay <= 0 and not self.q and self.dst.transport is not None and now >= self.not_before:
            self._deliver(item)
            return
        self.q.append((max(now, self.not_before) + self.delay, item))
        if isinstance(item, bytes):
            self.queued += len(item)
            if self.queued > MAX_QUEUED:
                self.src.pause("queue")
        if self.timer is None:
            self.timer = self.loop.call_at(self.q[0][0], self._flush)

    def _deliver(self, item):
        t = self.dst.transport
        if item is EOF:
            self.eof_done = True
            if t is not None and not t.is_closing() and t.can_write_eof():
                try:
                    t.write_eof()
                except OSError:  # the peer is gone already (ENOTCONN)
                    t.close()
            self.conn.maybe_close()
        elif item is CLOSE:
            self.eof_done = True
            if t is not None:
                t.close()          # flushes what is buffered first
        elif t is not None and not t.is_closing():
            t.write(item)

    def _flush(self):
        self.timer = None
        now = self.loop.time()
        while self.q and self.q[0][0] <= now:
            _, item = self.q.popleft()
            if isinstance(item, bytes):
                self.queued -= len(item)
            self._deliver(item)
        if self.queued <= MAX_QUEUED // 2:
            self.src.resume("queue")
        if self.q:
            self.timer = self.loop.call_at(self.q[0][0], self._flush)


class Side(asyncio.Protocol):
    def __init__(self, conn):
        self.conn = conn
        self.transport = None
        self.out = None          # Pipe fed by this side's reads
        self.paused = set()
        self.closed = False

    def connection_made(self, transport):
        self.transport = transport
        transport.set_write_buffer_limits(WRITE_HIGH, WRITE_LOW)
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data):
        self.out.feed(data)

    def eof_received(self):
        self.out.feed(EOF)
        return True              # keep the other way open (half-close)

    def connection_lost(self, exc):
        self.closed = True
        if not self.out.eof_done:
            self.out.feed(CLOSE)
        self.conn.maybe_close()

    # This side's socket buffer is full: stop reading the other side.
    def pause_writing(self):
        self.conn.other(self).pause("write")

    def resume_writing(self):
        self.conn.other(self).resume("write")

    def pause(self, why):
        if not self.paused and self.transport is not None and not self.closed:
            self.transport.pause_reading()
        self.paused.add(why)

    def resume(self, why):
        if why in self.paused:
            self.paused.discard(why)
            if not self.paused and self.transport is not None and not self.closed:
                self.transport.resume_reading()


class Conn:
    def __init__(self, loop, delay, handshake):
        self.loop = loop
        now = loop.time()
        self.client = Side(self)
        self.server = Side(self)
        # Towards the upstream, the handshake's round trip comes first.
        self.client.out = Pipe(self, delay, now + (2 * delay if handshake else 0))
        self.server.out = Pipe(self, delay, now)
        self.client.out.src, self.client.out.dst = self.client, self.server
        self.server.out.src, self.server.out.dst = self.server, self.client

    def other(self, side):
        return self.server if side is self.client else self.client

    def maybe_close(self):
        if self.client.out.eof_done and self.server.out.eof_done:
            for s in (self.client, self.server):
                if s.transport is not None and not s.transport.is_closing():
                    s.transport.close()


def parse_addr(s):
    if s.startswith("unix:"):
        return ("unix", s[5:])
    host, _, port = s.rpartition(":")
    return ("tcp", (host or "127.0.0.1", int(port)))


async def serve(listen, upstream, delay, handshake):
    loop = asyncio.get_running_loop()
    kind, addr = parse_addr(upstream)

    def factory():
        conn = Conn(loop, delay, handshake)
        side = conn.client
        orig_made = side.connection_made

        def made(transport):
            orig_made(transport)
            side.pause("connect")   # until the upstream answers
            loop.create_task(connect(conn))
        side.connection_made = made
        return side

    async def connect(conn):
        try:
            if kind == "unix":
                await loop.create_unix_connection(lambda: conn.server, addr)
            else:
                await loop.create_connection(lambda: conn.server, *addr)
        except OSError as e:
            print(f"delayproxy: upstream {upstream}: {e}", file=sys.stderr)
            conn.client.transport.abort()
            return
        conn.client.resume("connect")

    lhost, lport = parse_addr(listen)[1]
    return await loop.create_server(factory, lhost, lport, backlog=4096, reuse_address=True)


async def main():
    ap = argparse.ArgumentParser(description="TCP proxy delaying each direction")
    ap.add_argument("--delay-ms", type=float, required=True, help="one-way delay (RTT / 2)")
    ap.add_argument("--no-handshake", action="store_true",
                    help="do not add a round trip for each new connection's handshake")
    ap.add_argument("routes", nargs="+", metavar="LISTEN=UPSTREAM")
    a = ap.parse_args()
    servers = []
    for r in a.routes:
        listen, _, upstream = r.partition("=")
        servers.append(await serve(listen, upstream, a.delay_ms / 1000, not a.no_handshake))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print("ready", flush=True)
    await stop.wait()
    for s in servers:
        s.close()


if __name__ == "__main__":
    asyncio.run(main())
