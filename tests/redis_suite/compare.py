#!/usr/bin/env python3
"""Full compare of two Redis servers: every key of db 0 on either side, its
type, absolute expiry and value (in a canonical order, so internal encodings
do not matter). Keys with the prefix __tandem: are tandem's and skipped.

    compare.py HOST:PORT HOST:PORT      exit 0: identical, 1: differences (listed)

A key whose expiry passed (or is within a second) while it was being read is
not a difference: each server expires keys on its own clock. A difference is
re-read once after 0.2 s before it is reported, for the same reason."""
import socket
import sys
import time


class Redis:
    def __init__(self, addr):
        host, port = addr.rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=30)
        self.buf = b""

    def _line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(1 << 16)
            if not chunk:
                raise ConnectionError("connection closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _exact(self, n):
        while len(self.buf) < n + 2:
            chunk = self.sock.recv(1 << 16)
            if not chunk:
                raise ConnectionError("connection closed")
            self.buf += chunk
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def _reply(self):
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind in (b"+",):
            return rest
        if kind == b"-":
            return RuntimeError(rest.decode(errors="replace"))
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            return None if n < 0 else self._exact(n)
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self._reply() for _ in range(n)]
        raise ValueError(f"unexpected reply {line!r}")

    def __call__(self, *args):
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(a), a))
        self.sock.sendall(b"".join(out))
        return self._reply()


def all_keys(r):
    keys, cursor = set(), b"0"
    while True:
        cursor, batch = r("SCAN", cursor, "COUNT", 1000)
        keys.update(k for k in batch if not k.startswith(b"__tandem:"))
        if cursor == b"0":
            return keys


def value_of(r, key):
    t = r("TYPE", key)
    if t == b"none":
        return ("none",)
    exp = r("PEXPIRETIME", key)
    if t == b"string":
        v = r("GET", key)
    elif t == b"hash":
        flat = r("HGETALL", key)
        v = sorted(zip(flat[0::2], flat[1::2]))
    elif t == b"list":
        v = r("LRANGE", key, 0, -1)
    elif t == b"set":
        v = sorted(r("SMEMBERS", key))
    elif t == b"zset":
        v = r("ZRANGE", key, 0, -1, "WITHSCORES")
    elif t == b"stream":
        v = (r("XRANGE", key, "-", "+"), r("XINFO", "STREAM", key), r("XINFO", "GROUPS", key))
        v = repr(v)
    else:
        v = r("DUMP", key)
    return (t.decode(), exp, repr(v))


def expiring(v, now_ms):
    return v[0] != "none" and isinstance(v[1], int) and 0 <= v[1] <= now_ms + 1000


def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    a, b = Redis(sys.argv[1]), Redis(sys.argv[2])
    keys = all_keys(a) | all_keys(b)
    differing = []
    for key in sorted(keys):
        for attempt in range(2):
            va, vb = value_of(a, key), value_of(b, key)
            now = int(time.time() * 1000)
            if va == vb or expiring(va, now) or expiring(vb, now):
                break
            if attempt == 0:
                time.sleep(0.2)
        else:
            differing.append((key, va, vb))
    for key, va, vb in differing[:20]:
        print(f"  differs: {key!r}\n    {sys.argv[1]}: {va[:2]} {va[2][:200]}\n    {sys.argv[2]}: {vb[:2]} {vb[2][:200]}")
    print(f"compare: {len(keys)} keys, {len(differing)} differ")
    return 1 if differing else 0


if __name__ == "__main__":
    sys.exit(main())
