/** Small JSON state files of the uplink, written tmp + fsync + rename + dir fsync. */
import { open, readFile, rename } from "node:fs/promises";
import { dirname } from "node:path";

export async function readJsonState<T>(path: string, fallback: T): Promise<T> {
  try {
    return JSON.parse(await readFile(path, "utf8")) as T;
  } catch (e) {
    if ((e as { code?: string }).code === "ENOENT" || e instanceof SyntaxError) return fallback;
    throw e;
  }
}

export async function writeJsonState(path: string, value: unknown): Promise<void> {
  const tmp = `${path}.tmp`;
  const h = await open(tmp, "w");
  try {
    await h.write(JSON.stringify(value));
    await h.sync();
  } finally {
    await h.close();
  }
  await rename(tmp, path);
  const d = await open(dirname(path), "r");
  try {
    await d.sync();
  } finally {
    await d.close();
  }
}

/** Serializes async work (sync ticks, config applies) so state files are never written concurrently. */
export class Serial {
  private tail: Promise<unknown> = Promise.resolve();
  run<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.tail.then(fn, fn);
    this.tail = p.catch(() => undefined);
    return p;
  }
}
