/**
 * Crash-safe file primitives shared by every part that keeps state on disk: atomic replace
 * (tmp file + fsync + rename + directory fsync, so a power cut leaves the old or the new file,
 * never a torn one), directory and file fsync, and append + fsync for journals. It owns only these
 * mechanics; it must not know about callers, their layouts or their file names.
 *
 * Every whole-file state write in the tree goes through writeFileAtomic: it is the one place that
 * serializes writes per path (one at a time; two saves of one file once shared a tmp name and one
 * failed with ENOENT on rename) and the one place a crash can be injected between steps (tests).
 */
import { promises as fs, constants } from "node:fs";
import path from "node:path";

/** fsync a directory, making renames, creations and unlinks inside it durable. */
export async function fsyncDir(dir: string): Promise<void> {
  await fsyncPath(dir);
}

/** fsync a file written through another handle (or another process) before it is renamed or trusted. */
export async function fsyncFile(file: string): Promise<void> {
  await fsyncPath(file);
}

async function fsyncPath(p: string): Promise<void> {
  const fh = await fs.open(p, constants.O_RDONLY);
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/**
 * Creates (mkdir -p) a data directory private to this user (0700), and narrows an existing one
 * that is wider (an install from before data directories were private): with the directory
 * closed, nothing inside it is reachable for others, whatever mode a library gave its files.
 */
export async function mkdirPrivate(dir: string): Promise<void> {
  await fs.mkdir(dir, { recursive: true, mode: 0o700 });
  if (((await fs.stat(dir)).mode & 0o077) !== 0) await fs.chmod(dir, 0o700);
}

/**
 * Makes every file and directory this process (and its children: GStreamer, DuckDB) creates
 * private to its user: called first thing by the central, edge and demo commands.
 */
export function privateUmask(): void {
  process.umask(0o077);
}

/** The steps of one atomic replace, in order; the fault hook runs before each. */
export type AtomicStep = "write" | "fsync" | "rename" | "fsync-dir";

let faultHook: ((step: AtomicStep, file: string) => void | Promise<void>) | null = null;

/**
 * Test hook: called before each step of every atomic write; throwing stops that write there, as
 * a crash would (the tmp file is left behind, exactly what a power cut leaves). null removes it.
 */
export function setAtomicWriteFault(hook: ((step: AtomicStep, file: string) => void | Promise<void>) | null): void {
  faultHook = hook;
}

let tmpSeq = 0;
const TMP_RE = /\.tmp-\d+-\d+$/;

/** Whether a directory entry is a leftover tmp file of writeFileAtomic (after a crash), for sweepers. */
export function isAtomicTmp(name: string): boolean {
  return TMP_RE.test(name);
}

interface Job {
  data: string | Uint8Array;
  mode: number;
  waiters: { resolve: () => void; reject: (e: Error) => void }[];
}
interface PathQueue {
  busy: boolean;
  next: Job | null;
}
const queues = new Map<string, PathQueue>();

/**
 * Replace `file` atomically with `data`, leaving it with exactly `mode` (default 0600: data
 * directories are private; chmod as well, since the umask trims the open mode).
 *
 * Writes to one path are serialized: while one is in flight, further calls coalesce into one
 * follow-up write of the newest data (last write wins); every caller resolves once data at least
 * as new as its own is durable. Tmp names are unique per process and write, so writers in other
 * processes never share one either.
 */
export function writeFileAtomic(file: string, data: string | Uint8Array, mode = 0o600): Promise<void> {
  const key = path.resolve(file);
  let q = queues.get(key);
  if (!q) {
    q = { busy: false, next: null };
    queues.set(key, q);
  }
  const queue = q;
  return new Promise<void>((resolve, reject) => {
    if (queue.next) {
      queue.next.data = data;
      queue.next.mode = mode;
      queue.next.waiters.push({ resolve, reject });
    } else queue.next = { data, mode, waiters: [{ resolve, reject }] };
    if (!queue.busy) void drain(key, queue);
  });
}

async function drain(key: string, q: PathQueue): Promise<void> {
  q.busy = true;
  while (q.next) {
    const job = q.next;
    q.next = null;
    try {
      await replaceOnce(key, job.data, job.mode);
      for (const w of job.waiters) w.resolve();
    } catch (e) {
      for (const w of job.waiters) w.reject(e as Error);
    }
  }
  q.busy = false;
  queues.delete(key);
}

async function replaceOnce(file: string, data: string | Uint8Array, mode: number): Promise<void> {
  const tmp = `${file}.tmp-${process.pid}-${++tmpSeq}`;
  let renamed = false;
  try {
    await faultHook?.("write", file);
    const fh = await fs.open(tmp, "w", mode);
    try {
      await fh.writeFile(data);
      await faultHook?.("fsync", file);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await fs.chmod(tmp, mode);
    await faultHook?.("rename", file);
    await fs.rename(tmp, file);
    renamed = true;
    await faultHook?.("fsync-dir", file);
    await fsyncDir(path.dirname(file));
  } catch (e) {
    // A real error (disk full, …) must not leave tmp files piling up; a crash cannot clean up,
    // and readers never look at tmp names, so either way the file is the old or the new one.
    if (!renamed && !(e instanceof InjectedCrash)) await fs.rm(tmp, { force: true }).catch(() => undefined);
    throw e;
  }
}

/** What a fault hook throws to stop a write the way a crash would (the tmp file stays). */
export class InjectedCrash extends Error {
  constructor(readonly step: AtomicStep) {
    super(`injected crash before ${step}`);
    this.name = "InjectedCrash";
  }
}

/**
 * Append `data` and fsync. O_APPEND keeps concurrent writers' records whole; when this call
 * created the file, the directory is fsynced too so the new entry survives power loss.
 * `mode` applies only to a file this call creates.
 */
export async function appendFileDurable(file: string, data: string | Uint8Array, mode = 0o600): Promise<void> {
  const fh = await fs.open(file, "a", mode);
  let created = false;
  try {
    created = (await fh.stat()).size === 0;
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
  if (created) await fsyncDir(path.dirname(file));
}
