/**
 * Where custody lives under a store root, and its append-only files:
 *   custody/id                              random custody id of this store (part of every chain id)
 *   custody/<camera>/<stream>/chain.jsonl   one ChainEntry per committed segment, in commit order
 *   custody/<camera>/<stream>/signatures.jsonl  one HeadSignature per segment close
 *   custody/<camera>/<stream>/head.json     the latest periodic head signature (replaced, not kept)
 *   custody/certs/<sha256>.pem              every certificate that signed anything here
 * Appends are fsynced (lib/fsutil appendFileDurable). A crash can tear only the last line;
 * openTail() trims a torn line so the next append starts on a clean line.
 */
import { open, readFile, truncate, mkdir } from "node:fs/promises";
import { join } from "node:path";
import { appendFileDurable, fsyncDir, writeFileAtomic } from "../../lib/fsutil.ts";
import { parseEntry, parseLines, parseSignature, type ChainEntry, type HeadSignature } from "./format.ts";

export const CUSTODY_DIR = "custody";

export const custodyPaths = (root: string, cameraId: string, stream: string) => {
  const dir = join(root, CUSTODY_DIR, cameraId, stream);
  return { dir, chain: join(dir, "chain.jsonl"), sigs: join(dir, "signatures.jsonl"), head: join(dir, "head.json") };
};

export const certPath = (root: string, fp: string) => join(root, CUSTODY_DIR, "certs", `${fp}.pem`);

/** The store's custody id, created on first use (random: it only has to differ between stores). */
export async function custodyId(root: string): Promise<string> {
  const file = join(root, CUSTODY_DIR, "id");
  try {
    const id = (await readFile(file, "utf8")).trim();
    if (/^[0-9a-f]{16,64}$/.test(id)) return id;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
  }
  await mkdir(join(root, CUSTODY_DIR), { recursive: true });
  const id = Buffer.from(crypto.getRandomValues(new Uint8Array(8))).toString("hex");
  await writeFileAtomic(file, `${id}\n`);
  return id;
}

/** Last whole line of a JSONL file (a torn tail is cut off first). */
export async function openTail<T>(file: string, parse: (x: unknown) => T | null): Promise<T | null> {
  let fh;
  try {
    fh = await open(file, "r");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw e;
  }
  let text: string;
  let size: number;
  try {
    size = (await fh.stat()).size;
    const n = Math.min(size, 64 * 1024);
    const buf = new Uint8Array(n);
    await fh.read(buf, 0, n, size - n);
    text = new TextDecoder().decode(buf);
  } finally {
    await fh.close();
  }
  if (size > 0 && !text.endsWith("\n")) {
    const cut = text.lastIndexOf("\n");
    const keep = size - (text.length - (cut + 1));
    await truncate(file, cut < 0 && size <= 64 * 1024 ? 0 : keep);
    text = cut < 0 ? "" : text.slice(0, cut + 1);
  }
  const lines = text.split("\n").filter((l) => l.trim());
  for (let i = lines.length - 1; i >= 0; i--) {
    try {
      const v = parse(JSON.parse(lines[i]!));
      if (v) return v;
    } catch {
      // a damaged line: look further back
    }
  }
  return null;
}

export async function appendLine(file: string, dir: string, record: unknown): Promise<void> {
  await appendLines(file, dir, [record]);
}

/** Appends records as JSON lines with one write and one fsync. */
export async function appendLines(file: string, dir: string, records: unknown[]): Promise<void> {
  if (!records.length) return;
  await mkdir(dir, { recursive: true });
  await appendFileDurable(file, records.map((r) => JSON.stringify(r) + "\n").join(""));
}

export async function readEntries(root: string, cameraId: string, stream: string): Promise<ChainEntry[]> {
  return (await readJsonl(custodyPaths(root, cameraId, stream).chain, parseEntry)).items;
}

export async function readSignatures(root: string, cameraId: string, stream: string): Promise<HeadSignature[]> {
  return (await readJsonl(custodyPaths(root, cameraId, stream).sigs, parseSignature)).items;
}

async function readJsonl<T>(file: string, parse: (x: unknown) => T | null): Promise<{ items: T[]; bad: number }> {
  try {
    return parseLines(await readFile(file, "utf8"), parse);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return { items: [], bad: 0 };
    throw e;
  }
}

export async function saveCert(root: string, fp: string, pem: string): Promise<void> {
  const file = certPath(root, fp);
  try {
    await readFile(file);
    return;
  } catch {
    // not there yet
  }
  await mkdir(join(root, CUSTODY_DIR, "certs"), { recursive: true });
  await writeFileAtomic(file, pem);
  await fsyncDir(join(root, CUSTODY_DIR));
}

export async function readCert(root: string, fp: string): Promise<string | null> {
  try {
    return await readFile(certPath(root, fp), "utf8");
  } catch {
    return null;
  }
}
