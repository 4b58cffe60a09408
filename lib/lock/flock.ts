/**
 * flock(2) from JavaScript (libc through `bun:ffi`): an advisory lock the kernel drops with the
 * last descriptor of the open file, so also when its holder is killed (-9 included). Linux +
 * glibc only; elsewhere `flockCall` returns null and lib/lock falls back to a PID file.
 */
import { dlopen, FFIType, read } from "bun:ffi";

export const LOCK_EX = 2;
export const LOCK_NB = 4;
export const EWOULDBLOCK = 11;

/** 0 when done; −errno when not (−EWOULDBLOCK: another open file holds it). */
export type Flock = (fd: number, operation: number) => number;

let loaded: Flock | null | undefined;

export function flockCall(): Flock | null {
  if (loaded !== undefined) return loaded;
  loaded = null;
  if (process.platform !== "linux") return null;
  try {
    const lib = dlopen("libc.so.6", {
      flock: { args: [FFIType.i32, FFIType.i32], returns: FFIType.i32 },
      __errno_location: { args: [], returns: FFIType.ptr },
    });
    // errno is per thread; this runs on the JavaScript thread only, so its address is fixed.
    const errnoAt = lib.symbols.__errno_location();
    if (!errnoAt) return null;
    loaded = (fd, operation) => (lib.symbols.flock(fd, operation) === 0 ? 0 : -read.i32(errnoAt, 0));
  } catch {
    loaded = null;
  }
  return loaded;
}
