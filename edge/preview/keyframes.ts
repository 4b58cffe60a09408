/**
 * The keyframes of a recorded segment, as stored: for each fragment whose video run starts
 * with a sync sample, that sample's bytes (AVCC/HVCC, no start codes) and its media time, plus
 * the track's decoder configuration (avcC/hvcC body). Nothing is decoded here.
 */
import { open, type FileHandle } from "node:fs/promises";
import { boxes, children, findChild, findPath, parseFragment, parseInit, readBox, scanSegment, view, type Box, type FragEntry, type FragmentInfo, type InitInfo } from "../../lib/mp4/index.ts";

export interface SegmentKeyframes {
  codec: "h264" | "h265";
  /** avcC / hvcC box body: what the decoder's caps call codec_data. */
  codecData: Uint8Array;
  width: number;
  height: number;
  /**
   * Each keyframe: its offset from the segment's first video sample (ms, ascending), where its
   * bytes lie in the file (`at`, `size`), and the bytes themselves unless the caller asked for
   * positions only (the decoder then reads them from the file: see KeyframeDecoder).
   */
  keyframes: { offsetMs: number; at: number; size: number; data?: Uint8Array }[];
  /** Media duration of the segment's video, ms. */
  durationMs: number;
}

/** null when the segment has no H.264/H.265 video (audio only, MJPEG refused at ingest, torn). */
export function segmentKeyframes(buf: Uint8Array): SegmentKeyframes | null {
  const scan = scanSegment(buf);
  const video = scan.init?.video;
  if (!scan.init || !video || !video.width || !video.height) return null;
  const config = decoderConfig(buf.subarray(0, scan.initSize), video.trackId);
  if (!config) return null;
  const ts = video.timescale || 90_000;
  const dv = view(buf);
  let first: number | undefined;
  const keyframes: SegmentKeyframes["keyframes"] = [];
  for (const f of scan.fragments) {
    const run = f.info.runs.find((r) => r.trackId === video.trackId);
    if (!run) continue;
    first ??= run.baseDecodeTime;
    if (!run.startsWithSync) continue;
    const r = firstSampleRange(buf, dv, f.offset, video.trackId, video.defaultSampleSize);
    if (r && r.start + r.size <= buf.length) keyframes.push({ offsetMs: Math.round(((run.baseDecodeTime - first) * 1000) / ts), at: r.start, size: r.size, data: buf.subarray(r.start, r.start + r.size) });
  }
  return { codec: config.codec, codecData: config.data, width: video.width, height: video.height, keyframes, durationMs: scan.durationMs };
}

function decoderConfig(init: Uint8Array, trackId: number): { codec: "h264" | "h265"; data: Uint8Array } | null {
  const dv = view(init);
  for (const moov of boxes(init)) {
    if (moov.type !== "moov") continue;
    for (const trak of children(init, moov)) {
      if (trak.type !== "trak") continue;
      const tkhd = findChild(init, trak, "tkhd");
      if (!tkhd) continue;
      const v = init[tkhd.start + tkhd.headerSize]!;
      if (dv.getUint32(tkhd.start + tkhd.headerSize + (v === 1 ? 20 : 12)) !== trackId) continue;
      const stsd = findPath(init, trak, ["mdia", "minf", "stbl", "stsd"]);
      if (!stsd) return null;
      const entry = boxes(init, stsd.start + stsd.headerSize + 8, stsd.start + stsd.size).next().value as Box | undefined;
      if (!entry) return null;
      for (const c of boxes(init, entry.start + entry.headerSize + 78, entry.start + entry.size)) {
        if (c.type === "avcC") return { codec: "h264", data: init.slice(c.start + c.headerSize, c.start + c.size) };
        if (c.type === "hvcC") return { codec: "h265", data: init.slice(c.start + c.headerSize, c.start + c.size) };
      }
      return null;
    }
  }
  return null;
}

/**
 * Where the first sample of `trackId` in the fragment (moof at `at` in `buf`) lies, as an offset
 * in the same coordinates as `at` and a size; data offsets are moof-relative, as our muxers
 * write them. Only the moof must be in `buf`: the sample may lie beyond it.
 */
