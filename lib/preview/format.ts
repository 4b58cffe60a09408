/**
 * The preview of one recorded segment ("see before you pull"), shared by edge and central: its
 * thumbnails (small JPEGs of keyframes) and its activity index (a level 0–100 per second). One
 * file per segment, written by the edge beside the segment, sent to central as it is:
 *
 *   "OPV1" | u32 BE header length | header JSON (PreviewHeader) | the JPEGs, back to back
 *
 * Binary rather than JSON with base64: the bytes cross metered links (base64 costs a third more).
 */
import { z } from "zod";

export const PREVIEW_MAGIC = "OPV1";
/** Activity at or above this level counts as "something happens" (runs, next/previous, search). */
export const ACTIVE_LEVEL = 5;
export const MAX_PREVIEW_BYTES = 1 << 20;

export const PreviewHeader = z
  .object({
    v: z.literal(1),
    cameraId: z.string().min(1).max(128),
    stream: z.enum(["main", "sub"]),
    segmentStartMs: z.number().int().min(0).max(253_402_300_799_999),
    segmentEndMs: z.number().int().min(0).max(253_402_300_799_999),
    /** Where the levels come from: decoded keyframes compared, ONVIF motion events, or both (the higher wins). */
    source: z.enum(["frame-diff", "onvif", "frame-diff+onvif", "none"]),
    activity: z.object({
      /** Whole second (ms) the first level covers; level i covers [startMs + i s, startMs + (i+1) s). */
      startMs: z.number().int().min(0).max(253_402_300_799_999),
      levels: z.array(z.number().int().min(0).max(100)).max(86_400),
    }),
    thumbs: z
      .array(
        z.object({
          atMs: z.number().int().min(0).max(253_402_300_799_999),
          width: z.number().int().min(1).max(4096),
          height: z.number().int().min(1).max(4096),
          bytes: z.number().int().min(1).max(MAX_PREVIEW_BYTES),
          sha256: z.string().regex(/^[0-9a-f]{64}$/),
        }),
      )
      .max(10_000),
  })
  .strict();
export type PreviewHeader = z.infer<typeof PreviewHeader>;

export interface Preview {
  header: PreviewHeader;
  /** JPEG i, in header order. */
  thumbs: Uint8Array[];
}

export class PreviewFormatError extends Error {
  override name = "PreviewFormatError";
}

export function sha256Hex(b: Uint8Array): string {
  return new Bun.CryptoHasher("sha256").update(b).digest("hex");
}

export function encodePreview(p: Omit<PreviewHeader, "thumbs" | "v">, thumbs: { atMs: number; width: number; height: number; jpeg: Uint8Array }[]): Uint8Array {
  const header: PreviewHeader = { v: 1, ...p, thumbs: thumbs.map((t) => ({ atMs: t.atMs, width: t.width, height: t.height, bytes: t.jpeg.length, sha256: sha256Hex(t.jpeg) })) };
  const json = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + thumbs.reduce((a, t) => a + t.jpeg.length, 0));
  out.set(new TextEncoder().encode(PREVIEW_MAGIC), 0);
  new DataView(out.buffer).setUint32(4, json.length);
  out.set(json, 8);
  let at = 8 + json.length;
  for (const t of thumbs) {
    out.set(t.jpeg, at);
    at += t.jpeg.length;
  }
  return out;
}

/** Parses and checks a preview file (it may come from a hostile or broken edge): schema, sizes, every JPEG's hash. */
export function decodePreview(buf: Uint8Array): Preview {
  if (buf.length < 8 || new TextDecoder().decode(buf.subarray(0, 4)) !== PREVIEW_MAGIC) throw new PreviewFormatError("not a preview file (magic OPV1 missing)");
  if (buf.length > MAX_PREVIEW_BYTES) throw new PreviewFormatError(`preview is ${buf.length} bytes; at most ${MAX_PREVIEW_BYTES}`);
  const len = new DataView(buf.buffer, buf.byteOffset, buf.byteLength).getUint32(4);
  if (8 + len > buf.length) throw new PreviewFormatError("preview header runs past the end of the file");
  let raw: unknown;
  try {
    raw = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(buf.subarray(8, 8 + len)));
  } catch (e) {
    throw new PreviewFormatError(`preview header is not JSON: ${(e as Error).message}`);
  }
  const r = PreviewHeader.safeParse(raw);
  if (!r.success) {
    const i = r.error.issues[0]!;
    throw new PreviewFormatError(`preview header: ${i.path.join(".") || "(root)"}: ${i.message}`);
  }
  const header = r.data;
  if (header.segmentEndMs < header.segmentStartMs) throw new PreviewFormatError("preview header: segmentEndMs before segmentStartMs");
  const thumbs: Uint8Array[] = [];
  let at = 8 + len;
  for (const [i, t] of header.thumbs.entries()) {
    if (at + t.bytes > buf.length) throw new PreviewFormatError(`thumbnail ${i} runs past the end of the file`);
    const jpeg = buf.subarray(at, at + t.bytes);
    if (sha256Hex(jpeg) !== t.sha256) throw new PreviewFormatError(`thumbnail ${i}: SHA-256 differs from the header`);
    thumbs.push(jpeg);
    at += t.bytes;
  }
  if (at !== buf.length) throw new PreviewFormatError(`${buf.length - at} bytes after the last thumbnail`);
  return { header, thumbs };
}

/** Stretches of consecutive seconds at or above `threshold`, with their peak level. */
export function activityRuns(activity: { startMs: number; levels: number[] }, threshold = ACTIVE_LEVEL): { startMs: number; endMs: number; peak: number }[] {
  const out: { startMs: number; endMs: number; peak: number }[] = [];
  let cur: { startMs: number; endMs: number; peak: number } | null = null;
  for (const [i, l] of activity.levels.entries()) {
    const t = activity.startMs + i * 1000;
    if (l >= threshold) {
      if (cur && cur.endMs === t) {
        cur.endMs = t + 1000;
        cur.peak = Math.max(cur.peak, l);
      } else {
        cur = { startMs: t, endMs: t + 1000, peak: l };
        out.push(cur);
      }
    }
  }
  return out;
}
