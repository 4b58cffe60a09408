/**
 * Batched socket reads for recording streams. A camera sends each frame as a burst of RTP
 * packets that reaches the recorder in several TCP segments, so reading "as soon as readable"
 * costs ~2 reads, epoll returns and event-loop turns per frame per stream (≈ 33 a second at
 * 15 fps), each far dearer than the bytes it moves. Instead a streaming socket is paused after
 * each read and all paused sockets are read together, one timer per `batchMs`: what arrived
 * meanwhile waits in the kernel's receive buffer and comes in one read. The timer is armed by
 * the first pause, so an idle recorder does not wake for it.
 *
 * At the timer the batcher reads each held socket itself (`recv` on its descriptor, see
 * socket-recv.ts) and keeps it paused while data keeps coming: resuming it through the runtime
 * instead cost four `epoll_ctl` and two event-loop turns per socket and batch. A socket with
 * nothing waiting, a failed read or the end of the stream is resumed: the runtime then waits
 * for it (an idle camera costs no wake-ups) and reports its close or error as always. Where the
 * direct read is not available every held socket is resumed, as before.
 *
 * The delay is bounded by `batchMs` (the edge's `ingest.readBatchMs`, 100 ms): fragments are cut
 * every ≤ 500 ms anyway, and at 2 Mbit/s 100 ms is ≈ 25 KB, well inside a TCP receive buffer
 * (128 KiB to start, autotuned up to MiBs). A paused socket's window only closes once that
 * buffer is full, and a full window makes the camera hold (or, if its own buffer is small,
 * drop) what it sends — so a read of `burstBytes` or more (a keyframe burst, or a camera far
 * above 2 Mbit/s) is not followed by a pause: the next read comes as soon as data is there.
 */
import { EAGAIN, socketRecv, type Recv } from "./socket-recv.ts";
import { wakeups } from "../../../lib/timers/wakeups.ts";

export interface Pausable {
  pause(): void;
  resume(): void;
}

/** A held socket the batcher may read itself while it stays paused. */
export interface DirectRead {
  readonly fd: number;
  /** Bytes read: a view into the batcher's buffer, valid during the call only. */
  data(bytes: Uint8Array): void;
}

/** One direct read's buffer; a read that fills it is followed by another at once. */
const READ_BYTES = 256 * 1024;

export class ReadBatcher {
  private paused = new Map<Pausable, DirectRead | undefined>();
  /** The sockets being read by the timer now (a close during a read drops one from here too). */
  private releasing: Map<Pausable, DirectRead | undefined> | undefined;
  private armed = false;
  private buf: Uint8Array | undefined;

  constructor(
    readonly batchMs: number,
    readonly burstBytes = 64 * 1024,
    private readonly schedule: (fn: () => void, ms: number) => unknown = setTimeout,
    private readonly recv: Recv | null = socketRecv(),
  ) {}

  /** After a read of `bytes`: holds `sock` until the next batch (not after a burst; never with batchMs 0). */
  hold(sock: Pausable, bytes: number, direct?: DirectRead): void {
    if (this.batchMs <= 0 || bytes >= this.burstBytes || this.paused.has(sock)) return;
    sock.pause();
    this.keep(sock, direct);
  }

  /** A socket that closed: not resumed nor read again (its descriptor may be reused), no longer held. */
  forget(sock: Pausable): void {
    this.paused.delete(sock);
    this.releasing?.delete(sock);
  }

  /** Sockets held now (tests). */
  get held(): number {
    return this.paused.size;
  }

  private keep(sock: Pausable, direct: DirectRead | undefined): void {
    this.paused.set(sock, direct);
    if (!this.armed) {
      this.armed = true;
      const t = this.schedule(() => this.release(), this.batchMs);
      (t as { unref?: () => void } | undefined)?.unref?.();
    }
  }

  private release(): void {
    this.armed = false;
    const socks = this.paused;
    this.paused = new Map();
    this.releasing = socks;
    try {
      for (const [s, direct] of socks) {
        if (direct && this.recv) this.readDirect(s, direct, this.recv);
        else s.resume();
      }
    } finally {
      this.releasing = undefined;
    }
  }

  /** Reads a paused socket until nothing is waiting; keeps it held, or hands it back to the runtime. */
  private readDirect(s: Pausable, d: DirectRead, recv: Recv): void {
    const buf = (this.buf ??= new Uint8Array(READ_BYTES));
    let total = 0;
    for (;;) {
      const n = recv(d.fd, buf);
      if (n <= 0) {
        // Nothing (more) waiting: held for the next batch if this one brought data. Nothing at
        // all, the end of the stream or an error: the runtime waits for it and reports it.
        if (n === -EAGAIN && total > 0) return this.keep(s, d);
        return s.resume();
      }
      total += n;
      d.data(buf.subarray(0, n));
      if (!this.releasing?.has(s)) return; // closed while its bytes were handled
      if (n < buf.length) break;
    }
    if (total >= this.burstBytes) s.resume();
    else this.keep(s, d);
  }
}

const batchers = new Map<number, ReadBatcher>();

/**
 * The batcher of this period: every streaming connection of the process with that setting shares
 * its timer, the process's shared wake-ups (lib/timers/wakeups.ts), so the store's durability
 * tick and the watchdogs run in the batch's turn instead of waking the event loop themselves.
 */
export function readBatcher(batchMs: number): ReadBatcher {
  let b = batchers.get(batchMs);
  if (!b) batchers.set(batchMs, (b = new ReadBatcher(batchMs, undefined, (fn, ms) => wakeups.after(fn, ms))));
  return b;
}