function firstSampleRange(buf: Uint8Array, dv: DataView, at: number, trackId: number, trexSize: number): { start: number; size: number } | null {
  const moof = boxes(buf, at).next().value as Box | undefined;
  if (!moof || moof.type !== "moof") return null;
  for (const traf of children(buf, moof)) {
    if (traf.type !== "traf") continue;
    const tfhd = findChild(buf, traf, "tfhd");
    if (!tfhd) continue;
    let p = tfhd.start + tfhd.headerSize;
    const tfFlags = dv.getUint32(p) & 0xffffff;
    if (dv.getUint32(p + 4) !== trackId) continue;
    p += 8;
    // Absolute base offsets refer to the stream the fragment was cut from, not this file.
    if (tfFlags & 0x1) return null;
    const base = moof.start;
    if (tfFlags & 0x2) p += 4;
    if (tfFlags & 0x8) p += 4;
    let size = trexSize;
    if (tfFlags & 0x10) size = dv.getUint32(p);
    const trun = findChild(buf, traf, "trun");
    if (!trun) return null;
    let q = trun.start + trun.headerSize;
    const flags = dv.getUint32(q) & 0xffffff;
    q += 8;
    let dataOffset = 0;
    if (flags & 0x1) (dataOffset = dv.getInt32(q)), (q += 4);
    if (flags & 0x4) q += 4;
    if (flags & 0x100) q += 4;
    if (flags & 0x200) size = dv.getUint32(q);
    const start = base + dataOffset;
    if (!size || start < 0) return null;
    return { start, size };
  }
  return null;
}

/**
 * segmentKeyframes of a file, reading only its init segment, its moof boxes and the keyframes
 * themselves (positional reads), never the whole file: a one-minute segment at 2 Mbit/s is
 * ~15 MB, its keyframes a fraction of that, and a whole-file read per segment set the edge's
 * resident memory (the allocator keeps what it once held). Same answer as segmentKeyframes
 * over the whole file (keyframes.test.ts), a torn tail included. `data: false`: positions
 * only, the keyframes' bytes are not read.
 */
export async function segmentKeyframesOfFile(path: string, opts: { data?: boolean } = {}): Promise<SegmentKeyframes | null> {
  const withData = opts.data ?? true;
  const fh = await open(path, "r");
  try {
    const fileSize = (await fh.stat()).size;
    const read = windowedReads(fh);
    let off = 0;
    let init: InitInfo | null = null;
    let initBytes: Uint8Array | null = null;
    let moof: { at: number; bytes: Uint8Array } | null = null;
    const fragments: { at: number; moof: Uint8Array; info: FragmentInfo }[] = [];
    for (;;) {
      const head = await read(off, Math.min(16, fileSize - off));
      let box: Box | null;
      try {
        box = head ? readBox(head, 0, head.length, false) : null;
      } catch {
        break;
      }
      // Size 0 = "to the end of the file" (readBox saw only the head); a box cut by the end of
      // the file is torn: scanSegment stops there too.
      if (box && head && head[0] === 0 && head[1] === 0 && head[2] === 0 && head[3] === 0) box = { ...box, size: fileSize - off };
      if (!box || off + box.size > fileSize) break;
      if (box.type === "moov") {
        initBytes = await read(0, off + box.size);
        if (!initBytes) break;
        init = parseInit(initBytes);
      } else if (box.type === "moof") {
        const bytes = await read(off, box.size);
        if (!bytes) break;
        moof = { at: off, bytes };
      } else if (box.type === "mdat" && moof && init) {
        try {
          fragments.push({ at: moof.at, moof: moof.bytes, info: parseFragment(moof.bytes, init) });
        } catch {
          break;
        }
        moof = null;
      }
      off += box.size;
    }
    const video = init?.video;
    if (!init || !initBytes || !video || !video.width || !video.height) return null;
    const config = decoderConfig(initBytes, video.trackId);
    if (!config) return null;
    const ts = video.timescale || 90_000;
    let first: number | undefined;
    const keyframes: SegmentKeyframes["keyframes"] = [];
    for (const f of fragments) {
      const run = f.info.runs.find((r) => r.trackId === video.trackId);
      if (!run) continue;
      first ??= run.baseDecodeTime;
      if (!run.startsWithSync) continue;
      const r = firstSampleRange(f.moof, view(f.moof), 0, video.trackId, video.defaultSampleSize);
      if (!r || f.at + r.start + r.size > fileSize) continue;
      const at = f.at + r.start;
      const offsetMs = Math.round(((run.baseDecodeTime - first) * 1000) / ts);
      if (!withData) {
        keyframes.push({ offsetMs, at, size: r.size });
        continue;
      }
      const data = await read(at, r.size);
      if (data) keyframes.push({ offsetMs, at, size: r.size, data });
    }
    const timed = fragments.filter((f) => f.info.hasReferenceTrack);
    const a = timed[0]?.info;
    const z = timed[timed.length - 1]?.info;
    return { codec: config.codec, codecData: config.data, width: video.width, height: video.height, keyframes, durationMs: a && z ? z.startMs + z.durationMs - a.startMs : 0 };
  } finally {
    await fh.close();
  }
}

