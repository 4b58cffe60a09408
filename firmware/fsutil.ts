/**
 * Crash-safe file primitives for the firmware code: every state change is tmp + fsync +
 * rename + directory fsync, so a power cut leaves either the old or the new file, never a torn one.
 */
import { promises as fs } from "node:fs";

// The atomic-write primitives live in lib/fsutil.ts; re-exported under the names firmware code uses.
export { fsyncDir as syncDir, fsyncFile, writeFileAtomic as writeAtomic } from "../lib/fsutil.ts";

export async function readJsonFile<T>(file: string): Promise<T | null> {
  try {
    return JSON.parse(await fs.readFile(file, "utf8")) as T;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw e;
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
