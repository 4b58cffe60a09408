/**
 * A segment file's fragment table: for every whole fragment (moof + mdat), its byte position
 * and timing — what playback needs to map any byte range of a window without reading the file.
 * One walk (`walkFragments`) serves the playback scan of a file and the index rebuild from a
 * buffer; the recorder builds the same entries as it writes (`fragmentEntry`), so a table
 * written live equals one rebuilt from disk. The compact encoding (~8 B per fragment) is what
 * the index stores per segment.
 */
import { boxes, children, findChild, readBox } from "./box.ts";
import { parseFragment } from "./fragment.ts";
import type { InitInfo } from "./init.ts";

export interface FragEntry {
  /** Byte offset and size (moof + mdat) in the segment file. */
  offset: number;
  size: number;
  /** Bytes retimeFragment adds (32-bit tfdt rewritten as 64-bit: 4 per traf). */
  grow: number;
  /** Media time of the reference track, ms. */
  mediaStartMs: number;
  durationMs: number;
  keyframe: boolean;
  /** Video samples (frames) in this fragment; 0 for audio-only streams. */
  frames: number;
  /** Timescale of the reference track (the times above are its ticks × 1000 ÷ this). */
  timescale: number;
}

/** The entry of one fragment: `moof` is the whole moof box, followed in the file by an mdat of `mdatSize` bytes at `offset + moof.length`. Throws on a malformed moof. */
export function fragmentEntry(moof: Uint8Array, mdatSize: number, offset: number, init: InitInfo): FragEntry {
  const info = parseFragment(moof, init);
  const videoId = init.video?.trackId;
  const ref = (videoId !== undefined ? info.runs.find((r) => r.trackId === videoId) : undefined) ?? info.runs[0];
  return {
    offset,
    size: moof.length + mdatSize,
    grow: tfdtGrowth(moof),
    mediaStartMs: info.startMs,
    durationMs: info.durationMs,
    keyframe: info.keyframe,
    frames: videoId === undefined ? 0 : (info.runs.find((r) => r.trackId === videoId)?.sampleCount ?? 0),
    timescale: init.tracks.find((t) => t.trackId === ref?.trackId)?.timescale || 1000,
  };
}

export function tfdtGrowth(moof: Uint8Array): number {
  let grow = 0;
  const root = boxes(moof).next().value;
  if (!root) return 0;
  for (const traf of children(moof, root)) {
    if (traf.type !== "traf") continue;
    const tfdt = findChild(moof, traf, "tfdt");
    if (tfdt && moof[tfdt.start + tfdt.headerSize] === 0) grow += 4;
  }
  return grow;
}

/** Reads `len` bytes at `pos` (fewer at the end); the result is only used until the next call. */
export type Pread = (pos: number, len: number) => Uint8Array;

const HEAD = 512;

/**
 * The whole fragments from `pos` (just after the init) up to `size`: moof boxes each followed
 * at once by a complete mdat; other boxes are skipped; the walk ends at the first torn or
 * malformed fragment. Entries are appended to `frags` (which `pread` may watch).
 */
export function walkFragments(pread: Pread, pos: number, size: number, init: InitInfo, frags: FragEntry[] = []): FragEntry[] {
  while (pos + 8 <= size) {
    let h = pread(pos, HEAD);
    const b = readBox(h, 0, h.length, false);
    if (!b) break;
    if (b.type !== "moof") {
      pos += b.size;
      continue;
    }
    if (b.size + 16 > h.length) h = pread(pos, b.size + 16);
    if (h.length < b.size + 8) break;
    const m = readBox(h, b.size, h.length, false);
    if (!m || m.type !== "mdat" || pos + b.size + m.size > size) break;
    try {
      frags.push(fragmentEntry(h.subarray(0, b.size), m.size, pos, init));
    } catch {
      break;
    }
    pos += b.size + m.size;
  }
  return frags;
}

/** Length of the init (everything up to and including moov) at the start of `buf`, or 0. */
export function initLength(buf: Uint8Array): number {
  let pos = 0;
  for (const b of boxes(buf)) {
    if (b.type === "moof") return 0;
    pos = b.start + b.size;
    if (b.type === "moov") return pos;
  }
  return 0;
}

/** The table of a file held in memory (index rebuild, import): the same walk playback does. */
export function fragmentTableOf(buf: Uint8Array, init: InitInfo, initLen: number, limit = buf.length): FragEntry[] {
  const size = Math.min(limit, buf.length);
  return walkFragments((pos, len) => buf.subarray(pos, Math.min(size, pos + len)), initLen, size, init);
}

