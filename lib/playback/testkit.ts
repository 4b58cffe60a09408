/**
 * Test helpers for playback and the APIs built on it (imported only by *.test.ts): real
 * fragmented MP4 clips from GStreamer, and a segment source over files laid out like the
 * store's (root/media/<camera>/<stream>/<day>/<startMs>.mp4).
 */
import { copyFileSync, mkdirSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import type { SegmentRecord, StreamKind, TimelineQuery } from "../store/types.ts";
import type { SegmentSource } from "./playback.ts";
import { FragmentSplitter, type FragmentInfo, type InitInfo } from "../mp4/index.ts";
import { scanSegmentFile } from "./scan.ts";

/** A real fMP4 clip as the ingest records it: H.264, 1 s GOP, 500 ms fragments. */
export async function makeClip(path: string, opts: { seconds: number; width?: number; height?: number; fps?: number }): Promise<void> {
  const fps = opts.fps ?? 15;
  const p = Bun.spawn(
    [
      "gst-launch-1.0", "-q", "videotestsrc", `num-buffers=${opts.seconds * fps}`, "!",
      `video/x-raw,width=${opts.width ?? 320},height=${opts.height ?? 240},framerate=${fps}/1`, "!",
      "x264enc", `key-int-max=${fps}`, "tune=zerolatency", "speed-preset=ultrafast", "!", "h264parse", "!",
      "mp4mux", "fragment-duration=500", "streamable=true", "!", "filesink", `location=${path}`,
    ],
    { stdout: "ignore", stderr: "pipe" },
  );
  const code = await p.exited;
  if (code !== 0) throw new Error(`gst-launch failed: ${await new Response(p.stderr).text()}`);
}

export class FileSource implements SegmentSource {
  readonly segs: SegmentRecord[] = [];
  constructor(readonly root: string) {}

  /** Copies `clip` into the layout as a closed segment starting at startMs. */
  add(cameraId: string, stream: StreamKind, startMs: number, clip: string): SegmentRecord {
    const rel = join("media", cameraId, stream, new Date(startMs).toISOString().slice(0, 10), `${startMs}.mp4`);
    const abs = join(this.root, rel);
    mkdirSync(dirname(abs), { recursive: true });
    copyFileSync(clip, abs);
    const scan = scanSegmentFile(abs);
    if (!scan || !scan.frags.length) throw new Error(`${clip} is not a fragmented MP4`);
    const first = scan.frags[0]!;
    const last = scan.frags[scan.frags.length - 1]!;
    const seg: SegmentRecord = {
      id: `${cameraId}/${stream}/${startMs}`,
      cameraId,
      stream,
      startMs,
      endMs: startMs + (last.mediaStartMs + last.durationMs - first.mediaStartMs),
      bytes: statSync(abs).size,
      path: rel,
      mime: scan.init.mime,
      width: scan.init.video?.width,
      height: scan.init.video?.height,
    };
    this.segs.push(seg);
    this.segs.sort((a, b) => a.startMs - b.startMs);
    return seg;
  }

  async segments(q: TimelineQuery): Promise<SegmentRecord[]> {
    const stream = q.stream ?? "main";
    return this.segs.filter((s) => s.cameraId === q.cameraId && s.stream === stream && s.endMs > q.fromMs && s.startMs < q.toMs);
  }

  absPath(seg: SegmentRecord): string {
    return join(this.root, seg.path);
  }
}

/**
 * cam1/main over `dir`/store with gaps and a resolution change: 8 s back to back from `t0`
 * (two 4 s clips), a 5 s gap, 4 s more, another gap, then 4 s at 640x360 from t0 + 20 s. The
 * clips are `dir`/a.mp4 (default size) and `dir`/b.mp4 (640x360).
 */
export async function gappedSource(dir: string, t0: number): Promise<FileSource> {
  await Promise.all([makeClip(join(dir, "a.mp4"), { seconds: 4 }), makeClip(join(dir, "b.mp4"), { seconds: 4, width: 640, height: 360 })]);
  const source = new FileSource(join(dir, "store"));
  source.add("cam1", "main", t0, join(dir, "a.mp4"));
  source.add("cam1", "main", t0 + 4000, join(dir, "a.mp4"));
  source.add("cam1", "main", t0 + 13_000, join(dir, "a.mp4"));
  source.add("cam1", "main", t0 + 20_000, join(dir, "b.mp4"));
  return source;
}

export async function ffprobeJson(target: string, extra: string[] = []): Promise<{ json: any; stderr: string; code: number }> {
  const p = Bun.spawn(["ffprobe", "-v", "error", ...extra, "-of", "json", target], { stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  return { json: out ? JSON.parse(out) : {}, stderr: err, code };
}

/** Decoded video frames and any decoder complaint. */
export async function countFrames(target: string, extra: string[] = []): Promise<{ frames: number; stderr: string }> {
  const r = await ffprobeJson(target, [...extra, "-count_frames", "-select_streams", "v:0", "-show_entries", "stream=nb_read_frames"]);
  return { frames: Number(r.json.streams?.[0]?.nb_read_frames ?? 0), stderr: r.stderr };
}

/** Plays a clip into a store writer as ingest would: init, then each fragment "received" at wallStartMs + its media end. */
export async function feedClip(
  writer: { init(bytes: Uint8Array, info: InitInfo): void; fragment(bytes: Uint8Array, info: FragmentInfo, receivedAtMs: number): Promise<void> },
  clip: string,
  wallStartMs: number,
  onTime?: (ms: number) => void,
): Promise<number> {
  const items = new FragmentSplitter().push(new Uint8Array(await Bun.file(clip).arrayBuffer()));
  let end = wallStartMs;
  for (const it of items) {
    if (it.kind === "init") writer.init(it.bytes, it.info);
    else {
      end = wallStartMs + it.info.startMs + it.info.durationMs;
      onTime?.(end);
      await writer.fragment(it.bytes, it.info, end);
    }
  }
  return end;
}
