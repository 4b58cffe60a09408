/**
 * Reading segment files as the recorder left them: listing the media tree, and describing
 * one file (playable prefix, duration, hash) the same way the writer computed its row, so a
 * rebuilt index equals the one written live.
 */
import { readdir, stat } from "node:fs/promises";
import { join } from "node:path";
import { isAtomicTmp } from "../fsutil.ts";
import { encodeFragmentTable, fragmentTableOf, scanSegment, type ScanResult } from "../mp4/index.ts";
import type { SegmentRecord } from "./types.ts";
import { MEDIA_DIR, parseSegmentPath, previewSegmentPath, segmentId } from "./layout.ts";

export interface DiskFile {
  path: string; // relative to root
  /** Bytes; -1 when listed with `sizes: false`. */
  size: number;
}

/**
 * Every file under media/, split into well-named segment files, their previews and anything else.
 * `sizes: false` skips the stat of each segment file (it costs ~25 µs a file, nearly all of a walk);
 * `cameras` limits the walk to those cameras' folders (a node recovering the sites it took over).
 */
export async function listMedia(root: string, opts: { sizes?: boolean; cameras?: (cameraId: string) => boolean } = {}): Promise<{ segments: DiskFile[]; previews: string[]; temps: string[]; strays: string[] }> {
  const cameras = opts.cameras;
  const segments: DiskFile[] = [];
  const previews: string[] = [];
  /** Leftovers of an atomic write a crash interrupted (a preview sidecar's tmp file): garbage. */
  const temps: string[] = [];
  const strays: string[] = [];
  const walk = async (rel: string, depth: number): Promise<void> => {
    let entries;
    try {
      entries = await readdir(join(root, rel), { withFileTypes: true });
    } catch (e) {
      if ((e as { code?: string }).code === "ENOENT") return;
      throw e;
    }
    for (const e of entries) {
      const child = `${rel}/${e.name}`;
      if (cameras && depth === 0 && !cameras(e.name)) continue;
      if (e.isDirectory() && depth < 3) await walk(child, depth + 1);
      else if (e.isFile() && depth === 3 && parseSegmentPath(child)) segments.push({ path: child, size: opts.sizes === false ? -1 : (await stat(join(root, child))).size });
      else if (e.isFile() && depth === 3 && previewSegmentPath(child)) previews.push(child);
      else if (e.isFile() && depth === 3 && isAtomicTmp(e.name)) temps.push(child);
      else strays.push(child);
    }
  };
  await walk(MEDIA_DIR, 0);
  segments.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return { segments, previews, temps, strays };
}

export interface Described {
  scan: ScanResult;
  size: number;
  /** Row for the playable prefix, or null when nothing in the file can be played. */
  record: SegmentRecord | null;
  /** The row's fragment table (encoded), as the writer stores it at commit; null if none can be stored. */
  frags: Uint8Array | null;
}

export function describe(rel: string, buf: Uint8Array): Described {
  const who = parseSegmentPath(rel);
  const scan = scanSegment(buf);
  if (!who || !scan.init || !scan.hasKeyframe || scan.fragments.length === 0) return { scan, size: buf.length, record: null, frags: null };
  const hasher = new Bun.CryptoHasher("sha256");
  hasher.update(buf.subarray(0, scan.playableBytes));
  const rec: SegmentRecord = {
    id: segmentId(who.cameraId, who.stream, who.startMs),
    cameraId: who.cameraId,
    stream: who.stream,
    startMs: who.startMs,
    endMs: who.startMs + Math.round(mediaSpan(scan)),
    bytes: scan.playableBytes,
    path: rel,
    mime: scan.init.mime,
    sha256: hasher.digest("hex"),
  };
  if (scan.init.video?.width) rec.width = scan.init.video.width;
  if (scan.init.video?.height) rec.height = scan.init.video.height;
  // The same walk playback does over the file, so the stored table equals a fresh scan.
  const frags = encodeFragmentTable(scan.initSize, fragmentTableOf(buf, scan.init, scan.initSize, scan.playableBytes));
  return { scan, size: buf.length, record: rec, frags };
}

/** Same arithmetic as the writer: last fragment end minus first fragment start, media ms. */
export function mediaSpan(scan: ScanResult): number {
  const first = scan.fragments[0];
  const last = scan.fragments[scan.fragments.length - 1];
  return first && last ? last.info.startMs + last.info.durationMs - first.info.startMs : 0;
}

export async function readWhole(path: string): Promise<Uint8Array> {
  return new Uint8Array(await Bun.file(path).arrayBuffer());
}
