/**
 * Content-defined chunking (a FastCDC-style gear hash) for delta updates. Chunk boundaries
 * depend only on nearby bytes, so an insertion early in the executable shifts a few chunks, not
 * all of them. A bundle is chunked per region (header, then each file) so the edge can chunk the
 * files of its running slot and find the same chunks without keeping the old bundle file.
 */
import { sha256Hex } from "./fsutil.ts";
import { readManifest, storedLength } from "./bundle.ts";

export const MIN_CHUNK = 8 * 1024;
export const MAX_CHUNK = 128 * 1024;
const MASK = (1 << 15) - 1; // ~32 KiB average above the minimum

const GEAR = (() => {
  const t = new Uint32Array(256);
  // Deterministic table: both sides must cut at the same places forever.
  let x = 0x9e3779b9;
  for (let i = 0; i < 256; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    t[i] = x >>> 0;
  }
  return t;
})();

/** Cut points (chunk lengths) of one region. */
export function cutPoints(buf: Uint8Array): number[] {
  const out: number[] = [];
  let start = 0;
  const n = buf.length;
  while (start < n) {
    const end = Math.min(n, start + MAX_CHUNK);
    let i = Math.min(n, start + MIN_CHUNK);
    let h = 0;
    let cut = end;
    for (; i < end; i++) {
      h = ((h << 1) + GEAR[buf[i]!]!) >>> 0;
      if ((h & MASK) === 0) {
        cut = i + 1;
        break;
      }
    }
    out.push(cut - start);
    start = cut;
  }
  return out;
}

/**
 * [offset in bundle, length, sha256] — and, for a chunk stored compressed (bundle format 2: one
 * zstd frame per chunk), the sha256 of the decompressed chunk: the edge finds that in its
 * running slot's files, compresses it at `zstdLevel` and must get the frame's hash.
 */
export type Chunk = [number, number, string] | [number, number, string, string];

export interface ChunkIndex {
  bundle: { sha256: string; length: number };
  chunks: Chunk[];
  /** zstd level of the compressed chunks (bundle format 2). */
  zstdLevel?: number;
}

/** The hash an edge looks up among its local chunks: the decompressed one when there is one. */
export const localKey = (c: Chunk): string => c[3] ?? c[2];

function chunkRegion(buf: Uint8Array, base: number, out: Chunk[]): void {
  let off = 0;
  for (const len of cutPoints(buf)) {
    out.push([base + off, len, sha256Hex(buf.subarray(off, off + len))]);
    off += len;
  }
}

/** Chunk index of a bundle file (central computes it once per release). */
export async function chunkBundle(file: string, sha256: string): Promise<ChunkIndex> {
  const { manifest, headerEnd } = await readManifest(file);
  const f = Bun.file(file);
  const chunks: Chunk[] = [];
  chunkRegion(new Uint8Array(await f.slice(0, headerEnd).arrayBuffer()), 0, chunks);
  for (const m of manifest.files) {
    const region = new Uint8Array(await f.slice(headerEnd + m.offset, headerEnd + m.offset + storedLength(m)).arrayBuffer());
    if (!m.frames) {
      chunkRegion(region, headerEnd + m.offset, chunks);
      continue;
    }
    let off = 0;
    for (const len of m.frames) {
      const frame = region.subarray(off, off + len);
      chunks.push([headerEnd + m.offset + off, len, sha256Hex(frame), sha256Hex(Bun.zstdDecompressSync(frame))]);
      off += len;
    }
  }
  return { bundle: { sha256, length: f.size }, chunks, ...(manifest.compression ? { zstdLevel: manifest.compression.level } : {}) };
}

/** Where each chunk of local files lives: sha256 → {file, offset, length}. */
export async function chunkFiles(files: string[]): Promise<Map<string, { file: string; offset: number; length: number }>> {
  const map = new Map<string, { file: string; offset: number; length: number }>();
  for (const file of files) {
    const buf = new Uint8Array(await Bun.file(file).arrayBuffer());
    const cs: Chunk[] = [];
    chunkRegion(buf, 0, cs);
    for (const [offset, length, h] of cs) if (!map.has(h)) map.set(h, { file, offset, length });
  }
  return map;
}