// ── Encoding: version, init length, timescales, then per fragment
//    offset gap, size, flags (keyframe | grow/4 << 1 | timescale index << 4), frames,
//    start (ticks, zig-zag delta from the previous fragment's end on that timescale), duration.
//    Unsigned LEB128 varints.
const VERSION = 1;

class Writer {
  bytes: number[] = [];
  uint(n: number): void {
    if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`fragment table: ${n} is not a small unsigned integer`);
    while (n >= 0x80) {
      this.bytes.push((n % 0x80) | 0x80);
      n = Math.floor(n / 0x80);
    }
    this.bytes.push(n);
  }
  int(n: number): void {
    this.uint(n >= 0 ? n * 2 : -n * 2 - 1);
  }
}

/** Ticks of `ms` on `timescale`, if ms is exactly what those ticks give (else the entry cannot be stored). */
function ticksOf(ms: number, timescale: number): number | undefined {
  const t = Math.round((ms * timescale) / 1000);
  return Number.isSafeInteger(t) && (t * 1000) / timescale === ms ? t : undefined;
}

/**
 * Encodes a table; null when an entry cannot be stored exactly (then no table is kept and
 * playback scans the file, as for segments indexed before tables existed).
 */
export function encodeFragmentTable(initLen: number, frags: readonly FragEntry[]): Uint8Array | null {
  const w = new Writer();
  const scales: number[] = [];
  for (const f of frags) if (!scales.includes(f.timescale)) scales.push(f.timescale);
  try {
    w.uint(VERSION);
    w.uint(initLen);
    w.uint(scales.length);
    for (const s of scales) w.uint(s);
    w.uint(frags.length);
    let end = initLen;
    const nextStart = new Map<number, number>();
    for (const f of frags) {
      const idx = scales.indexOf(f.timescale);
      const start = ticksOf(f.mediaStartMs, f.timescale);
      const dur = ticksOf(f.durationMs, f.timescale);
      if (start === undefined || dur === undefined || f.grow % 4 !== 0 || f.grow / 4 > 7 || f.offset < end) return null;
      w.uint(f.offset - end);
      w.uint(f.size);
      w.uint((f.keyframe ? 1 : 0) + (f.grow / 4) * 2 + idx * 16);
      w.uint(f.frames);
      w.int(start - (nextStart.get(idx) ?? 0));
      w.uint(dur);
      nextStart.set(idx, start + dur);
      end = f.offset + f.size;
    }
  } catch (e) {
    if (e instanceof RangeError) return null;
    throw e;
  }
  return Uint8Array.from(w.bytes);
}

/** Decodes a stored table; throws on a table that does not parse (callers then scan the file). */
export function decodeFragmentTable(bytes: Uint8Array): { initLen: number; frags: FragEntry[] } {
  let p = 0;
  const uint = (): number => {
    let n = 0;
    let mul = 1;
    for (;;) {
      if (p >= bytes.length) throw new RangeError("fragment table is truncated");
      const b = bytes[p++]!;
      n += (b & 0x7f) * mul;
      if (b < 0x80) return n;
      mul *= 0x80;
    }
  };
  const int = (): number => {
    const z = uint();
    return z % 2 === 0 ? z / 2 : -(z + 1) / 2;
  };
  if (uint() !== VERSION) throw new RangeError("fragment table: unknown version");
  const initLen = uint();
  const scales: number[] = [];
  for (let i = uint(); i > 0; i--) scales.push(uint());
  const n = uint();
  const frags: FragEntry[] = [];
  let end = initLen;
  const nextStart = new Map<number, number>();
  for (let i = 0; i < n; i++) {
    const offset = end + uint();
    const size = uint();
    const flags = uint();
    const frames = uint();
    const idx = Math.floor(flags / 16);
    const timescale = scales[idx];
    if (timescale === undefined) throw new RangeError("fragment table: bad timescale index");
    const start = (nextStart.get(idx) ?? 0) + int();
    const dur = uint();
    nextStart.set(idx, start + dur);
    frags.push({
      offset,
      size,
      grow: (Math.floor(flags / 2) % 8) * 4,
      // The same arithmetic as parseFragment: the times are bit-identical to a scan's.
      mediaStartMs: (start * 1000) / timescale,
      durationMs: (dur * 1000) / timescale,
      keyframe: flags % 2 === 1,
      frames,
      timescale,
    });
    end = offset + size;
  }
  if (p !== bytes.length) throw new RangeError("fragment table: trailing bytes");
  return { initLen, frags };
}
