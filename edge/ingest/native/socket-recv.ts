/**
 * recv(2) on a socket's file descriptor, non-blocking, from JavaScript (libc through `bun:ffi`):
 * what lets the read batcher (read-batch.ts) read a paused camera socket itself on its timer.
 * Reading through the runtime instead costs, per socket and batch, a resume and a pause (four
 * `epoll_ctl`: Bun's pause re-arms the socket for writable events) and two event-loop turns
 * of their own (the readable event, then an immediate writable one), besides the timer's turn.
 * Linux + glibc only; elsewhere `socketRecv` returns null and the batcher resumes sockets.
 */
import { dlopen, FFIType, ptr, read } from "bun:ffi";

/** Bytes read into `into` (> 0); 0 at the end of the stream; −errno when the read failed (−EAGAIN: nothing waiting). */
export type Recv = (fd: number, into: Uint8Array) => number;

const MSG_DONTWAIT = 0x40;
export const EAGAIN = 11;

let loaded: Recv | null | undefined;

export function socketRecv(): Recv | null {
  if (loaded !== undefined) return loaded;
  loaded = null;
  if (process.platform !== "linux") return null;
  try {
    const lib = dlopen("libc.so.6", {
      recv: { args: [FFIType.i32, FFIType.ptr, FFIType.u64, FFIType.i32], returns: FFIType.i64_fast },
      __errno_location: { args: [], returns: FFIType.ptr },
    });
    // errno is per thread; this runs on the JavaScript thread only, so its address is fixed.
    const errnoAt = lib.symbols.__errno_location();
    if (!errnoAt) return null;
    loaded = (fd, into) => {
      const n = Number(lib.symbols.recv(fd, ptr(into), into.length, MSG_DONTWAIT));
      return n >= 0 ? n : -read.i32(errnoAt, 0);
    };
  } catch {
    loaded = null;
  }
  return loaded;
}
