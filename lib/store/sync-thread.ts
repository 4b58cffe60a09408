/**
 * The store's fsyncs off the event loop and off Bun's thread pool: each runs on a thread of its
 * own, joined at the next shared wake-up (lib/ffi/thread-call.ts — at one camera the pool's
 * hand-offs woke the process ~20 times a second for two fsyncs).
 *
 * `fileSyncer`: one fsync(2) of a segment file (the durability tick, per stream that wrote).
 * `volumeSyncer`: one syncfs(2) of the volume holding the store — one call makes every file the
 * store wrote durable (one journal commit), where one fsync per stream costs one commit each
 * (~5× less kernel time per tick with 16 files on ext4); opt-in (`storage.durabilitySync`).
 * Node and Bun have neither an async syncfs nor a way to run a raw syscall off the event loop,
 * and a blocking call there would stall every camera for as long as a slow SD card takes.
 * Linux + glibc only: elsewhere both return null and the store uses Bun's `FileHandle.sync()`.
 */
import type { FileHandle } from "node:fs/promises";
import { closeSync, openSync } from "node:fs";
import { threadCaller } from "../ffi/thread-call.ts";
import type { Wakeups } from "../timers/wakeups.ts";

/**
 * A function that syncs the volume of `dir` (opened once per call, so a store root on another
 * mount is followed), or null where syncfs cannot be run off the event loop.
 */
export function volumeSyncer(timers?: Wakeups): ((dir: string) => Promise<void>) | null {
  const syncfs = threadCaller("syncfs", timers);
  if (!syncfs) return null;
  return async (dir) => {
    const fd = openSync(dir, "r");
    try {
      if ((await syncfs(fd)) !== 0) throw new Error("syncfs failed (I/O error on the volume)");
    } finally {
      closeSync(fd);
    }
  };
}

/**
 * A function that fsyncs an open file on a thread of its own (Bun's `sync()` where no thread can
 * start), or null where that is out of reach. The caller keeps the handle open until it settles.
 */
export function fileSyncer(timers?: Wakeups): ((fh: FileHandle) => Promise<void>) | null {
  const fsync = threadCaller("fsync", timers);
  if (!fsync) return null;
  return async (fh) => {
    let result: number;
    try {
      result = await fsync(fh.fd);
    } catch {
      return fh.sync(); // no thread (a thread limit reached): the pool's fsync, as before
    }
    // The thread's errno is not kept: EIO and ENOSPC both mean the bytes may not be on the disk.
    if (result !== 0) throw Object.assign(new Error("fsync failed (I/O error or no space on the volume)"), { code: "EIO" });
  };
}
