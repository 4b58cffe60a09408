/**
 * Batched socket reads for recording streams. A camera sends each frame as a burst of RTP
 * packets that reaches the recorder in several TCP segments, so reading "as soon as readable"
 * costs ~2 reads, epoll returns and event-loop turns per frame per stream (≈ 33 a second at
 * 15 fps), each far dearer than the bytes it moves. Instead a streaming socket is paused after
 * each read and all paused sockets are resumed together, one timer per `batchMs`: what arrived
 * meanwhile waits in the kernel's receive buffer and comes in one read. The timer is armed by
 * the first pause, so an idle recorder does not wake for it.
 *
 * The delay is bounded by `batchMs` (the edge's `ingest.readBatchMs`, 100 ms): fragments are cut
 * every ≤ 500 ms anyway, and at 2 Mbit/s 100 ms is ≈ 25 KB, well inside a TCP receive buffer
 * (128 KiB to start, autotuned up to MiBs). A paused socket's window only closes once that
 * buffer is full, and a full window makes the camera hold (or, if its own buffer is small,
 * drop) what it sends — so a read of `burstBytes` or more (a keyframe burst, or a camera far
 * above 2 Mbit/s) is not followed by a pause: the next read comes as soon as data is there.
 */
export interface Pausable {
  pause(): void;
  resume(): void;
}

export class ReadBatcher {
  private paused = new Set<Pausable>();
  private timer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    readonly batchMs: number,
    readonly burstBytes = 64 * 1024,
    private readonly schedule: (fn: () => void, ms: number) => ReturnType<typeof setTimeout> = setTimeout,
  ) {}

  /** After a read of `bytes`: holds `sock` until the next batch (not after a burst; never with batchMs 0). */
  hold(sock: Pausable, bytes: number): void {
    if (this.batchMs <= 0 || bytes >= this.burstBytes || this.paused.has(sock)) return;
    sock.pause();
    this.paused.add(sock);
    if (!this.timer) {
      this.timer = this.schedule(() => this.release(), this.batchMs);
      (this.timer as { unref?: () => void }).unref?.();
    }
  }

  /** A socket that closed: not resumed (there is nothing left to read), no longer held. */
  forget(sock: Pausable): void {
    this.paused.delete(sock);
  }

  /** Sockets held now (tests). */
  get held(): number {
    return this.paused.size;
  }

  private release(): void {
    this.timer = undefined;
    const socks = this.paused;
    this.paused = new Set();
    for (const s of socks) s.resume();
  }
}

const batchers = new Map<number, ReadBatcher>();

/** The batcher of this period: every streaming connection of the process with that setting shares its timer. */
export function readBatcher(batchMs: number): ReadBatcher {
  let b = batchers.get(batchMs);
  if (!b) batchers.set(batchMs, (b = new ReadBatcher(batchMs)));
  return b;
}
