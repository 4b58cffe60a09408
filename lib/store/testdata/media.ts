/**
 * Test media for the store's tests: a real fragmented MP4 from GStreamer (mp4mux, 0.5 s
 * fragments, keyframe every second), split into init + fragments, and a feeder that plays
 * them into a writer with an injected clock, looping with shifted media time for long runs.
 */
import { join } from "node:path";
import { FragmentSplitter, retimeFragment, parseFragment, type FragmentInfo, type InitInfo } from "../../mp4/index.ts";
import type { ManualClock } from "../../clock.ts";
import type { SegmentWriter } from "../writer.ts";

export interface Media {
  init: Uint8Array;
  info: InitInfo;
  frags: { bytes: Uint8Array; info: FragmentInfo }[];
  durationMs: number;
}

export async function makeMedia(dir: string, seconds = 10, opts: { audio?: boolean } = {}): Promise<Media> {
  const out = join(dir, opts.audio ? "src-av.mp4" : "src.mp4");
  // With audio: AAC (avenc_aac) muxed beside the video, as cameras with a microphone send it.
  const audio = opts.audio ? ["audiotestsrc", `num-buffers=${Math.ceil((seconds * 44100) / 1024)}`, "samplesperbuffer=1024", "!", "audio/x-raw,rate=44100,channels=1", "!", "avenc_aac", "!", "aacparse", "!", "mux."] : [];
  const p = Bun.spawn([
    "gst-launch-1.0", "-q", "videotestsrc", `num-buffers=${seconds * 15}`, "!", "video/x-raw,width=320,height=240,framerate=15/1",
    "!", "x264enc", "key-int-max=15", "tune=zerolatency", "speed-preset=ultrafast", "!", "h264parse",
    "!", "mp4mux", "name=mux", "fragment-duration=500", "streamable=true", "!", "filesink", `location=${out}`,
    ...audio,
  ], { stdout: "ignore", stderr: "pipe" });
  if ((await p.exited) !== 0) throw new Error(`gst-launch failed: ${await new Response(p.stderr).text()}`);
  return readMedia(out);
}

/** A fragmented MP4 file (makeMedia's, passed to a child process) split into init + fragments. */
export async function readMedia(file: string): Promise<Media> {
  const items = new FragmentSplitter().push(new Uint8Array(await Bun.file(file).arrayBuffer()));
  const first = items[0];
  if (!first || first.kind !== "init") throw new Error("no init segment");
  const frags = items.flatMap((i) => (i.kind === "fragment" ? [{ bytes: i.bytes, info: i.info }] : []));
  const last = frags[frags.length - 1]!;
  return { init: first.bytes, info: first.info, frags, durationMs: last.info.startMs + last.info.durationMs };
}

/** Fragment n of an endless stream made by looping the media (media time keeps rising). */
export function fragmentAt(m: Media, n: number): { bytes: Uint8Array; info: FragmentInfo } {
  const loop = Math.floor(n / m.frags.length);
  const f = m.frags[n % m.frags.length]!;
  if (loop === 0) return f;
  const shift = loop * m.durationMs;
  const bytes = retimeFragment(f.bytes, m.info, (_t, ms) => ms + shift);
  return { bytes, info: parseFragment(bytes, m.info) };
}

/**
 * Feeds fragments [from, to) of the endless stream; each arrives when it ends
 * (wall = baseWall + media end), and the clock is moved there first.
 */
export async function feed(w: SegmentWriter, m: Media, clock: ManualClock, baseWall: number, from: number, to: number): Promise<void> {
  for (let n = from; n < to; n++) {
    const f = fragmentAt(m, n);
    const at = baseWall + f.info.startMs + f.info.durationMs;
    clock.set(at);
    await w.fragment(f.bytes, f.info, at);
  }
  await w.settled(); // closed segments are committed in the background
}
