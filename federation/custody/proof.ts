/**
 * Custody proof of one segment as it travels with an upload to central (header
 * x-outpost-custody, base64 JSON): the segment's chain entry, the following entries up to the
 * first signed one (at most MAX_PROOF_ENTRIES), that signature and its certificate. Central
 * checks it before it stores the segment (central/custody).
 */
import { open } from "node:fs/promises";
import { parseEntry, parseLines, parseSignature, type ChainEntry, type HeadSignature } from "./format.ts";
import { custodyPaths, readCert } from "./journal.ts";

export const MAX_PROOF_ENTRIES = 8;

export interface CustodyProof {
  entries: ChainEntry[];
  sig: HeadSignature | null;
  cert: string | null;
}

/** The proof for a segment of this store, or null when it has no chain entry. */
export async function proofFor(root: string, seg: { cameraId: string; stream: string; startMs: number; sha256: string }): Promise<CustodyProof | null> {
  const p = custodyPaths(root, seg.cameraId, seg.stream);
  const all = await tailCache(p.chain, parseEntry);
  const i = all.findIndex((e) => e.startMs === seg.startMs && e.sha256 === seg.sha256);
  if (i < 0) return null;
  const sigs = await tailCache(p.sigs, parseSignature);
  const bySeq = new Map(sigs.filter((s) => s.chain === all[i]!.chain).map((s) => [s.seq, s]));
  const entries: ChainEntry[] = [];
  for (let j = i; j < all.length && entries.length < MAX_PROOF_ENTRIES; j++) {
    entries.push(all[j]!);
    const sig = bySeq.get(all[j]!.seq);
    if (sig) return { entries, sig, cert: await readCert(root, sig.cert) };
  }
  return { entries: entries.slice(0, 1), sig: null, cert: null };
}

export function encodeProof(p: CustodyProof): string {
  return Buffer.from(JSON.stringify(p)).toString("base64");
}

/** Parses a header value; null when it is absent or not a proof. */
export function decodeProof(v: string | null): CustodyProof | null {
  if (!v || v.length > 32_768) return null;
  try {
    const j = JSON.parse(Buffer.from(v, "base64").toString("utf8")) as CustodyProof;
    if (!Array.isArray(j.entries) || j.entries.length < 1 || j.entries.length > MAX_PROOF_ENTRIES) return null;
    const entries = j.entries.map(parseEntry);
    if (entries.some((e) => !e)) return null;
    const sig = j.sig === null ? null : parseSignature(j.sig);
    if (j.sig !== null && !sig) return null;
    return { entries: entries as ChainEntry[], sig, cert: typeof j.cert === "string" ? j.cert : null };
  } catch {
    return null;
  }
}

/**
 * Parsed lines of an append-only JSONL file, kept in memory and extended by reading only what
 * was appended since the last call (an upload per segment must not re-read a year of chain).
 * A file that shrank (rebuilt) is read again from the start.
 */
const caches = new Map<string, { size: number; items: unknown[]; rest: string }>();

async function tailCache<T>(file: string, parse: (x: unknown) => T | null): Promise<T[]> {
  let fh;
  try {
    fh = await open(file, "r");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw e;
  }
  try {
    const size = (await fh.stat()).size;
    let c = caches.get(file);
    if (!c || size < c.size) c = { size: 0, items: [], rest: "" };
    if (size > c.size) {
      const buf = new Uint8Array(size - c.size);
      await fh.read(buf, 0, buf.length, c.size);
      const text = c.rest + new TextDecoder().decode(buf);
      const cut = text.lastIndexOf("\n") + 1; // a line still being written waits for the next call
      c.items.push(...parseLines(text.slice(0, cut), parse).items);
      c.rest = text.slice(cut);
      c.size = size;
    }
    if (caches.size > 256 && !caches.has(file)) caches.clear();
    caches.set(file, c);
    return c.items as T[];
  } finally {
    await fh.close();
  }
}
