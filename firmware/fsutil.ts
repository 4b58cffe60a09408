/**
 * Crash-safe file primitives for the firmware code: every state change is tmp + fsync +
 * rename + directory fsync, so a power cut leaves either the old or the new file, never a torn one.
 */
import { promises as fs, constants } from "node:fs";
import path from "node:path";

export async function syncDir(dir: string): Promise<void> {
  const fh = await fs.open(dir, constants.O_RDONLY);
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

export async function writeAtomic(file: string, data: string | Uint8Array, mode = 0o644): Promise<void> {
  const tmp = `${file}.tmp-${process.pid}`;
  const fh = await fs.open(tmp, "w", mode);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await fs.rename(tmp, file);
  await syncDir(path.dirname(file));
}

export async function readJsonFile<T>(file: string): Promise<T | null> {
  try {
    return JSON.parse(await fs.readFile(file, "utf8")) as T;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw e;
  }
}

export async function fsyncFile(file: string): Promise<void> {
  const fh = await fs.open(file, constants.O_RDONLY);
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** SHA-256 (hex) and length of a file, streamed. */
export async function hashFile(file: string, limit?: number): Promise<{ sha256: string; length: number }> {
  const h = new Bun.CryptoHasher("sha256");
  let length = 0;
  const f = Bun.file(file);
  const stream = (limit === undefined ? f : f.slice(0, limit)).stream();
  for await (const chunk of stream) {
    h.update(chunk);
    length += chunk.byteLength;
  }
  return { sha256: h.digest("hex"), length };
}

export const sha256Hex = (b: Uint8Array | string) => new Bun.CryptoHasher("sha256").update(b).digest("hex");
