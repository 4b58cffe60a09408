/**
 * JPEG of the latest keyframe: the last keyframe fragment of the newest segment, with its init,
 * decoded by ffmpeg (the only decode in playback; one frame). Never touches the recording path.
 */
import { concat } from "../mp4/index.ts";
import type { SegmentRecord, StreamKind } from "../store/types.ts";
import type { SegmentSource } from "./playback.ts";
import { scanSegmentFile } from "./scan.ts";

export class SnapshotError extends Error {
  constructor(message: string, readonly kind: "no-recording" | "decode") {
    super(message);
  }
}

export interface Snapshot {
  jpeg: Uint8Array;
  /** Wall time of the frame. */
  atMs: number;
  width?: number;
  height?: number;
}

/** Looks back over growing windows (2 min, 1 day, 31 days) for the newest segment. */
export async function latestSegment(source: SegmentSource, cameraId: string, stream: StreamKind, nowMs: number): Promise<SegmentRecord | undefined> {
  for (const back of [120_000, 86_400_000, 31 * 86_400_000]) {
    const segs = await source.segments({ cameraId, stream, fromMs: nowMs - back, toMs: nowMs + 60_000 });
    for (let i = segs.length - 1; i >= 0; i--) if (segs[i]!.bytes > 0) return segs[i];
  }
  return undefined;
}

export async function snapshot(source: SegmentSource, cameraId: string, stream: StreamKind, nowMs: number, opts: { quality?: number; timeoutMs?: number } = {}): Promise<Snapshot> {
  const seg = await latestSegment(source, cameraId, stream, nowMs);
  if (!seg) throw new SnapshotError(`Camera ${cameraId} has no recording on its ${stream} stream in the last 31 days.`, "no-recording");
  const path = source.absPath(seg);
  const scan = scanSegmentFile(path, seg.open ? undefined : seg.bytes);
  const keys = scan?.frags.filter((f) => f.keyframe) ?? [];
  const key = keys[keys.length - 1];
  if (!scan || !key || !scan.init.video) throw new SnapshotError(`The newest segment of camera ${cameraId} holds no decodable video keyframe.`, "no-recording");
  const frag = new Uint8Array(await Bun.file(path).slice(key.offset, key.offset + key.size).arrayBuffer());
  const input = concat([scan.initBytes, frag]);
  const p = Bun.spawn(["ffmpeg", "-nostdin", "-v", "error", "-f", "mp4", "-i", "pipe:0", "-frames:v", "1", "-q:v", String(opts.quality ?? 3), "-f", "image2pipe", "-c:v", "mjpeg", "pipe:1"], {
    stdin: "pipe",
    stdout: "pipe",
    stderr: "pipe",
  });
  const timer = setTimeout(() => p.kill(9), opts.timeoutMs ?? 10_000);
  try {
    p.stdin.write(input);
    await p.stdin.end();
    const [out, err, code] = await Promise.all([new Response(p.stdout).arrayBuffer(), new Response(p.stderr).text(), p.exited]);
    const jpeg = new Uint8Array(out);
    if (code !== 0 || jpeg.length < 4 || jpeg[0] !== 0xff || jpeg[1] !== 0xd8) {
      throw new SnapshotError(`Decoding the latest keyframe failed: ${err.trim().split("\n").pop() || `ffmpeg exit ${code}`}`, "decode");
    }
    const base = scan.frags[0]!.mediaStartMs;
    return { jpeg, atMs: seg.startMs + (key.mediaStartMs - base), width: scan.init.video.width, height: scan.init.video.height };
  } finally {
    clearTimeout(timer);
  }
}
