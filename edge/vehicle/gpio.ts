/**
 * Vehicle inputs from GPIO lines (ignition sense, door switches, panic button) through the Linux
 * GPIO character device (/dev/gpiochipN, uAPI v2): one line request for all configured lines
 * with both edges, kernel debounce and realtime event timestamps, so each change keeps the time
 * the kernel saw the edge, not when we read it. Only the system calls live here (bun:ffi:
 * ioctl, fcntl); the byte layouts are in gpio-uapi.ts.
 *
 * Why ffi and not `gpiomon` as a child: no package to install on the recorder, no output format
 * to parse (libgpiod v1 and v2 print differently), and the kernel's own event struct (with its
 * sequence numbers, which show events the kernel dropped) instead of text.
 *
 * The line fd is made non-blocking and read every `pollMs`: a blocked read would hold a thread of
 * the runtime's pool and cannot be interrupted at shutdown; the reading interval does not change
 * the recorded time (the kernel stamps it). A chip that cannot be opened is retried with backoff.
 * At start (and after reopening) the current level of every line is reported once, so a vehicle
 * started with the ignition already on is known to be running.
 */
import { closeSync, openSync, readSync } from "node:fs";
import type { Clock } from "../../lib/clock.ts";
import type { Logger } from "../../lib/log/index.ts";
import { GPIO_V2_GET_LINE_IOCTL, GPIO_V2_LINE_GET_VALUES_IOCTL, REQ_FD, decodeLineEvents, decodeValues, encodeLineRequest, encodeValuesQuery, type LineSpec } from "./gpio-uapi.ts";

export interface GpioLineConfig {
  /** Line offset on the chip. */
  line: number;
  /** Input name (ignition, door-front, panic, reverse, low-voltage, …). */
  input: string;
  activeLow: boolean;
  bias: LineSpec["bias"];
  debounceMs: number;
}

export interface GpioConfig {
  /** e.g. /dev/gpiochip0 */
  chip: string;
  lines: GpioLineConfig[];
  pollMs: number;
}

type Libc = {
  ioctl: (fd: number, req: number, arg: Uint8Array) => number;
  fcntl: (fd: number, cmd: number, arg: number) => number;
};

let libc: Libc | null = null;
async function loadLibc(): Promise<Libc> {
  if (libc) return libc;
  const { dlopen, FFIType } = await import("bun:ffi");
  const lib = dlopen("libc.so.6", {
    ioctl: { args: [FFIType.i32, FFIType.u64, FFIType.ptr], returns: FFIType.i32 },
    fcntl: { args: [FFIType.i32, FFIType.i32, FFIType.i32], returns: FFIType.i32 },
  });
  const s = lib.symbols as unknown as { ioctl: (fd: number, req: bigint, arg: Uint8Array) => number; fcntl: (fd: number, cmd: number, arg: number) => number };
  libc = { ioctl: (fd, req, arg) => s.ioctl(fd, BigInt(req), arg), fcntl: s.fcntl };
  return libc;
}

const F_GETFL = 3;
const F_SETFL = 4;
const O_NONBLOCK = 0o4000;

export class GpioInput {
  private chipFd = -1;
  private lineFd = -1;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private stopped = false;
  private rest: Uint8Array = new Uint8Array(0);
  private lastSeq = 0;
  readonly stats = { events: 0, dropped: 0, opens: 0 };

  constructor(
    private readonly cfg: GpioConfig,
    private readonly d: { clock: Clock; log: Logger; input: (name: string, state: boolean, atMs: number, source: string) => Promise<void>; backoff?: { minMs: number; maxMs: number } },
  ) {}

  start(): void {
    void this.open(this.d.backoff?.minMs ?? 1000);
  }

