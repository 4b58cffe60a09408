/**
 * Resumable, bounded bundle download, full or delta. The partial file (download/SHA.part) is
 * appended to and fsynced as it grows, so a power cut costs at most the last unsynced piece;
 * on resume the file is cut back to a chunk boundary and continued with a Range request.
 * Nothing is read past the length the signed targets declare (endless-data attack), and the
 * finished file must have the signed SHA-256 before anyone unpacks it.
 *
 * Delta: central publishes the bundle's content-defined chunk index; chunks the running slot
 * already has are copied locally, only the others are fetched (runs of missing chunks in one
 * Range request).
 */
import { promises as fs } from "node:fs";
import path from "node:path";
import { chunkFiles, localKey, type ChunkIndex } from "../chunk.ts";
import { hashFile, sha256Hex, syncDir } from "../fsutil.ts";
import { UpdateError } from "../meta.ts";
import type { UpdateSource } from "./source.ts";

export interface DownloadOptions {
  source: UpdateSource;
  version: string;
  bundle: { sha256: string; length: number };
  dir: string;
  /** Files of the running slot, for delta; empty = full download. */
  localFiles: string[];
  onProgress?: (p: { done: number; total: number; fetched: number }) => void;
  /** Test hook: called after each piece is written and synced. */
  onPiece?: (done: number) => void;
}

export interface DownloadResult {
  file: string;
  bytesFetched: number;
  bytesSaved: number;
  delta: boolean;
}

const SYNC_EVERY = 4 * 1024 * 1024;
const MAX_RANGE = 8 * 1024 * 1024;

export async function downloadBundle(o: DownloadOptions): Promise<DownloadResult> {
  await fs.mkdir(o.dir, { recursive: true, mode: 0o700 });
  const done = path.join(o.dir, `${o.bundle.sha256}.bundle`);
  const part = path.join(o.dir, `${o.bundle.sha256}.part`);
  if (await exists(done)) {
    const h = await hashFile(done, o.bundle.length + 1);
    if (h.sha256 === o.bundle.sha256 && h.length === o.bundle.length) return { file: done, bytesFetched: 0, bytesSaved: o.bundle.length, delta: false };
    await fs.rm(done, { force: true });
  }
  // Old downloads of other releases are dead weight on a small disk.
  for (const f of await fs.readdir(o.dir)) if (!f.startsWith(o.bundle.sha256)) await fs.rm(path.join(o.dir, f), { force: true, recursive: true });

  let index: ChunkIndex | null = null;
  if (o.localFiles.length) {
    index = await o.source.chunks(o.version).catch(() => null);
    if (index && !validIndex(index, o.bundle)) index = null;
  }
  const w = new PartWriter(part);
  await w.open();
  let fetched = 0;
  try {
    if (w.size > o.bundle.length) await w.truncate(0);
    if (index) {
      const local = await chunkFiles(o.localFiles);
      const chunks = index.chunks;
      let i = chunks.findIndex(([off, len]) => off + len > w.size);
      if (i < 0) i = chunks.length;
      await w.truncate(i < chunks.length ? chunks[i]![0] : o.bundle.length);
      while (i < chunks.length) {
        const [off, len, h] = chunks[i]!;
        const have = local.get(localKey(chunks[i]!));
        if (have) {
          const fh = await fs.open(have.file, "r");
          const raw = Buffer.alloc(have.length);
          try {
            await fh.read(raw, 0, have.length, have.offset);
          } finally {
            await fh.close();
          }
          // A compressed chunk (bundle format 2): the same zstd at the same level gives the same frame.
          const buf = chunks[i]!.length === 4 ? Bun.zstdCompressSync(raw, { level: index.zstdLevel! }) : raw;
          if (buf.byteLength === len && sha256Hex(buf) === h) {
            await w.append(buf);
            i++;
            o.onProgress?.({ done: w.size, total: o.bundle.length, fetched });
            continue;
          }
        }
        // A run of chunks the slot lacks: one Range request.
        let j = i;
        let end = off;
        while (j < chunks.length && !local.has(localKey(chunks[j]!)) && end - off < MAX_RANGE) {
          end = chunks[j]![0] + chunks[j]![1];
          j++;
        }
        if (j === i) {
          end = off + len;
          j = i + 1;
        }
        const bytes = await readRange(o.source, o.version, off, end);
        fetched += bytes.byteLength;
        let p = 0;
        for (let k = i; k < j; k++) {
          const [, l, hh] = chunks[k]!;
          const piece = bytes.subarray(p, p + l);
          if (sha256Hex(piece) !== hh) throw new UpdateError("hash-mismatch", `delta chunk at ${chunks[k]![0]} does not match the chunk index`);
          await w.append(piece);
          p += l;
        }
        i = j;
        o.onPiece?.(w.size);
        o.onProgress?.({ done: w.size, total: o.bundle.length, fetched });
      }
    } else {
      while (w.size < o.bundle.length) {
        const start = w.size;
        const end = Math.min(o.bundle.length, start + MAX_RANGE);
        const stream = await o.source.range(o.version, start, o.bundle.length);
        await pump(stream, w, o.bundle.length - start, (n) => {
          fetched += n;
          o.onProgress?.({ done: w.size, total: o.bundle.length, fetched });
          if (w.size >= end) o.onPiece?.(w.size);
        });
      }
    }
    await w.close();
  } catch (e) {
    await w.close().catch(() => {});
    throw e;
  }
  const h = await hashFile(part, o.bundle.length + 1);
  if (h.length !== o.bundle.length || h.sha256 !== o.bundle.sha256) {
    await fs.rm(part, { force: true });
    throw new UpdateError("hash-mismatch", `downloaded bundle has SHA-256 ${h.sha256.slice(0, 12)}… and ${h.length} bytes; the signed targets say ${o.bundle.sha256.slice(0, 12)}… and ${o.bundle.length}`);
  }
  await fs.rename(part, done);
  await syncDir(o.dir);
  return { file: done, bytesFetched: fetched, bytesSaved: Math.max(0, o.bundle.length - fetched), delta: index !== null };
}

