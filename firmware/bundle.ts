/**
 * The firmware bundle file: one deterministic byte stream so that the same inputs always give
 * the same SHA-256 (reproducible builds) and so that a delta can be planned per file.
 *
 *   "OUTPOSTFW1\n" | u32 BE header length | header (canonical JSON) | file bytes, in header order
 *
 * The header is the manifest: release version, build time (from SOURCE_DATE_EPOCH or the git
 * commit, never "now"), minimum version it may update from, and each file's name, mode, offset
 * (from the end of the header), length and SHA-256. Files are sorted by name; modes are normalised to 0755/0644; there are no
 * owners or mtimes, so nothing about the build machine leaks into the hash.
 *
 * Format 2 (compressed, what the appliance build writes): each file is cut into the same
 * content-defined chunks as the delta planner uses (chunk.ts) and each chunk is stored as its
 * own zstd frame; the file entry adds `stored` (bytes in the bundle) and `frames` (each frame's
 * length). `length`/`sha256` stay those of the installed (decompressed) file, so the signed
 * targets still cover exactly what is installed, and the bundle's own SHA-256 covers the
 * compressed bytes that travel. One frame per chunk keeps delta updates working: the edge
 * compresses a chunk it already has and gets the same frame (same level, same zstd).
 */
import { promises as fs } from "node:fs";
import path from "node:path";
import { canonical, UpdateError, type FileEntry, type TargetsSigned } from "./meta.ts";
import { fsyncFile, hashFile, sha256Hex, syncDir } from "./fsutil.ts";
import { cutPoints, MAX_CHUNK } from "./chunk.ts";

export const MAGIC = "OUTPOSTFW1\n";

export interface ManifestFile {
  name: string;
  mode: number;
  offset: number;
  length: number;
  sha256: string;
  /** Format 2: bytes this file takes in the bundle (its zstd frames). */
  stored?: number;
  /** Format 2: length of each zstd frame (one per content-defined chunk of the file). */
  frames?: number[];
}

export interface Manifest {
  format: 1 | 2;
  /** Format 2: how the files are compressed. */
  compression?: { algo: "zstd"; level: number };
  version: string;
  builtAt: string;
  minFromVersion: string;
  files: ManifestFile[];
}

export interface BundleInput {
  version: string;
  builtAt: string;
  minFromVersion: string;
  /** `source` is a file path or the bytes themselves. */
  files: { name: string; source: string | Uint8Array; executable?: boolean }[];
  /** Format 2: store each file as zstd frames, one per content-defined chunk. */
  compress?: { level: number };
}

/** Bytes a file takes in the bundle. */
export const storedLength = (f: ManifestFile): number => f.stored ?? f.length;

