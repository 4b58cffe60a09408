/**
 * A small store-only ZIP writer and reader (no compression, no ZIP64, no encryption): enough
 * for evidence packages, which hold already-compressed video and small text files, and simple
 * enough that any unzip tool opens them. Entries are written in the order given, with their
 * CRC-32 and sizes in the local header (no data descriptors). Limits: < 4 GiB per file and in
 * total, < 65 535 entries; the writer refuses more instead of writing a broken archive.
 */
export interface ZipEntryIn {
  name: string;
  data: Uint8Array | string;
  /** Modification time written into the entry (DOS time, 2-second resolution). */
  mtimeMs?: number;
}

export class ZipError extends Error {}

const LIMIT = 0xffffffff;

function dosTime(ms: number): { time: number; date: number } {
  const d = new Date(ms);
  const year = Math.max(1980, d.getUTCFullYear());
  return {
    time: (d.getUTCHours() << 11) | (d.getUTCMinutes() << 5) | (d.getUTCSeconds() >> 1),
    date: ((year - 1980) << 9) | ((d.getUTCMonth() + 1) << 5) | d.getUTCDate(),
  };
}

/** Builds a whole store-only ZIP in memory. */
export function writeZip(entries: ZipEntryIn[]): Uint8Array {
  if (entries.length >= 0xffff) throw new ZipError("too many entries for a ZIP without ZIP64");
  const enc = new TextEncoder();
  const parts: Uint8Array[] = [];
  const central: Uint8Array[] = [];
  let offset = 0;
  const seen = new Set<string>();
  for (const e of entries) {
    if (!e.name || e.name.startsWith("/") || e.name.split("/").includes("..")) throw new ZipError(`bad entry name ${JSON.stringify(e.name)}`);
    if (seen.has(e.name)) throw new ZipError(`duplicate entry ${e.name}`);
    seen.add(e.name);
    const name = enc.encode(e.name);
    const data = typeof e.data === "string" ? enc.encode(e.data) : e.data;
    if (data.length >= LIMIT || offset + data.length + 30 + name.length >= LIMIT) throw new ZipError("archive too large for a ZIP without ZIP64 (4 GiB)");
    const crc = Bun.hash.crc32(data) >>> 0;
    const { time, date } = dosTime(e.mtimeMs ?? Date.now());
    const local = new DataView(new ArrayBuffer(30));
    local.setUint32(0, 0x04034b50, true);
    local.setUint16(4, 20, true); // version needed
    local.setUint16(6, 0x0800, true); // UTF-8 names
    local.setUint16(8, 0, true); // stored
    local.setUint16(10, time, true);
    local.setUint16(12, date, true);
    local.setUint32(14, crc, true);
    local.setUint32(18, data.length, true);
    local.setUint32(22, data.length, true);
    local.setUint16(26, name.length, true);
    local.setUint16(28, 0, true);
    parts.push(new Uint8Array(local.buffer), name, data);
    const cd = new DataView(new ArrayBuffer(46));
    cd.setUint32(0, 0x02014b50, true);
    cd.setUint16(4, 0x031e, true); // made by: unix, 3.0
    cd.setUint16(6, 20, true);
    cd.setUint16(8, 0x0800, true);
    cd.setUint16(10, 0, true);
    cd.setUint16(12, time, true);
    cd.setUint16(14, date, true);
    cd.setUint32(16, crc, true);
    cd.setUint32(20, data.length, true);
    cd.setUint32(24, data.length, true);
    cd.setUint16(28, name.length, true);
    cd.setUint32(38, (0o100644 << 16) >>> 0, true); // regular file, rw-r--r--
    cd.setUint32(42, offset, true);
    central.push(new Uint8Array(cd.buffer), name);
    offset += 30 + name.length + data.length;
  }
  const cdSize = central.reduce((n, p) => n + p.length, 0);
  const end = new DataView(new ArrayBuffer(22));
  end.setUint32(0, 0x06054b50, true);
  end.setUint16(8, entries.length, true);
  end.setUint16(10, entries.length, true);
  end.setUint32(12, cdSize, true);
  end.setUint32(16, offset, true);
  const all = [...parts, ...central, new Uint8Array(end.buffer)];
  const out = new Uint8Array(all.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of all) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/**
 * Reads a store-only ZIP through its central directory. An entry that is compressed or points
 * outside the file is an error naming it; an entry whose CRC-32 does not match is still
 * returned (listed in `damaged`) so a verifier can say which content changed.
 */
export function readZip(buf: Uint8Array): { files: Map<string, Uint8Array>; damaged: string[] } {
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let eocd = -1;
  for (let i = buf.length - 22; i >= Math.max(0, buf.length - 22 - 0xffff); i--) {
    if (dv.getUint32(i, true) === 0x06054b50) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw new ZipError("not a ZIP file (no end-of-central-directory record)");
  const count = dv.getUint16(eocd + 10, true);
  let p = dv.getUint32(eocd + 16, true);
  const dec = new TextDecoder();
  const out = new Map<string, Uint8Array>();
  const damaged: string[] = [];
  for (let i = 0; i < count; i++) {
    if (p + 46 > buf.length || dv.getUint32(p, true) !== 0x02014b50) throw new ZipError("damaged ZIP central directory");
    const method = dv.getUint16(p + 10, true);
    const crc = dv.getUint32(p + 16, true);
    const size = dv.getUint32(p + 20, true);
    const nameLen = dv.getUint16(p + 28, true);
    const extraLen = dv.getUint16(p + 30, true);
    const commentLen = dv.getUint16(p + 32, true);
    const local = dv.getUint32(p + 42, true);
    const name = dec.decode(buf.subarray(p + 46, p + 46 + nameLen));
    p += 46 + nameLen + extraLen + commentLen;
    if (method !== 0) throw new ZipError(`${name}: compressed entries are not supported (this verifier reads store-only packages)`);
    if (local + 30 > buf.length || dv.getUint32(local, true) !== 0x04034b50) throw new ZipError(`${name}: damaged local header`);
    const start = local + 30 + dv.getUint16(local + 26, true) + dv.getUint16(local + 28, true);
    if (start + size > buf.length) throw new ZipError(`${name}: entry runs past the end of the file`);
    const data = buf.subarray(start, start + size);
    if ((Bun.hash.crc32(data) >>> 0) !== crc) damaged.push(name);
    out.set(name, data);
  }
  return { files: out, damaged };
}
