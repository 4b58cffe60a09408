/**
 * Light scan of a segment file for playback: the init segment and, for every whole fragment,
 * its position and timing — read from moof boxes and mdat headers only, never the media
 * payload, so planning an hour of playback touches kilobytes, not gigabytes. Scans of closed
 * segments are immutable and cached (LRU by fragment count).
 */
import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import { boxes, children, decodeFragmentTable, findChild, parseInit, readBox, walkFragments, type FragEntry, type InitInfo } from "../mp4/index.ts";

export type { FragEntry };

export interface SegmentScan {
  init: InitInfo;
  initBytes: Uint8Array;
  /** Equal keys = a decoder configured by one init can decode the other's fragments. */
  initKey: string;
  frags: FragEntry[];
  /** outStart[i] = re-timed bytes of frags[0..i); length frags.length + 1 (plans sum ranges in O(1)). */
  outStart: number[];
  /** frameStart[i] = frames in frags[0..i); length frags.length + 1. */
  frameStart: number[];
}

const HEAD = 512;
const READ_AHEAD = 64 * 1024;

/** Scans up to `limit` bytes of the file (default: its current size); null when it holds no init. */
export function scanSegmentFile(path: string, limit?: number): SegmentScan | null {
  const fd = openSync(path, "r");
  const frags: FragEntry[] = [];
  try {
    const size = Math.min(fstatSync(fd).size, limit ?? Number.MAX_SAFE_INTEGER);
    const readAt = (pos: number, len: number, into?: Uint8Array): Uint8Array => {
      const want = Math.max(0, Math.min(len, size - pos));
      const buf = into && into.length >= want ? into.subarray(0, want) : new Uint8Array(want);
      let got = 0;
      while (got < buf.length) {
        const n = readSync(fd, buf, got, buf.length - got, pos + got);
        if (n <= 0) break;
        got += n;
      }
      return buf.subarray(0, got);
    };
    // Syscalls dominate: with small fragments (low bitrate) one read-ahead window holds several
    // moofs; with large ones, read just the moof and the next header.
    // Reused: only transient subarrays of the window are ever handed out.
    const scratch = Buffer.allocUnsafe(READ_AHEAD);
    let win: Uint8Array = new Uint8Array(0);
    let winPos = 0;
    const pread = (pos: number, len: number): Uint8Array => {
      if (pos >= winPos && pos + len <= winPos + win.length) return win.subarray(pos - winPos, pos + len - winPos);
      const avg = frags.length ? (frags[frags.length - 1]!.offset + frags[frags.length - 1]!.size - frags[0]!.offset) / frags.length : Infinity;
      const ahead = avg <= READ_AHEAD / 4 ? READ_AHEAD : HEAD;
      win = readAt(pos, Math.max(len, ahead), scratch);
      winPos = pos;
      return win.subarray(0, Math.min(len, win.length));
    };
    // Init: ftyp (+ anything) up to and including moov.
    let pos = 0;
    let initBytes: Uint8Array | null = null;
    while (pos < size && !initBytes) {
      const h = pread(pos, 16);
      const b = readBox(h, 0, h.length, false);
      if (!b) return null;
      if (b.type === "moov") initBytes = readAt(0, pos + b.size);
      if (b.type === "moof") return null;
      pos += b.size;
    }
    if (!initBytes || initBytes.length < pos) return null;
    const init = parseInit(initBytes);
    walkFragments(pread, pos, size, init, frags);
    return withSums(init, initBytes, frags);
  } finally {
    closeSync(fd);
  }
}

function withSums(init: InitInfo, initBytes: Uint8Array, frags: FragEntry[], initKey = initKeyOf(initBytes, init)): SegmentScan {
  const outStart = [0];
  const frameStart = [0];
  for (const f of frags) {
    outStart.push(outStart[outStart.length - 1]! + f.size + f.grow);
    frameStart.push(frameStart[frameStart.length - 1]! + f.frames);
  }
  return { init, initBytes, initKey, frags, outStart, frameStart };
}

