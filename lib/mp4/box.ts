/**
 * ISO BMFF box reading: headers, children, and the few full-box fields the recorder needs.
 * Pure functions over Uint8Array; no I/O.
 */
export interface Box {
  type: string;
  /** Offset of the box header within the buffer. */
  start: number;
  /** Total size including header. */
  size: number;
  headerSize: number;
}

export const CONTAINERS = new Set(["moov", "trak", "mdia", "minf", "stbl", "moof", "traf", "mvex", "dinf", "edts", "udta"]);

/** Reads the box header at `offset`, or null if fewer than a header's bytes (or the declared size) are available. */
export function readBox(buf: Uint8Array, offset: number, end = buf.length, requireComplete = true): Box | null {
  if (end - offset < 8) return null;
  // Plain byte math, no DataView per call: playback scans read one header per fragment.
  let size = ((buf[offset]! << 24) | (buf[offset + 1]! << 16) | (buf[offset + 2]! << 8) | buf[offset + 3]!) >>> 0;
  const type = String.fromCharCode(buf[offset + 4]!, buf[offset + 5]!, buf[offset + 6]!, buf[offset + 7]!);
  let headerSize = 8;
  if (size === 1) {
    if (end - offset < 16) return null;
    size = Number(new DataView(buf.buffer, buf.byteOffset, buf.byteLength).getBigUint64(offset + 8));
    headerSize = 16;
  } else if (size === 0) {
    size = end - offset;
  }
  if (size < headerSize) throw new Mp4Error(`box '${printable(type)}' at ${offset} has impossible size ${size}`);
  if (requireComplete && offset + size > end) return null;
  return { type, start: offset, size, headerSize };
}

/** Iterates complete boxes in [start, end). Stops silently at a truncated box. */
export function* boxes(buf: Uint8Array, start = 0, end = buf.length): Generator<Box> {
  let off = start;
  while (off < end) {
    const b = readBox(buf, off, end);
    if (!b) return;
    yield b;
    off += b.size;
  }
}

export function children(buf: Uint8Array, parent: Box): Generator<Box> {
  return boxes(buf, parent.start + parent.headerSize, parent.start + parent.size);
}

export function findChild(buf: Uint8Array, parent: Box, type: string): Box | undefined {
  for (const b of children(buf, parent)) if (b.type === type) return b;
  return undefined;
}

export function findPath(buf: Uint8Array, parent: Box, path: string[]): Box | undefined {
  let cur: Box | undefined = parent;
  for (const t of path) {
    if (!cur) return undefined;
    cur = findChild(buf, cur, t);
  }
  return cur;
}

export function view(buf: Uint8Array): DataView {
  return new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
}

export class Mp4Error extends Error {
  constructor(message: string) {
    super(message);
    this.name = "Mp4Error";
  }
}

function printable(s: string): string {
  return s.replace(/[^\x20-\x7e]/g, "?");
}

/** Joins byte arrays into one. */
export function concat(parts: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