/**
 * segmentKeyframesOfFile for a committed segment whose fragment table the index holds
 * (lib/mp4/fragtable.ts: where each fragment lies, its media time, whether it starts with a
 * keyframe): reads the init segment and the keyframe fragments' moofs only, instead of walking
 * every box of the file. The walk parsed ~180 moofs per minute at 2 Mbit/s into objects that
 * are garbage at once, a burst at every segment close whose heap peak the recorder kept.
 * Positions only (the decoder reads the keyframes' bytes itself). null when the table does not
 * fit the file (the caller then walks the file).
 */
export async function segmentKeyframesFromTable(path: string, table: { initLen: number; frags: readonly FragEntry[] }): Promise<SegmentKeyframes | null> {
  const fh = await open(path, "r");
  try {
    const read = windowedReads(fh);
    const initBytes = await readAt(fh, 0, table.initLen);
    if (!initBytes) return null;
    const init = parseInit(initBytes);
    const video = init.video;
    if (!video || !video.width || !video.height) return null;
    const config = decoderConfig(initBytes, video.trackId);
    if (!config) return null;
    const timed = table.frags.filter((f) => f.frames > 0);
    const first = timed[0];
    const keyframes: SegmentKeyframes["keyframes"] = [];
    for (const f of timed) {
      if (!f.keyframe) continue;
      const head = await read(f.offset, 8);
      if (!head) return null;
      const moofSize = new DataView(head.buffer, head.byteOffset, 8).getUint32(0);
      if (moofSize < 8 || moofSize > f.size) return null;
      const moof = await read(f.offset, moofSize);
      if (!moof) return null;
      const r = firstSampleRange(moof, view(moof), 0, video.trackId, video.defaultSampleSize);
      if (!r || r.start + r.size > f.size) continue;
      keyframes.push({ offsetMs: Math.round(f.mediaStartMs - first!.mediaStartMs), at: f.offset + r.start, size: r.size });
    }
    const last = timed[timed.length - 1];
    return { codec: config.codec, codecData: config.data, width: video.width, height: video.height, keyframes, durationMs: first && last ? last.mediaStartMs + last.durationMs - first.mediaStartMs : 0 };
  } finally {
    await fh.close();
  }
}

/**
 * Bytes per read when walking a segment's boxes. A fragment's moof (a few hundred bytes), the
 * mdat head after it and often its keyframe come from one read at the moof: each read is a
 * round trip through the runtime's thread pool (≈ 25 µs of CPU each, more than the bytes), and
 * reading the heads one by one took ~3 reads per fragment (≈ 600 for a minute at 2 Mbit/s).
 */
const WINDOW_BYTES = 16 * 1024;

/**
 * readAt through one window of WINDOW_BYTES: a request inside the window is served from it
 * (copied: callers keep moofs and keyframes after the window moves on), any other refills it
 * at the request's start; a request larger than the window is read on its own.
 */
function windowedReads(fh: FileHandle): (pos: number, len: number) => Promise<Uint8Array | null> {
  const win = new Uint8Array(WINDOW_BYTES);
  let winAt = 0;
  let winLen = 0;
  return async (pos, len) => {
    if (len <= 0) return null;
    if (len > WINDOW_BYTES) return readAt(fh, pos, len);
    if (pos < winAt || pos + len > winAt + winLen) {
      winAt = pos;
      winLen = 0;
      for (;;) {
        const { bytesRead } = await fh.read(win, winLen, WINDOW_BYTES - winLen, pos + winLen);
        if (bytesRead === 0) break;
        winLen += bytesRead;
        if (winLen >= len) break; // what was asked for is in; the rest of the window is a bonus
      }
      if (winLen < len) return null;
    }
    return win.slice(pos - winAt, pos - winAt + len);
  };
}

/** `len` bytes at `pos`, or null when the file has fewer. */
async function readAt(fh: FileHandle, pos: number, len: number): Promise<Uint8Array | null> {
  if (len <= 0) return null;
  const buf = new Uint8Array(len);
  let got = 0;
  while (got < len) {
    const { bytesRead } = await fh.read(buf, got, len - got, pos + got);
    if (bytesRead === 0) return null;
    got += bytesRead;
  }
  return buf;
}
