/**
 * Appending a fragment to its segment file.
 *
 * A write of ~100 KB into the page cache takes microseconds; through Bun's thread pool
 * (`FileHandle.write`) it costs a hand-off to a pool thread, a futex wake, two context switches
 * and a completion event back on the event loop — per fragment, three times a second per stream.
 * So fragments are written inline (`writevSync` on the event loop); fsyncs, which wait for the
 * disk, stay on the thread pool (the store's durability tick).
 *
 * An inline write can still block in the kernel (dirty-page throttling, a journal commit on a
 * slow card). One inline write slower than `INLINE_MAX_MS` sends every write of the store back to
 * the thread pool for `POOL_HOLD_MS`: a struggling disk stalls the event loop (live view, the
 * other cameras) once, not at every fragment, and the writer's backlog bound (shed) works on
 * pooled writes as before; after the hold one inline write tries again. (Pooled writes do not
 * renew the hold: their time includes waiting for the event loop, which says nothing about the
 * disk on a busy machine.)
 *
 * A disk that hangs (a dying card, a device stuck in the kernel) shows first in the fsyncs, which
 * wait for it: while one has been waiting longer than `SYNC_STALL_MS` no write runs inline, so the
 * write that would block for good blocks a pool thread, not the event loop — the recorder keeps
 * answering, reports "disk-slow" and opens its gap, as it did before writes were inline.
 */
import { writevSync, writeSync } from "node:fs";
import type { FileHandle } from "node:fs/promises";

/** An inline write slower than this (ms) moves writes to the thread pool. */
export const INLINE_MAX_MS = 20;
/** How long writes stay on the thread pool after a slow one (ms). */
export const POOL_HOLD_MS = 30_000;
/** An fsync waiting longer than this (ms) keeps writes off the event loop until it returns. */
export const SYNC_STALL_MS = 500;

export class FragmentAppender {
  /** Writes run on the thread pool until this monotonic time (ms). */
  private poolUntil = -Infinity;
  /** How many writes ran inline and on the thread pool (for tests and benches). */
  readonly stats = { inline: 0, pooled: 0 };
  /** Start times (monotonic ms) of the fsyncs in flight, by ticket. */
  private readonly syncs = new Map<object, number>();

  /**
   * `now`: monotonic ms (injected in tests to model a slow write). `waitNow`: the clock fsync waits
   * are measured on — real time even where a test drives the store with a manual clock, because
   * the fsyncs run in real time: manual time moved ahead while a real fsync runs is no stall.
   */
  constructor(
    private readonly now: () => number = () => performance.now(),
    private readonly waitNow: () => number = () => performance.now(),
  ) {}

  /**
   * Writes the parts back to back at `position`: one (p)writev for the usual case (a small new
   * moof and the media bytes as received, never copied together); a short write goes on from
   * where it stopped; a write that writes nothing is a full disk (ENOSPC).
   */
  async write(fh: FileHandle, parts: Uint8Array[], position: number): Promise<void> {
    let rest = parts.filter((p) => p.length > 0);
    while (rest.length) {
      const start = this.now();
      const inline = start >= this.poolUntil && !this.syncStalled();
      let written: number;
      if (inline) {
        this.stats.inline++;
        try {
          written = rest.length === 1 ? writeSync(fh.fd, rest[0]!, 0, rest[0]!.length, position) : writevSync(fh.fd, rest, position);
        } finally {
          // A write that failed slowly (EIO after retries) blocked the event loop all the same.
          const end = this.now();
          if (end - start > INLINE_MAX_MS) this.poolUntil = end + POOL_HOLD_MS;
        }
      } else {
        this.stats.pooled++;
        written = (rest.length === 1 ? await fh.write(rest[0]!, 0, rest[0]!.length, position) : await fh.writev(rest, position)).bytesWritten;
      }
      if (written <= 0) throw Object.assign(new Error("short write"), { code: "ENOSPC" });
      position += written;
      let skip = written;
      while (rest.length && skip >= rest[0]!.length) skip -= rest.shift()!.length;
      if (skip > 0) rest[0] = rest[0]!.subarray(skip);
    }
  }

  /** Runs an fsync (or volume sync) of the store's disk, watched: see SYNC_STALL_MS. */
  watchSync<T>(sync: () => Promise<T>): Promise<T> {
    const ticket = {};
    this.syncs.set(ticket, this.waitNow());
    let p: Promise<T>;
    try {
      p = sync();
    } catch (e) {
      this.syncs.delete(ticket);
      throw e;
    }
    return p.finally(() => this.syncs.delete(ticket));
  }

  private syncStalled(): boolean {
    if (this.syncs.size === 0) return false;
    const now = this.waitNow();
    for (const since of this.syncs.values()) if (now - since > SYNC_STALL_MS) return true;
    return false;
  }
}