/** One zstd frame per content-defined chunk of `raw` (deterministic for one zstd and level). */
export function compressChunks(raw: Uint8Array, level: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  let off = 0;
  for (const len of cutPoints(raw)) {
    out.push(Bun.zstdCompressSync(raw.subarray(off, off + len), { level }));
    off += len;
  }
  return out;
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;

export async function writeBundle(input: BundleInput, outFile: string): Promise<{ manifest: Manifest; sha256: string; length: number }> {
  const files = [...input.files].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const entries: Omit<ManifestFile, "offset">[] = [];
  const compressed = new Map<string, Uint8Array[]>();
  for (const f of files) {
    if (!NAME.test(f.name)) throw new UpdateError("bad-metadata", `bundle file name '${f.name}' is not allowed (plain names only, no directories)`);
    if (input.compress) {
      const raw = typeof f.source === "string" ? new Uint8Array(await Bun.file(f.source).arrayBuffer()) : f.source;
      const frames = compressChunks(raw, input.compress.level);
      compressed.set(f.name, frames);
      const lens = frames.map((x) => x.byteLength);
      entries.push({ name: f.name, mode: f.executable ? 0o755 : 0o644, length: raw.byteLength, sha256: sha256Hex(raw), stored: lens.reduce((a, b) => a + b, 0), frames: lens });
      continue;
    }
    const h = typeof f.source === "string" ? await hashFile(f.source) : { sha256: sha256Hex(f.source), length: f.source.byteLength };
    entries.push({ name: f.name, mode: f.executable ? 0o755 : 0o644, length: h.length, sha256: h.sha256 });
  }
  if (new Set(entries.map((e) => e.name)).size !== entries.length) throw new UpdateError("bad-metadata", "duplicate file name in bundle");
  let offset = 0;
  const withOffsets: ManifestFile[] = entries.map((e) => {
    const m = { ...e, offset };
    offset += e.stored ?? e.length;
    return m;
  });
  const manifest: Manifest = input.compress
    ? { format: 2, compression: { algo: "zstd", level: input.compress.level }, version: input.version, builtAt: input.builtAt, minFromVersion: input.minFromVersion, files: withOffsets }
    : { format: 1, version: input.version, builtAt: input.builtAt, minFromVersion: input.minFromVersion, files: withOffsets };
  // Offsets count from the end of the header, so the header does not depend on its own length.
  const hdr = new TextEncoder().encode(canonical(manifest));
  const pre = new Uint8Array(MAGIC.length + 4);
  pre.set(new TextEncoder().encode(MAGIC));
  new DataView(pre.buffer).setUint32(MAGIC.length, hdr.byteLength);
  const start = pre.byteLength + hdr.byteLength;

  await fs.mkdir(path.dirname(outFile), { recursive: true });
  const tmp = `${outFile}.tmp-${process.pid}`;
  const w = Bun.file(tmp).writer();
  const hasher = new Bun.CryptoHasher("sha256");
  const put = (b: Uint8Array) => {
    w.write(b);
    hasher.update(b);
  };
  put(pre);
  put(hdr);
  for (const f of files) {
    const frames = compressed.get(f.name);
    if (frames) for (const x of frames) put(x);
    else if (typeof f.source !== "string") put(f.source);
    else for await (const c of Bun.file(f.source).stream()) put(c);
  }
  await w.end();
  await fsyncFile(tmp);
  await fs.rename(tmp, outFile);
  await syncDir(path.dirname(outFile));
  const length = start + offset;
  return { manifest, sha256: hasher.digest("hex"), length };
}

/** Reads and sanity-checks the header of a bundle file (untrusted until matched with signed targets). */
export async function readManifest(file: string): Promise<{ manifest: Manifest; headerEnd: number }> {
  const f = Bun.file(file);
  const pre = new Uint8Array(await f.slice(0, MAGIC.length + 4).arrayBuffer());
  if (pre.byteLength < MAGIC.length + 4 || new TextDecoder().decode(pre.subarray(0, MAGIC.length)) !== MAGIC) throw new UpdateError("bad-metadata", `${file} is not an Outpost firmware bundle`);
  const len = new DataView(pre.buffer).getUint32(MAGIC.length);
  if (len > 1_000_000) throw new UpdateError("bad-metadata", "bundle header too large");
  const headerEnd = MAGIC.length + 4 + len;
  let manifest: Manifest;
  try {
    manifest = JSON.parse(await f.slice(MAGIC.length + 4, headerEnd).text()) as Manifest;
  } catch {
    throw new UpdateError("bad-metadata", "bundle header is not valid JSON");
  }
  if ((manifest.format !== 1 && manifest.format !== 2) || !Array.isArray(manifest.files)) throw new UpdateError("bad-metadata", "unknown bundle format");
  if (manifest.format === 2) {
    if (manifest.compression?.algo !== "zstd") throw new UpdateError("bad-metadata", "unknown bundle compression");
    for (const f of manifest.files) {
      if (!Array.isArray(f.frames) || !f.frames.every((n) => Number.isInteger(n) && n > 0) || f.frames.reduce((a, b) => a + b, 0) !== f.stored) throw new UpdateError("bad-metadata", `${f.name}: bad frame table`);
    }
  }
  return { manifest, headerEnd };
}

/** The `files` map of targets metadata for a manifest. */
export function targetFiles(m: Manifest): Record<string, FileEntry> {
  const out: Record<string, FileEntry> = {};
  for (const f of m.files) out[f.name] = { length: f.length, sha256: f.sha256, mode: f.mode };
  return out;
}

/**
 * Unpacks a bundle whose SHA-256 already matched the signed targets into `dir`, checking every
 * file against the signed `files` map (not the bundle's own header), fsyncing each file and dir.
 */
export async function extractBundle(file: string, dir: string, targets: TargetsSigned): Promise<void> {
  const { manifest, headerEnd } = await readManifest(file);
  const names = Object.keys(targets.files).sort();
  if (canonical(manifest.files.map((f) => f.name).sort()) !== canonical(names)) throw new UpdateError("hash-mismatch", "bundle files differ from the signed targets (mix-and-match)");
  await fs.mkdir(dir, { recursive: true, mode: 0o700 });
  const src = Bun.file(file);
  for (const mf of manifest.files) {
    const want = targets.files[mf.name]!;
    if (want.length !== mf.length) throw new UpdateError("length-mismatch", `${mf.name}: length ${mf.length} in bundle, ${want.length} signed`);
    const out = path.join(dir, mf.name);
    const w = Bun.file(out).writer();
    const h = new Bun.CryptoHasher("sha256");
    const start = headerEnd + mf.offset;
    if (mf.frames) {
      // Frame by frame: memory stays at one chunk, whatever the file's size.
      let at = start;
      let n = 0;
      for (const len of mf.frames) {
        const raw = Bun.zstdDecompressSync(new Uint8Array(await src.slice(at, at + len).arrayBuffer()));
        at += len;
        n += raw.byteLength;
        if (raw.byteLength > MAX_CHUNK || n > want.length) throw new UpdateError("length-mismatch", `${mf.name}: decompresses past its signed length`);
        h.update(raw);
        w.write(raw);
      }
      if (n !== want.length) throw new UpdateError("length-mismatch", `${mf.name}: decompresses to ${n} bytes, ${want.length} signed`);
    } else {
      for await (const c of src.slice(start, start + mf.length).stream()) {
        h.update(c);
        w.write(c);
      }
    }
    await w.end();
    if (h.digest("hex") !== want.sha256) throw new UpdateError("hash-mismatch", `${mf.name}: SHA-256 differs from the signed targets`);
    // Owner bits only: a slot lives in the private data dir (0700 dirs, 0600 files; issue 12).
    await fs.chmod(out, (want.mode ?? 0o644) & 0o700);
    await fsyncFile(out);
  }
  await syncDir(dir);
}
