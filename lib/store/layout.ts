/**
 * Where things live under a store root, and the few durable-write primitives everything
 * else uses. The file name of a segment carries its wall-clock start, so the index can be
 * rebuilt from the directory tree alone.
 */
import { mkdir, unlink } from "node:fs/promises";
import { dirname, join } from "node:path";
import type { StreamKind } from "./types.ts";
import { StoreInputError } from "./errors.ts";
import { appendFileDurable, fsyncDir, writeFileAtomic } from "../fsutil.ts";

export const INDEX_FILE = "index.sqlite";
/** The DuckDB index of earlier versions: migrated on the first start (lib/store/store.ts), read by central's legacy import. */
export const LEGACY_INDEX_FILE = "index.duckdb";
export const CLEAN_FILE = "CLEAN";
export const MEDIA_DIR = "media";
export const GAPS_DIR = "gaps";
export const LOCKS_DIR = "locks";

const CAMERA_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

export function isCameraId(id: unknown): id is string {
  return typeof id === "string" && CAMERA_ID.test(id) && !id.includes("..");
}

export function isStream(s: unknown): s is StreamKind {
  return s === "main" || s === "sub";
}

/** Camera ids become directory names: refuse anything that could escape the root. */
export function checkCameraId(id: unknown): string {
  if (!isCameraId(id)) throw new StoreInputError(`invalid camera id ${JSON.stringify(id)}: use letters, digits, '.', '_' or '-' (max 128)`);
  return id;
}

export function checkStream(s: unknown): StreamKind {
  if (!isStream(s)) throw new StoreInputError(`invalid stream ${JSON.stringify(s)}: expected "main" or "sub"`);
  return s;
}

const dayNames = new Map<number, string>();

/** UTC day folder name; cached because timeline queries derive tens of thousands of paths. */
function dayOf(ms: number): string {
  const d = Math.floor(ms / 86_400_000);
  let name = dayNames.get(d);
  if (name === undefined) {
    name = new Date(d * 86_400_000).toISOString().slice(0, 10);
    if (dayNames.size > 10_000) dayNames.clear();
    dayNames.set(d, name);
  }
  return name;
}

export function segmentRelPath(cameraId: string, stream: StreamKind, startMs: number): string {
  return `${MEDIA_DIR}/${cameraId}/${stream}/${dayOf(startMs)}/${startMs}.mp4`;
}

export function segmentId(cameraId: string, stream: StreamKind, startMs: number): string {
  return `${cameraId}/${stream}/${startMs}`;
}

/**
 * A segment's preview (thumbnails + activity, lib/preview) lives beside it and goes with it:
 * retention deletes both, recovery drops a preview whose segment is gone, re-filing moves both.
 */
export function previewRelPath(segmentRel: string): string {
  return segmentRel.replace(/\.mp4$/, ".preview");
}

/** The segment a preview file belongs to (null: not a preview name of ours). */
export function previewSegmentPath(rel: string): string | null {
  if (!rel.endsWith(".preview")) return null;
  const seg = rel.slice(0, -".preview".length) + ".mp4";
  return parseSegmentPath(seg) ? seg : null;
}

/** Inverse of segmentRelPath; null for anything that is not a segment file of ours. */
export function parseSegmentPath(rel: string): { cameraId: string; stream: StreamKind; startMs: number } | null {
  const m = /^media\/([^/]+)\/(main|sub)\/(\d{4}-\d{2}-\d{2})\/(\d+)\.mp4$/.exec(rel);
  if (!m || !isCameraId(m[1])) return null;
  const startMs = Number(m[4]);
  if (!Number.isSafeInteger(startMs) || new Date(startMs).toISOString().slice(0, 10) !== m[3]) return null;
  return { cameraId: m[1]!, stream: m[2] as StreamKind, startMs };
}

export function gapsRelPath(cameraId: string, stream: StreamKind): string {
  return `${GAPS_DIR}/${cameraId}.${stream}.jsonl`;
}

export function parseGapsFile(name: string): { cameraId: string; stream: StreamKind } | null {
  const m = /^(.+)\.(main|sub)\.jsonl$/.exec(name);
  return m && isCameraId(m[1]) ? { cameraId: m[1]!, stream: m[2] as StreamKind } : null;
}

export function lockRelPath(id: string): string {
  return `${LOCKS_DIR}/${id}.json`;
}

export { fsyncDir } from "../fsutil.ts";

/** mkdir -p that also fsyncs each parent whose entry it created, so a new directory survives power loss. */
export async function mkdirDurable(dir: string): Promise<void> {
  const first = await mkdir(dir, { recursive: true, mode: 0o700 });
  if (!first) return;
  let d = dir;
  const made: string[] = [];
  while (d.length >= first.length) {
    made.push(d);
    d = dirname(d);
  }
  for (const m of made) await fsyncDir(dirname(m));
}

/** Whole-file replace (see lib/fsutil.ts); journal.ts sweeps the tmp files a crash leaves (isAtomicTmp). */
export async function writeFileDurable(path: string, data: string | Uint8Array): Promise<void> {
  await mkdirDurable(dirname(path));
  await writeFileAtomic(path, data);
}

/** Append one record and fsync; a torn last line is tolerated by readers. */
export async function appendDurable(path: string, line: string): Promise<void> {
  await mkdirDurable(dirname(path));
  await appendFileDurable(path, line);
}

export async function unlinkDurable(path: string): Promise<boolean> {
  try {
    await unlink(path);
  } catch (e) {
    if ((e as { code?: string }).code === "ENOENT") return false;
    throw e;
  }
  await fsyncDir(dirname(path));
  return true;
}

export function abs(root: string, rel: string): string {
  return join(root, rel);
}
