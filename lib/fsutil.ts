/**
 * Crash-safe file primitives shared by every part that keeps state on disk: atomic replace
 * (tmp file + fsync + rename + directory fsync, so a power cut leaves the old or the new file,
 * never a torn one), directory and file fsync, and append + fsync for journals. It owns only these
 * mechanics; it must not know about callers, their layouts or their file names.
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

let tmpSeq = 0;

/**
 * Replace `file` atomically with `data`, leaving it with exactly `mode` (chmod as well, since a
 * leftover tmp file keeps its old mode and the umask trims the open mode; keys need 0600).
 * The default tmp name is unique per process and call so concurrent writers never share one;
 * `opts.tmp` lets a caller that sweeps its own leftovers by name choose it.
 */
export async function writeFileAtomic(file: string, data: string | Uint8Array, mode = 0o644, opts: { tmp?: string } = {}): Promise<void> {
  const tmp = opts.tmp ?? `${file}.tmp-${process.pid}-${++tmpSeq}`;
  const fh = await fs.open(tmp, "w", mode);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await fs.chmod(tmp, mode);
  await fs.rename(tmp, file);
  await fsyncDir(path.dirname(file));
}

/**
 * Append `data` and fsync. O_APPEND keeps concurrent writers' records whole; when this call
 * created the file, the directory is fsynced too so the new entry survives power loss.
 * `mode` applies only to a file this call creates.
 */
export async function appendFileDurable(file: string, data: string | Uint8Array, mode = 0o644): Promise<void> {
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
