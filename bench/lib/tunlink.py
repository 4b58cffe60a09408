#!/usr/bin/python3
"""
Packet-level link emulator for bench/transfer.bench.ts (netem is not available on this
machine): two TUN devices, one moved into the edge's network namespace, joined by this
process, which adds a rate cap (serialisation at RATE bit/s), one-way delay (RTT/2 each way),
a drop-tail queue, optional random loss, and outage (blackhole) on command. TCP runs end to
end through it, so the edge kernel's congestion control sees the real RTT and loss.

Usage: tunlink.py NS RATE_BPS RTT_MS LOSS_PCT QUEUE_BYTES
stdin commands: "down", "up", "stats" (prints JSON: bytes/packets per direction, IP and TCP payload).
"""
import fcntl, json, os, random, select, struct, subprocess, sys, time, heapq

TUNSETIFF = 0x400454CA
IFF_TUN, IFF_NO_PI = 0x0001, 0x1000

def tun(name):
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TUN | IFF_NO_PI))
    return fd

ns, rate, rtt, loss, qmax = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])
a_name, b_name = "otlA" + str(os.getpid() % 10000), "otlB" + str(os.getpid() % 10000)
fa, fb = tun(a_name), tun(b_name)
def sh(*cmd):
    subprocess.run(cmd, check=True)
sh("ip", "link", "set", a_name, "netns", ns)
sh("ip", "netns", "exec", ns, "ip", "addr", "add", "10.251.0.2/24", "dev", a_name)
sh("ip", "netns", "exec", ns, "ip", "link", "set", a_name, "up", "mtu", "1500")
sh("ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up")
sh("ip", "netns", "exec", ns, "ip", "route", "add", "10.251.1.0/24", "dev", a_name)
sh("ip", "addr", "add", "10.251.1.1/24", "dev", b_name)
sh("ip", "link", "set", b_name, "up", "mtu", "1500")
sh("ip", "route", "replace", "10.251.0.0/24", "dev", b_name)

class Dir:
    def __init__(self, out):
        self.out, self.q, self.next_free, self.queued = out, [], 0.0, 0
        self.bytes = self.packets = self.payload = self.dropped = 0
    def push(self, pkt, now):
        if down:
            self.dropped += 1
            return
        if loss > 0 and random.random() * 100 < loss:
            self.dropped += 1
            return
        if self.queued + len(pkt) > qmax:
            self.dropped += 1
            return
        start = max(now, self.next_free)
        done = start + len(pkt) * 8 / rate if rate > 0 else start
        self.next_free = done
        self.queued += len(pkt)
        self.q.append((done + rtt / 2000.0, pkt))
    def flush(self, now):
        while self.q and self.q[0][0] <= now:
            _, pkt = self.q.pop(0)
            self.queued -= len(pkt)
            try:
                os.write(self.out, pkt)
            except OSError:
                pass
            self.bytes += len(pkt)
            self.packets += 1
            if len(pkt) >= 40 and pkt[9] == 6:
                ihl = (pkt[0] & 15) * 4
                thl = (pkt[ihl + 12] >> 4) * 4
                self.payload += len(pkt) - ihl - thl
    def stats(self):
        return {"bytes": self.bytes, "packets": self.packets, "payload": self.payload, "dropped": self.dropped}

down = False
up_dir, down_dir = Dir(fb), Dir(fa)  # up: edge (A) -> central (B)
print("READY", flush=True)
stdin = sys.stdin.fileno()
while True:
    now = time.monotonic()
    nxt = min([d.q[0][0] for d in (up_dir, down_dir) if d.q] or [now + 0.05])
    r, _, _ = select.select([fa, fb, stdin], [], [], max(0.0, nxt - now))
    now = time.monotonic()
    for fd in r:
        if fd == stdin:
            line = sys.stdin.readline()
            if not line:
                sys.exit(0)
            cmd = line.strip()
            if cmd == "down": down = True
            elif cmd == "up": down = False
            elif cmd == "stats": print("STATS " + json.dumps({"up": up_dir.stats(), "down": down_dir.stats()}), flush=True)
            continue
        for _ in range(64):
            try:
                pkt = os.read(fd, 65536)
            except BlockingIOError:
                break
            (up_dir if fd == fa else down_dir).push(pkt, now)
    up_dir.flush(now)
    down_dir.flush(now)
