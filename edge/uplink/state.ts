/** Small JSON state files of the uplink, written tmp + fsync + rename + dir fsync. */
import { readFile } from "node:fs/promises";
import { writeFileAtomic } from "../../lib/fsutil.ts";

export async function readJsonState<T>(path: string, fallback: T): Promise<T> {
  try {
    return JSON.parse(await readFile(path, "utf8")) as T;
  } catch (e) {
    if ((e as { code?: string }).code === "ENOENT" || e instanceof SyntaxError) return fallback;
    throw e;
  }
}

/** Crash-safe, serialized per path (lib/fsutil). */
export function writeJsonState(path: string, value: unknown): Promise<void> {
  return writeFileAtomic(path, JSON.stringify(value));
}

/** Serializes async work (sync ticks, config applies) so state files are never written concurrently. */
export class Serial {
  private tail: Promise<unknown> = Promise.resolve();
  run<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.tail.then(fn, fn);
    this.tail = p.catch(() => undefined);
    return p;
  }
}

/**
 * A periodic job on `serial` that is skipped while its previous run is still queued or running.
 * Timers that enqueue blindly pile up work when a run takes longer than the period (a loaded
 * box, 8 cameras, a 300 ms sync period): the queue grew without bound and anything queued
 * behind it (syncNow, a config apply) waited minutes. Returns the trigger for setInterval.
 */
export function coalesced(serial: Serial, fn: () => Promise<unknown>, onError: (e: unknown) => void): () => void {
  let pending = false;
  return () => {
    if (pending) return;
    pending = true;
    void serial
      .run(fn)
      .catch(onError)
      .finally(() => (pending = false));
  };
}
