/**
 * A libc call that may wait for the disk (fsync, syncfs), run on a thread of its own and joined
 * at the process's next shared wake-up.
 *
 * Bun runs `FileHandle.sync()` on its thread pool: each job wakes both pool threads (Bun never
 * runs fewer than two), which then time out every 100 ms while idle, and its completion wakes the
 * event loop — at one camera ~20 wake-ups a second for two fsyncs (BENCHMARKS.md). Here the call
 * is the start routine of a new thread (pthread_create with libc's function as the routine: it
 * takes the int argument in the pointer's place and returns its int result as the thread's exit
 * value), and the thread is joined with pthread_tryjoin_np from a shared wake-up with wide slack
 * (lib/timers/wakeups.ts) — while a camera streams, the batched reads' turn, so a sync costs a
 * thread start and no wake-up of its own. The result is known up to `JOIN_MS` after the call
 * returned; the bytes are durable when it returns, whoever learns it later.
 *
 * The thread blocks every signal (a process signal must never run the runtime's handler on a
 * foreign thread with a 32 KiB stack) and its stack is small, so its exit returns nothing to the
 * kernel. Linux + glibc only: elsewhere `threadCaller` returns null and the caller keeps its
 * fallback (Bun's own fsync).
 */
import { CFunction, FFIType, ptr, type Pointer } from "bun:ffi";
import { libcBinding } from "./libc.ts";
import { wakeups as shared, type Wakeup, type Wakeups } from "../timers/wakeups.ts";

/**
 * A join is tried at latest this long (ms) after the call started or the last try, and from 1 ms
 * on with any other wake-up. Longer than the edge's read batch (ingest.readBatchMs, ≤ 250 ms):
 * while a camera streams, the join rides the next batch's turn instead of a wake-up of its own.
 */
export const JOIN_MS = 300;

interface Threads {
  /** The libc function's address, or null if libc has none by that name. */
  lookup(symbol: string): Pointer | null;
  /** A new thread running fn(arg), or null if none could be started. */
  start(fn: Pointer, arg: number): bigint | null;
  /** The thread's exit value as a C int once it ended (and is reaped), null while it runs. */
  tryJoin(tid: bigint): number | null;
}

const loadThreads: () => Threads | null = libcBinding(
  {
    dlsym: { args: [FFIType.ptr, FFIType.cstring], returns: FFIType.ptr },
    pthread_attr_init: { args: [FFIType.ptr], returns: FFIType.i32 },
    pthread_attr_setstacksize: { args: [FFIType.ptr, FFIType.u64], returns: FFIType.i32 },
    pthread_create: { args: [FFIType.ptr, FFIType.ptr, FFIType.ptr, FFIType.u64], returns: FFIType.i32 },
    pthread_tryjoin_np: { args: [FFIType.u64, FFIType.ptr], returns: FFIType.i32 },
    sigfillset: { args: [FFIType.ptr], returns: FFIType.i32 },
    pthread_sigmask: { args: [FFIType.i32, FFIType.ptr, FFIType.ptr], returns: FFIType.i32 },
  },
  (lib) => {
    const lookup = (symbol: string) => lib.dlsym(null, ptr(Buffer.from(`${symbol}\0`))) as Pointer | null;
    // glibc ≥ 2.32 sets a new thread's signal mask through its attributes; looked up, not bound,
    // so an older libc still loads (it then masks around pthread_create instead).
    const setSigmask = lookup("pthread_attr_setsigmask_np");
    const setSigmaskFn = setSigmask ? CFunction({ ptr: setSigmask, args: [FFIType.ptr, FFIType.ptr], returns: FFIType.i32 }) : null;
    const tid = new BigUint64Array(1);
    const ret = new BigInt64Array(1);
    // A 32 KiB stack (a syscall wrapper needs next to none): with the default 8 MiB, glibc returns
    // the unused stack with an madvise at every thread exit — one more TLB shootdown per call.
    const attr = new BigUint64Array(8); // pthread_attr_t: 56 bytes on x86-64, 64 on arm64
    let small = lib.pthread_attr_init(ptr(attr)) === 0 && lib.pthread_attr_setstacksize(ptr(attr), 32n * 1024n) === 0;
    // The thread blocks every signal: the kernel delivers a process signal (SIGCHLD, SIGTERM, …) to
    // a thread that takes it (the event loop's), so shutdown is never held up by a sync either.
    const all = new BigUint64Array(16); // sigset_t: 128 bytes on Linux
    const masked = lib.sigfillset(ptr(all)) === 0 && setSigmaskFn !== null && small && setSigmaskFn(ptr(attr), ptr(all)) === 0;
    const old = new BigUint64Array(16);
    const SIG_SETMASK = 2;
    /** pthread_create with every signal blocked in the new thread (inherited from a briefly masked caller where the attribute is not available). */
    const spawn = (withAttr: boolean, fn: Pointer, arg: number): boolean => {
      if (withAttr && masked) return lib.pthread_create(ptr(tid), ptr(attr), fn, BigInt(arg)) === 0;
      if (lib.pthread_sigmask(SIG_SETMASK, ptr(all), ptr(old)) !== 0) return false;
      try {
        return lib.pthread_create(ptr(tid), withAttr ? ptr(attr) : null, fn, BigInt(arg)) === 0;
      } finally {
        lib.pthread_sigmask(SIG_SETMASK, ptr(old), null);
      }
    };
    return {
      lookup,
      start(fn, arg) {
        if (small && spawn(true, fn, arg)) return tid[0]!;
        small = false; // refused (e.g. a runtime with a large static TLS): default stacks from now on
        return spawn(false, fn, arg) ? tid[0]! : null;
      },
      tryJoin(t) {
        const r = lib.pthread_tryjoin_np(t, ptr(ret));
        // The exit value is the function's int result in the low 32 bits.
        return r === 0 ? Number(BigInt.asIntN(32, ret[0]!)) : null;
      },
    };
  },
);

/** Calls `symbol(arg)` on a thread of its own; resolves with its int result (−1: failed, errno not kept), rejects if no thread could start. */
export type ThreadCall = (arg: number) => Promise<number>;

/**
 * `symbol` (a libc function of one int argument returning int, e.g. "fsync") run on threads of
 * its own, joined on `timers` (default the process's shared wake-ups); null where that is out of
 * reach (not Linux + glibc, or libc has no such function).
 */
export function threadCaller(symbol: string, timers: Wakeups = shared): ThreadCall | null {
  const threads = loadThreads();
  const fn = threads?.lookup(symbol);
  if (!threads || !fn) return null;
  const running = new Set<{ tid: bigint; done: (result: number) => void }>();
  let poll: Wakeup | undefined;
  const arm = () => {
    // Wide slack: any wake-up from 1 ms on may join; alone, one wake-up per JOIN_MS while a call runs.
    if (!poll && running.size > 0) poll = timers.after(join, JOIN_MS, JOIN_MS - 1, { keepAlive: true });
  };
  const join = () => {
    poll = undefined;
    for (const t of running) {
      const result = threads.tryJoin(t.tid);
      if (result === null) continue;
      running.delete(t);
      t.done(result);
    }
    arm();
  };
  return (arg) =>
    new Promise<number>((resolve, reject) => {
      const tid = threads.start(fn, arg);
      if (tid === null) return reject(new Error(`${symbol}: could not start a thread`));
      running.add({ tid, done: resolve });
      arm();
    });
}
