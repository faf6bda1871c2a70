#!/usr/bin/env python3
"""Single-client upload and download rates against a running cluster (tools/cluster start).

Usage: tools/bench-single-client.py [count_4k] [count_64m]
One connection to the storage the tracker names; uploads `count_4k` files of 4 KiB and
`count_64m` files of 64 MiB one after the other, then downloads each; prints files/s and
MB/s. A plain Python client: its own overhead is part of the figures (a baseline, not the
speed target of DESIGN.md §6).
"""
import os, socket, struct, sys, time

TRACKER = ("127.0.0.1", 22122)

def recv_exact(s, n):
    out = bytearray()
    while len(out) < n:
        chunk = s.recv(min(n - len(out), 1 << 20))
        if not chunk:
            raise RuntimeError("connection closed")
        out += chunk
    return bytes(out)

def call(s, cmd, body=b"", payload=b""):
    s.sendall(struct.pack(">qBB", len(body) + len(payload), cmd, 0) + body)
    if payload:
        s.sendall(payload)
    length, _, status = struct.unpack(">qBB", recv_exact(s, 10))
    if status:
        raise RuntimeError(f"status {status}")
    return recv_exact(s, length)

def main():
    n4k = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    n64m = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    t = socket.create_connection(TRACKER)
    d = call(t, 101)
    ip, port, path = d[16:31].rstrip(b"\0").decode(), struct.unpack(">q", d[31:39])[0], d[39]
    s = socket.create_connection((ip, port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    for label, size, count in [("4 KiB", 4096, n4k), ("64 MiB", 64 << 20, n64m)]:
        content = os.urandom(size)
        names = []
        start = time.perf_counter()
        for _ in range(count):
            r = call(s, 11, bytes([path]) + struct.pack(">q", size) + b"bin".ljust(6, b"\0"), content)
            names.append(r[16:])
        up = time.perf_counter() - start
        start = time.perf_counter()
        for name in names:
            assert len(call(s, 14, struct.pack(">qq", 0, 0) + b"group1".ljust(16, b"\0") + name)) == size
        down = time.perf_counter() - start
        mb = size * count / 1e6
        print(f"{label}: upload {count / up:.0f} files/s ({mb / up:.0f} MB/s), download {count / down:.0f} files/s ({mb / down:.0f} MB/s)")
        for name in names:
            call(s, 12, b"group1".ljust(16, b"\0") + name)

if __name__ == "__main__":
    main()
