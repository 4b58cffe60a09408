/**
 * Parsing of an fMP4 initialization segment (ftyp + moov): tracks, timescales, codecs and
 * resolution, and the trex defaults that fragments fall back on.
 */
import { Mp4Error, boxes, children, findChild, findPath, view, type Box } from "./box.ts";

export interface TrackInfo {
  trackId: number;
  kind: "video" | "audio" | "other";
  timescale: number;
  /** RFC 6381 codec string, e.g. "avc1.64001f", "hvc1", "mp4a.40.2". */
  codec: string;
  width?: number;
  height?: number;
  defaultSampleDuration: number;
  defaultSampleSize: number;
  defaultSampleFlags: number;
}

export interface InitInfo {
  tracks: TrackInfo[];
  /** The video track (the one segments are cut on), if any. */
  video?: TrackInfo;
  /** MIME type for MSE, e.g. 'video/mp4; codecs="avc1.64001f,mp4a.40.2"'. */
  mime: string;
}

export function parseInit(buf: Uint8Array): InitInfo {
  let moov: Box | undefined;
  for (const b of boxes(buf)) if (b.type === "moov") moov = b;
  if (!moov) throw new Mp4Error("init segment has no moov box");
  const dv = view(buf);
  const trex = new Map<number, { dur: number; size: number; flags: number }>();
  const mvex = findChild(buf, moov, "mvex");
  if (mvex) {
    for (const b of children(buf, mvex)) {
      if (b.type !== "trex") continue;
      const p = b.start + b.headerSize + 4;
      trex.set(dv.getUint32(p), { dur: dv.getUint32(p + 8), size: dv.getUint32(p + 12), flags: dv.getUint32(p + 16) });
    }
  }
  const tracks: TrackInfo[] = [];
  for (const trak of children(buf, moov)) {
    if (trak.type !== "trak") continue;
    const tkhd = findChild(buf, trak, "tkhd");
    const mdhd = findPath(buf, trak, ["mdia", "mdhd"]);
    const hdlr = findPath(buf, trak, ["mdia", "hdlr"]);
    const stsd = findPath(buf, trak, ["mdia", "minf", "stbl", "stsd"]);
    if (!tkhd || !mdhd || !hdlr) throw new Mp4Error("trak without tkhd/mdhd/hdlr");
    const tv = buf[tkhd.start + tkhd.headerSize]!;
    const trackId = dv.getUint32(tkhd.start + tkhd.headerSize + (tv === 1 ? 20 : 12));
    const mv = buf[mdhd.start + mdhd.headerSize]!;
    const timescale = dv.getUint32(mdhd.start + mdhd.headerSize + (mv === 1 ? 20 : 12));
    const handler = String.fromCharCode(...buf.subarray(hdlr.start + hdlr.headerSize + 8, hdlr.start + hdlr.headerSize + 12));
    const kind = handler === "vide" ? "video" : handler === "soun" ? "audio" : "other";
    const t: TrackInfo = {
      trackId,
      kind,
      timescale,
      codec: "unknown",
      defaultSampleDuration: trex.get(trackId)?.dur ?? 0,
      defaultSampleSize: trex.get(trackId)?.size ?? 0,
      defaultSampleFlags: trex.get(trackId)?.flags ?? 0,
    };
    if (stsd) describeSampleEntry(buf, stsd, t);
    tracks.push(t);
  }
  const video = tracks.find((t) => t.kind === "video");
  const codecs = tracks.filter((t) => t.kind !== "other").map((t) => t.codec);
  return { tracks, video, mime: `video/mp4; codecs="${codecs.join(",")}"` };
}

function describeSampleEntry(buf: Uint8Array, stsd: Box, t: TrackInfo): void {
  const dv = view(buf);
  // stsd: fullbox(4) + entry_count(4), then sample entries.
  const entry = boxes(buf, stsd.start + stsd.headerSize + 8, stsd.start + stsd.size).next().value as Box | undefined;
  if (!entry) return;
  const body = entry.start + entry.headerSize;
  if (t.kind === "video") {
    t.width = dv.getUint16(body + 24);
    t.height = dv.getUint16(body + 26);
    const inner = boxes(buf, body + 78, entry.start + entry.size);
    for (const c of inner) {
      if (c.type === "avcC") {
        const p = c.start + c.headerSize;
        const hex = (n: number) => n.toString(16).padStart(2, "0");
        t.codec = `${entry.type}.${hex(buf[p + 1]!)}${hex(buf[p + 2]!)}${hex(buf[p + 3]!)}`;
        return;
      }
      if (c.type === "hvcC") {
        t.codec = hevcCodecString(buf, c, entry.type);
        return;
      }
    }
    t.codec = entry.type;
  } else if (t.kind === "audio") {
    // RFC 6381 names: FLAC's sample entry is `fLaC`, its codecs-parameter name "flac".
    t.codec = entry.type === "mp4a" ? "mp4a.40.2" : entry.type === "fLaC" ? "flac" : entry.type;
  } else {
    t.codec = entry.type;
  }
}

function hevcCodecString(buf: Uint8Array, c: Box, fourcc: string): string {
  const p = c.start + c.headerSize;
  const b1 = buf[p + 1]!;
  const space = ["", "A", "B", "C"][b1 >> 6]!;
  const tier = b1 & 0x20 ? "H" : "L";
  const profile = b1 & 0x1f;
  const compat = view(buf).getUint32(p + 2);
  let rev = 0;
  for (let i = 0; i < 32; i++) if (compat & (1 << i)) rev |= 1 << (31 - i);
  const level = buf[p + 12]!;
  return `${fourcc}.${space}${profile}.${(rev >>> 0).toString(16)}.${tier}${level}`;
}