  /** Opens the chip and requests the lines; on failure logs the reason and tries again later. */
  private async open(backoffMs: number): Promise<void> {
    if (this.stopped) return;
    try {
      const c = await loadLibc();
      this.chipFd = openSync(this.cfg.chip, "r+");
      const req = encodeLineRequest(
        "outpost",
        this.cfg.lines.map((l) => ({ offset: l.line, activeLow: l.activeLow, bias: l.bias, debounceUs: l.debounceMs * 1000 })),
      );
      if (c.ioctl(this.chipFd, GPIO_V2_GET_LINE_IOCTL, req) < 0) throw new Error(`GPIO_V2_GET_LINE_IOCTL on ${this.cfg.chip} failed (lines ${this.cfg.lines.map((l) => l.line).join(", ")} busy, absent, or an old kernel without uAPI v2)`);
      this.lineFd = new DataView(req.buffer).getInt32(REQ_FD, true);
      closeSync(this.chipFd); // the line request keeps its own fd
      this.chipFd = -1;
      const fl = c.fcntl(this.lineFd, F_GETFL, 0);
      if (fl < 0 || c.fcntl(this.lineFd, F_SETFL, fl | O_NONBLOCK) < 0) throw new Error("could not make the GPIO line fd non-blocking");
      this.stats.opens++;
      this.lastSeq = 0;
      this.d.log.info("vehicle inputs: GPIO lines requested", { chip: this.cfg.chip, lines: this.cfg.lines.map((l) => `${l.line}=${l.input}`).join(", ") });
      // The current levels, once: the state before the first edge.
      const vals = encodeValuesQuery(this.cfg.lines.length);
      if (c.ioctl(this.lineFd, GPIO_V2_LINE_GET_VALUES_IOCTL, vals) >= 0) {
        const now = this.d.clock.now();
        decodeValues(vals, this.cfg.lines.length).forEach((v, i) => void this.deliver(this.cfg.lines[i]!.input, v, now));
      }
      this.schedule();
    } catch (e) {
      this.closeFds();
      this.d.log.warn("vehicle inputs: GPIO chip not available; retrying", { chip: this.cfg.chip, err: e as Error, retryInMs: backoffMs });
      this.timer = setTimeout(() => void this.open(Math.min(backoffMs * 2, this.d.backoff?.maxMs ?? 30_000)), backoffMs);
    }
  }

  private schedule(): void {
    if (!this.stopped) this.timer = setTimeout(() => this.poll(), this.cfg.pollMs);
  }

  private poll(): void {
    const buf = new Uint8Array(48 * 16);
    try {
      for (;;) {
        let n: number;
        try {
          n = readSync(this.lineFd, buf, 0, buf.length, null);
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code === "EAGAIN") break;
          throw e;
        }
        if (n <= 0) break;
        const joined = new Uint8Array(this.rest.length + n);
        joined.set(this.rest);
        joined.set(buf.subarray(0, n), this.rest.length);
        const { events, rest } = decodeLineEvents(joined);
        this.rest = rest;
        for (const ev of events) {
          // seqno counts every event of the request: a jump means the kernel's buffer overflowed.
          if (this.lastSeq && ev.seqno > this.lastSeq + 1) {
            this.stats.dropped += ev.seqno - this.lastSeq - 1;
            this.d.log.warn("vehicle inputs: the kernel dropped GPIO events (buffer full)", { dropped: ev.seqno - this.lastSeq - 1 });
          }
          this.lastSeq = ev.seqno;
          const line = this.cfg.lines.find((l) => l.line === ev.offset);
          if (!line) continue;
          this.stats.events++;
          void this.deliver(line.input, ev.active, Number(ev.timestampNs / 1_000_000n));
        }
      }
      this.schedule();
    } catch (e) {
      this.closeFds();
      this.d.log.warn("vehicle inputs: GPIO read failed; requesting the lines again", { chip: this.cfg.chip, err: e as Error });
      this.timer = setTimeout(() => void this.open(this.d.backoff?.minMs ?? 1000), this.d.backoff?.minMs ?? 1000);
    }
  }

  private deliver(input: string, state: boolean, atMs: number): Promise<void> {
    return this.d.input(input, state, atMs, "gpio").catch((err) => this.d.log.error("vehicle input not recorded", { input, err: err as Error }));
  }

  private closeFds(): void {
    for (const fd of [this.lineFd, this.chipFd]) if (fd >= 0) closeSync(fd);
    this.lineFd = -1;
    this.chipFd = -1;
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.closeFds();
  }
}
