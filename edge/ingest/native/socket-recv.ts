/**
 * recv(2) on a socket's file descriptor, non-blocking, from JavaScript (libc through `bun:ffi`):
 * what lets the read batcher (read-batch.ts) read a paused camera socket itself on its timer.
 * Reading through the runtime instead costs, per socket and batch, a resume and a pause (four
 * `epoll_ctl`: Bun's pause re-arms the socket for writable events) and two event-loop turns
 * of their own (the readable event, then an immediate writable one), besides the timer's turn.
 * Linux + glibc only; elsewhere `socketRecv` returns null and the batcher resumes sockets.
 */
import { FFIType, ptr } from "bun:ffi";
import { libcBinding } from "../../../lib/ffi/libc.ts";

/** Bytes read into `into` (> 0); 0 at the end of the stream; −errno when the read failed (−EAGAIN: nothing waiting). */
export type Recv = (fd: number, into: Uint8Array) => number;

const MSG_DONTWAIT = 0x40;
export const EAGAIN = 11;

/** recv(2) with MSG_DONTWAIT, or null where libc is out of reach. */
export const socketRecv: () => Recv | null = libcBinding(
  { recv: { args: [FFIType.i32, FFIType.ptr, FFIType.u64, FFIType.i32], returns: FFIType.i64_fast } },
  (lib, errno) => (fd, into) => {
    const n = Number(lib.recv(fd, ptr(into), into.length, MSG_DONTWAIT));
    return n >= 0 ? n : -errno();
  },
);
