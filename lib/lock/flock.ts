/**
 * flock(2) from JavaScript (libc through `bun:ffi`): an advisory lock the kernel drops with the
 * last descriptor of the open file, so also when its holder is killed (-9 included). Linux +
 * glibc only; elsewhere `flockCall` returns null and lib/lock falls back to a PID file.
 */
import { FFIType } from "bun:ffi";
import { libcBinding } from "../ffi/libc.ts";

export const LOCK_EX = 2;
export const LOCK_NB = 4;
export const EWOULDBLOCK = 11;

/** 0 when done; −errno when not (−EWOULDBLOCK: another open file holds it). */
export type Flock = (fd: number, operation: number) => number;

/** flock(2), or null where libc is out of reach. */
export const flockCall: () => Flock | null = libcBinding({ flock: { args: [FFIType.i32, FFIType.i32], returns: FFIType.i32 } }, (lib, errno) => (fd, operation) => (lib.flock(fd, operation) === 0 ? 0 : -errno()));
