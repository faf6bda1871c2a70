#!/usr/bin/env python3
"""Measures fdfs-trackerd's resident memory with two storages joined and beating.

Usage: tools/measure-tracker-rss.py [path/to/fdfs-trackerd] [seconds]
Starts the tracker on 127.0.0.1:22190 with a temporary base_path, plays two storages
(127.0.0.2 and 127.0.0.3, group1) that join, report disk usage and beat once a second,
samples VmRSS from /proc once a second, stops the tracker with SIGTERM and prints the
figures (and the tracker's exit status, which must be 0).
"""
import os, signal, socket, struct, subprocess, sys, tempfile, time

BIN = sys.argv[1] if len(sys.argv) > 1 else ".build/release/fdfs-trackerd"
SECONDS = int(sys.argv[2]) if len(sys.argv) > 2 else 20
PORT = 22190

def packet(cmd, body=b"", status=0):
    return struct.pack(">qBB", len(body), cmd, status) + body

def exchange(sock, cmd, body=b""):
    sock.sendall(packet(cmd, body))
    head = b""
    while len(head) < 10:
        chunk = sock.recv(10 - len(head))
        if not chunk:
            raise RuntimeError("tracker closed the connection")
        head += chunk
    length, _, status = struct.unpack(">qBB", head)
    body = b""
    while status == 0 and len(body) < length:
        body += sock.recv(length - len(body))
    return status, body

def join_body(port):
    fixed = b"group1".ljust(17, b"\0")
    fixed += struct.pack(">qqqqqq", port, 1, 256, 10, 1795000000, 1795000000)
    fixed += b"6.16.1".ljust(8, b"\0") + bytes([1, 0]) + b"\0" * 16
    fixed += b"127.0.0.1".ljust(46, b"\0") + struct.pack(">q", 1)
    return fixed + f"127.0.0.1:{PORT}\n".encode()

def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0

def main():
    base = tempfile.mkdtemp(prefix="fdfs-rss-")
    conf = os.path.join(base, "tracker.conf")
    with open(conf, "w") as f:
        f.write(f"bind_addr = 127.0.0.1\nport = {PORT}\nbase_path = {base}\nreserved_storage_space = 10%\n")
    proc = subprocess.Popen([BIN, "--config", conf], stderr=subprocess.DEVNULL)
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", PORT), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.1)
    idle = rss_kib(proc.pid)
    storages = []
    for ip in ["127.0.0.2", "127.0.0.3"]:
        s = socket.socket()
        s.bind((ip, 0))
        s.connect(("127.0.0.1", PORT))
        status, _ = exchange(s, 81, join_body(23000))
        assert status == 0, f"JOIN failed: {status}"
        exchange(s, 87)
        storages.append(s)
    samples = []
    for second in range(SECONDS):
        for s in storages:
            exchange(s, 83, b"\0" * 348)
            exchange(s, 84, struct.pack(">qq", 100000, 50000))
        samples.append(rss_kib(proc.pid))
        time.sleep(1)
    for s in storages:
        s.close()
    proc.send_signal(signal.SIGTERM)
    code = proc.wait(timeout=30)
    samples.sort()
    print(f"fdfs-trackerd RSS: idle {idle} KiB; with 2 storages beating for {SECONDS} s: "
          f"median {samples[len(samples) // 2]} KiB, max {samples[-1]} KiB; exit status after SIGTERM: {code}")
    sys.exit(0 if code == 0 else 1)

if __name__ == "__main__":
    main()