/**
 * The scan of a closed segment from its stored fragment table: only the init is read from the
 * file (the table says how long it is). Null when the file is shorter than its init or the
 * table does not parse — the caller scans the file instead.
 */
export function scanFromTable(path: string, table: Uint8Array): SegmentScan | null {
  let t;
  try {
    t = decodeFragmentTable(table);
  } catch {
    return null;
  }
  const initBytes = new Uint8Array(t.initLen);
  const fd = openSync(path, "r");
  try {
    let got = 0;
    while (got < initBytes.length) {
      const n = readSync(fd, initBytes, got, initBytes.length - got, got);
      if (n <= 0) return null;
      got += n;
    }
  } finally {
    closeSync(fd);
  }
  // A recording session writes the same init into each of its files: parse it once.
  const key = Buffer.from(initBytes.buffer, initBytes.byteOffset, initBytes.length).toString("latin1");
  let parsed = parsedInits.get(key);
  if (!parsed) {
    const init = parseInit(initBytes);
    parsed = { init, initKey: initKeyOf(initBytes, init) };
    if (parsedInits.size >= 64) parsedInits.delete(parsedInits.keys().next().value!);
    parsedInits.set(key, parsed);
  }
  return withSums(parsed.init, initBytes, t.frags, parsed.initKey);
}

/** Parsed inits by their bytes (a few per camera): planning from tables reads dozens of identical ones. */
const parsedInits = new Map<string, { init: InitInfo; initKey: string }>();

/** Sample descriptions (codec config incl. SPS/PPS) and timescales; creation times are ignored on purpose. */
function initKeyOf(bytes: Uint8Array, init: InitInfo): string {
  const parts: string[] = init.tracks.map((t) => `${t.trackId}:${t.timescale}:${t.codec}:${t.width ?? ""}x${t.height ?? ""}`);
  const hasher = new Bun.CryptoHasher("sha1");
  for (const moov of boxes(bytes)) {
    if (moov.type !== "moov") continue;
    for (const trak of children(bytes, moov)) {
      if (trak.type !== "trak") continue;
      const mdia = findChild(bytes, trak, "mdia");
      const minf = mdia && findChild(bytes, mdia, "minf");
      const stbl = minf && findChild(bytes, minf, "stbl");
      const stsd = stbl && findChild(bytes, stbl, "stsd");
      if (stsd) hasher.update(bytes.subarray(stsd.start, stsd.start + stsd.size));
    }
  }
  return `${parts.join(",")}#${hasher.digest("hex")}`;
}

/** LRU of scans of closed segments, bounded by the number of fragments held. */
export class ScanCache {
  private map = new Map<string, SegmentScan>();
  private held = 0;
  constructor(private readonly maxFragments = 500_000) {}

  /** Open segments grow, so they are scanned every time and never cached. */
  get(path: string, bytes: number, open: boolean): SegmentScan | null {
    if (open) return scanSegmentFile(path);
    const hit = this.peek(path, bytes);
    if (hit) return hit;
    const scan = scanSegmentFile(path, bytes);
    if (scan) this.put(path, bytes, scan);
    return scan;
  }

  /** The cached scan of a closed segment, if any (marks it recently used). */
  peek(path: string, bytes: number): SegmentScan | undefined {
    const key = `${path}\0${bytes}`;
    const hit = this.map.get(key);
    if (hit) {
      this.map.delete(key);
      this.map.set(key, hit);
    }
    return hit;
  }

  /** Caches the scan of a closed segment (e.g. one made from its stored fragment table). */
  put(path: string, bytes: number, scan: SegmentScan): void {
    const key = `${path}\0${bytes}`;
    const old = this.map.get(key);
    if (old) this.held -= old.frags.length + 1;
    this.map.set(key, scan);
    this.held += scan.frags.length + 1;
    for (const [k, v] of this.map) {
      if (this.held <= this.maxFragments) break;
      this.map.delete(k);
      this.held -= v.frags.length + 1;
    }
  }

  get size(): number {
    return this.map.size;
  }
}
