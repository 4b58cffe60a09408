/**
 * Link emulator for transfer tests and benchmarks: a TCP proxy 127.0.0.1:port → target with a
 * rate cap (bits/s, per direction, shared by all connections like one access link), one-way
 * latency (rtt/2 each way, order kept), a bounded queue that pushes back on the sender (like a
 * router buffer), and link control: cut() drops every connection and refuses new ones,
 * restore(), flap(upMs, downMs). netem is not available on this machine (see TOOLCHAIN.md),
 * so delay has to live in user space. Counts bytes per direction (bytes on the link).
 */
import net from "node:net";

export interface LinkOptions {
  targetPort: number;
  targetHost?: string;
  /** Bits per second per direction; 0/absent = unlimited. */
  rateBps?: number;
  /** Round-trip time added (split evenly over both directions). */
  rttMs?: number;
  /** Bytes queued per direction before the sender is paused (default 2 × bandwidth-delay product, ≥ 64 KiB). */
  queueBytes?: number;
}

export interface LinkEmulator {
  port: number;
  bytes: { up: number; down: number };
  cuts: number;
  readonly up: boolean;
  cut(): void;
  restore(): void;
  /** Alternates up/down until stopFlap() (starts with up). */
  flap(upMs: number, downMs: number): void;
  stopFlap(): void;
  setRate(bps: number): void;
  /** New connections go to this port (the target restarted elsewhere). */
  setTarget(port: number): void;
  close(): Promise<void>;
}

interface Item {
  dst: net.Socket;
  src: net.Socket;
  data: Buffer;
  at: number;
}

class Direction {
  private q: Item[] = [];
  private timer: ReturnType<typeof setTimeout> | null = null;
  private nextFree = 0;
  queued = 0;
  constructor(
    private readonly o: { rate: () => number; delayMs: number; queueBytes: number },
    private readonly count: (n: number) => void,
  ) {}

  push(src: net.Socket, dst: net.Socket, data: Buffer): void {
    const now = performance.now();
    for (let off = 0; off < data.length; off += 16384) {
      const part = data.subarray(off, Math.min(off + 16384, data.length));
      const rate = this.o.rate();
      const start = Math.max(now, this.nextFree);
      const done = rate > 0 ? start + (part.length * 8 * 1000) / rate : start;
      this.nextFree = done;
      this.q.push({ src, dst, data: part, at: done + this.o.delayMs });
      this.queued += part.length;
    }
    if (this.queued > this.o.queueBytes) src.pause();
    this.schedule();
  }

  private schedule(): void {
    if (this.timer || !this.q.length) return;
    this.timer = setTimeout(() => this.fire(), Math.max(0, this.q[0]!.at - performance.now()));
  }

  private fire(): void {
    this.timer = null;
    const now = performance.now();
    while (this.q.length && this.q[0]!.at <= now + 1) {
      const it = this.q.shift()!;
      this.queued -= it.data.length;
      if (!it.dst.destroyed) {
        it.dst.write(it.data);
        this.count(it.data.length);
      }
      if (this.queued <= this.o.queueBytes / 2 && it.src.isPaused() && !it.src.destroyed) it.src.resume();
    }
    this.schedule();
  }

  drop(): void {
    this.q = [];
    this.queued = 0;
    this.nextFree = 0;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}

export async function startLink(o: LinkOptions): Promise<LinkEmulator> {
  let rate = o.rateBps ?? 0;
  let targetPort = o.targetPort;
  const delayMs = (o.rttMs ?? 0) / 2;
  const bdp = rate > 0 ? (rate / 8) * ((o.rttMs ?? 0) / 1000) : 0;
  const queueBytes = o.queueBytes ?? Math.max(64 * 1024, Math.round(2 * bdp));
  const socks = new Set<net.Socket>();
  let open = true;
  let flapTimer: ReturnType<typeof setTimeout> | null = null;
  const bytes = { up: 0, down: 0 };
  const upDir = new Direction({ rate: () => rate, delayMs, queueBytes }, (n) => (bytes.up += n));
  const downDir = new Direction({ rate: () => rate, delayMs, queueBytes }, (n) => (bytes.down += n));
  const server = net.createServer((client) => {
    if (!open) return client.destroy();
    client.setNoDelay(true);
    const target = net.connect(targetPort, o.targetHost ?? "127.0.0.1");
    target.setNoDelay(true);
    socks.add(client).add(target);
    client.on("data", (d: Buffer) => upDir.push(client, target, d));
    target.on("data", (d: Buffer) => downDir.push(target, client, d));
    const end = () => {
      client.destroy();
      target.destroy();
      socks.delete(client);
      socks.delete(target);
    };
    client.on("error", end).on("close", end);
    target.on("error", end).on("close", end);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const emu: LinkEmulator = {
    port: (server.address() as net.AddressInfo).port,
    bytes,
    cuts: 0,
    get up() {
      return open;
    },
    cut() {
      open = false;
      emu.cuts++;
      for (const s of socks) s.destroy();
      socks.clear();
      upDir.drop();
      downDir.drop();
    },
    restore() {
      open = true;
    },
    flap(upMs, downMs) {
      emu.stopFlap();
      const step = (up: boolean) => {
        if (up) emu.restore();
        else emu.cut();
        flapTimer = setTimeout(() => step(!up), up ? upMs : downMs);
      };
      step(true);
    },
    stopFlap() {
      if (flapTimer) clearTimeout(flapTimer);
      flapTimer = null;
    },
    setRate(bps) {
      rate = bps;
    },
    setTarget(port) {
      targetPort = port;
    },
    close: () =>
      new Promise<void>((r) => {
        emu.stopFlap();
        for (const s of socks) s.destroy();
        upDir.drop();
        downDir.drop();
        server.close(() => r());
      }),
  };
  return emu;
}