function validIndex(ix: ChunkIndex, b: { sha256: string; length: number }): boolean {
  if (!ix || ix.bundle?.sha256 !== b.sha256 || ix.bundle.length !== b.length || !Array.isArray(ix.chunks)) return false;
  let at = 0;
  for (const c of ix.chunks) {
    if (!Array.isArray(c) || c[0] !== at || !(c[1] > 0) || typeof c[2] !== "string") return false;
    if (c.length === 4 && (typeof c[3] !== "string" || !Number.isInteger(ix.zstdLevel) || ix.zstdLevel! < 1 || ix.zstdLevel! > 22)) return false;
    at += c[1];
  }
  return at === b.length;
}

async function readRange(src: UpdateSource, version: string, start: number, end: number): Promise<Uint8Array> {
  const out = new Uint8Array(end - start);
  let n = 0;
  const stream = await src.range(version, start, end);
  const reader = stream.getReader();
  try {
    while (n < out.byteLength) {
      const { value, done } = await reader.read();
      if (done) break;
      const take = Math.min(value.byteLength, out.byteLength - n);
      out.set(value.subarray(0, take), n);
      n += take;
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
  if (n < out.byteLength) throw new UpdateError("io", `range ${start}-${end - 1} ended after ${n} bytes`);
  return out;
}

/** Copies at most `limit` bytes of `stream` into the part file, then stops reading whatever comes. */
async function pump(stream: ReadableStream<Uint8Array>, w: PartWriter, limit: number, onBytes: (n: number) => void): Promise<void> {
  const reader = stream.getReader();
  let n = 0;
  try {
    while (n < limit) {
      const { value, done } = await reader.read();
      if (done) break;
      const take = Math.min(value.byteLength, limit - n);
      await w.append(value.subarray(0, take));
      n += take;
      onBytes(take);
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
  if (n < limit) {
    await w.sync();
    throw new UpdateError("io", `download interrupted after ${n} of ${limit} bytes (resumable)`);
  }
}

class PartWriter {
  size = 0;
  private fh: fs.FileHandle | null = null;
  private unsynced = 0;
  constructor(private readonly file: string) {}
  async open() {
    this.fh = await fs.open(this.file, "a+");
    this.size = (await this.fh.stat()).size;
  }
  async truncate(n: number) {
    if (n < this.size) {
      await this.fh!.truncate(n);
      this.size = n;
    }
  }
  async append(b: Uint8Array) {
    await this.fh!.write(b, 0, b.byteLength, this.size);
    this.size += b.byteLength;
    this.unsynced += b.byteLength;
    if (this.unsynced >= SYNC_EVERY) await this.sync();
  }
  async sync() {
    await this.fh?.sync();
    this.unsynced = 0;
  }
  async close() {
    if (!this.fh) return;
    await this.fh.sync();
    await this.fh.close();
    this.fh = null;
  }
}

async function exists(f: string): Promise<boolean> {
  return fs.stat(f).then(
    () => true,
    () => false,
  );
}
