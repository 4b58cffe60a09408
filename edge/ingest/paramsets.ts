/**
 * In-band parameter sets (H.264 SPS, H.265 VPS/SPS) of a keyframe fragment. The parsers are
 * told to repeat them before every keyframe (config-interval=-1) so that a camera changing its
 * resolution or profile mid-stream stays decodable and is noticed: mp4mux keeps the old init
 * segment, so ingest restarts the pipeline to get a matching one.
 */
import { concat, readBox } from "../../lib/mp4/index.ts";
import type { VideoCodec } from "./probe.ts";

/** Concatenated parameter-set NAL units found before the first slice, or undefined. */
export function keyframeParamSets(frag: Uint8Array, codec: VideoCodec): Uint8Array | undefined {
  let off = 0;
  let mdat: { start: number; end: number } | undefined;
  while (off < frag.length) {
    const b = readBox(frag, off, frag.length, false);
    if (!b || b.size <= 0) return undefined;
    if (b.type === "mdat") {
      mdat = { start: off + b.headerSize, end: Math.min(frag.length, off + b.size) };
      break;
    }
    off += b.size;
  }
  if (!mdat) return undefined;
  const dv = new DataView(frag.buffer, frag.byteOffset, frag.byteLength);
  const parts: Uint8Array[] = [];
  let p = mdat.start;
  // mp4mux writes 4-byte NAL lengths; stop at the first slice (parameter sets come first).
  for (let i = 0; i < 16 && p + 5 <= mdat.end; i++) {
    const len = dv.getUint32(p);
    if (len === 0 || p + 4 + len > mdat.end) return undefined;
    const h = frag[p + 4]!;
    const type = codec === "h264" ? h & 0x1f : (h >> 1) & 0x3f;
    const isParam = codec === "h264" ? type === 7 : type === 32 || type === 33;
    const isSlice = codec === "h264" ? type >= 1 && type <= 5 : type < 32;
    if (isParam) parts.push(frag.subarray(p + 4, p + 4 + len));
    if (isSlice) break;
    p += 4 + len;
  }
  if (parts.length === 0) return undefined;
  return concat(parts);
}

export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
