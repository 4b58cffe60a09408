/**
 * One process per data directory. Central and the edge lock theirs before they open anything in
 * it: central's embedded database (PGlite under DATA/pg) has no lock of its own, and two
 * processes writing it left it unreadable for every later start; the edge's keys, custody chain,
 * outbox and position journal are single-writer files too. The DuckDB index's own lock comes too
 * late for either (it is opened after them).
 *
 * The lock is flock(2) on DATA/outpost.lock, held by an open descriptor for the process's life:
 * the kernel drops it when the process ends in any way (kill -9 included), so a crash never
 * leaves a stale lock. The file names the holder (who, PID, start time) for the refusal message.
 * Where flock is out of reach (no libc through bun:ffi) the file alone is the lock: refused
 * while the PID it names is alive and started when the file says (a reused PID does not count).
 */
import { closeSync, constants, ftruncateSync, openSync, readFileSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { EWOULDBLOCK, LOCK_EX, LOCK_NB, flockCall } from "./flock.ts";

export const LOCK_FILE = "outpost.lock";

/** Who holds a data directory, as its lock file says. */
export interface LockHolder {
  by: string;
  pid: number;
  /** The process's start time (/proc/PID/stat, clock ticks since boot); null where unknown. */
  start: string | null;
}

export class DataDirLockedError extends Error {
  constructor(
    readonly dir: string,
    readonly holder: LockHolder | null,
  ) {
    super(`${dir} is in use by ${holder ? `${holder.by} PID ${holder.pid}` : "another process"}; stop it first (one process per data directory)`);
    this.name = "DataDirLockedError";
  }
}

export interface DataDirLock {
  readonly file: string;
  /** Gives the directory up (idempotent); a process that ends gives it up anyway. */
  release(): void;
}

/**
 * Takes `dir`'s lock for this process (`by`: "central", "edge"), or throws DataDirLockedError
 * naming the holder. A second call in the same process is refused too (flock locks an open
 * file, not a process). `flock: false` forces the PID-file fallback (its tests).
 */
export function lockDataDir(dir: string, by: string, opts: { flock?: boolean } = {}): DataDirLock {
  const file = join(dir, LOCK_FILE);
  const me = JSON.stringify({ by, pid: process.pid, start: startTimeOf(process.pid) } satisfies LockHolder) + "\n";
  const flock = opts.flock === false ? null : flockCall();
  return flock ? lockWithFlock(dir, file, me, flock) : lockWithPidFile(dir, file, me);
}

function lockWithFlock(dir: string, file: string, me: string, flock: NonNullable<ReturnType<typeof flockCall>>): DataDirLock {
  // O_CLOEXEC (Bun opens every file with it): children (GStreamer, the PGlite process) never
  // inherit the descriptor, so one outliving its parent cannot keep the directory locked.
  const fd = openSync(file, constants.O_RDWR | constants.O_CREAT, 0o600);
  const r = flock(fd, LOCK_EX | LOCK_NB);
  if (r !== 0) {
    closeSync(fd);
    if (r === -EWOULDBLOCK) throw new DataDirLockedError(dir, readHolder(file));
    throw new Error(`cannot lock ${file}: flock failed (errno ${-r})`);
  }
  ftruncateSync(fd, 0);
  writeSync(fd, me, 0);
  return releasedOnce(file, () => {
    // Emptied while still held: the file never names a process that is gone.
    ftruncateSync(fd, 0);
    closeSync(fd);
  });
}

function lockWithPidFile(dir: string, file: string, me: string): DataDirLock {
  const holder = readHolder(file);
  if (holder && isAlive(holder)) throw new DataDirLockedError(dir, holder);
  writeFileSync(file, me, { mode: 0o600 });
  return releasedOnce(file, () => {
    if (readHolder(file)?.pid === process.pid) writeFileSync(file, "");
  });
}

function releasedOnce(file: string, release: () => void): DataDirLock {
  let held = true;
  return {
    file,
    release() {
      if (!held) return;
      held = false;
      release();
    },
  };
}

function readHolder(file: string): LockHolder | null {
  try {
    const h = JSON.parse(readFileSync(file, "utf8")) as Partial<LockHolder>;
    return typeof h.pid === "number" && typeof h.by === "string" ? { by: h.by, pid: h.pid, start: typeof h.start === "string" ? h.start : null } : null;
  } catch {
    return null; // absent, empty (released) or torn
  }
}

/** The holder's process exists and is the one that wrote the file (not a later one given its PID). */
function isAlive(h: LockHolder): boolean {
  try {
    process.kill(h.pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "EPERM") return false;
  }
  const now = startTimeOf(h.pid);
  return h.start === null || now === null || now === h.start;
}

/** Field 22 of /proc/PID/stat (after the command name, which may hold spaces and parentheses). */
function startTimeOf(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19] ?? null;
  } catch {
    return null;
  }
}
