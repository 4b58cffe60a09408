import { beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FragmentSplitter, concat, parseInit, retimeFragment, scanSegment, parseFragment, type SplitItem } from "./index.ts";

// A real fragmented MP4 from GStreamer's mp4mux, as the recorder's ingest produces it.
let file: Uint8Array;
const dir = mkdtempSync(join(tmpdir(), "mp4-"));
beforeAll(async () => {
  const out = join(dir, "a.mp4");
  const p = Bun.spawn([
    "gst-launch-1.0", "-q", "videotestsrc", "num-buffers=60", "!", "video/x-raw,width=320,height=240,framerate=15/1",
    "!", "x264enc", "key-int-max=15", "tune=zerolatency", "speed-preset=ultrafast", "!", "h264parse",
    "!", "mp4mux", "fragment-duration=500", "streamable=true", "!", "filesink", `location=${out}`,
  ]);
  expect(await p.exited).toBe(0);
  file = new Uint8Array(await Bun.file(out).arrayBuffer());
});

function splitAll(chunkSize: number): SplitItem[] {
  const s = new FragmentSplitter();
  const items: SplitItem[] = [];
  for (let i = 0; i < file.length; i += chunkSize) items.push(...s.push(file.subarray(i, i + chunkSize)));
  return items;
}

describe("mp4", () => {
  test("splitter yields one init and whole fragments regardless of chunking", () => {
    for (const size of [1, 7, 1000, 1 << 20]) {
      const items = splitAll(size);
      expect(items[0]!.kind).toBe("init");
      const frags = items.filter((i) => i.kind === "fragment");
      expect(frags.length).toBeGreaterThan(4);
      if (items[0]!.kind === "init") {
        expect(items[0]!.info.video?.width).toBe(320);
        expect(items[0]!.info.video?.height).toBe(240);
        expect(items[0]!.info.video?.codec).toMatch(/^avc1\.[0-9a-f]{6}$/);
      }
    }
  });

  test("fragments are contiguous, durations add up to 4 s, keyframes at 1 s", () => {
    const frags = splitAll(4096).flatMap((i) => (i.kind === "fragment" ? [i.info] : []));
    let t = 0;
    for (const f of frags) {
      expect(Math.abs(f.startMs - t)).toBeLessThan(1);
      t = f.startMs + f.durationMs;
    }
    expect(Math.round(t)).toBe(4000);
    const keyStarts = frags.filter((f) => f.keyframe).map((f) => Math.round(f.startMs));
    expect(keyStarts).toEqual([0, 1000, 2000, 3000]);
  });

  test("scan of a torn file finds the playable prefix", () => {
    const whole = scanSegment(file);
    expect(Math.round(whole.durationMs)).toBe(4000);
    const cut = file.subarray(0, whole.fragments[3]!.offset + 50);
    const torn = scanSegment(cut);
    expect(torn.fragments.length).toBe(3);
    expect(torn.playableBytes).toBe(whole.fragments[3]!.offset);
    expect(scanSegment(new Uint8Array(0)).init).toBeNull();
  });

  test("retime moves tfdt and keeps sample data addressable", async () => {
    const items = splitAll(1 << 20);
    const init = items[0]!.kind === "init" ? items[0]!.info : parseInit(new Uint8Array());
    const shifted = items.map((i) => (i.kind === "fragment" ? retimeFragment(i.bytes, init, (_t, ms) => ms + 3_600_000 * 24 * 365) : i.bytes));
    const info = parseFragment(shifted[1]!, init);
    expect(Math.round(info.startMs)).toBe(3_600_000 * 24 * 365);
    // ffprobe decodes the retimed stream without errors.
    const path = join(dir, "retimed.mp4");
    await Bun.write(path, concat(shifted));
    const p = Bun.spawn(["ffprobe", "-v", "error", "-count_frames", "-show_entries", "stream=nb_read_frames", "-of", "csv=p=0", path], { stderr: "pipe" });
    expect((await new Response(p.stdout).text()).trim()).toBe("60");
    expect(await new Response(p.stderr).text()).toBe("");
  });
});

test("audio-only moofs (mp4mux writes one per track) are timed in their own timescale and never cut points", async () => {
  const out = join(dir, "av.mp4");
  const p = Bun.spawn([
    "gst-launch-1.0", "-q", "videotestsrc", "num-buffers=45", "!", "video/x-raw,width=160,height=120,framerate=15/1",
    "!", "x264enc", "key-int-max=15", "tune=zerolatency", "speed-preset=ultrafast", "!", "h264parse", "!", "mux.",
    "audiotestsrc", "num-buffers=140", "!", "audio/x-raw,rate=48000", "!", "voaacenc", "!", "aacparse", "!", "mux.",
    "mp4mux", "name=mux", "fragment-duration=500", "streamable=true", "!", "filesink", `location=${out}`,
  ]);
  expect(await p.exited).toBe(0);
  const scan = scanSegment(new Uint8Array(await Bun.file(out).arrayBuffer()));
  expect(scan.init?.tracks.map((t) => t.kind).sort()).toEqual(["audio", "video"]);
  const audioOnly = scan.fragments.filter((f) => !f.info.hasReferenceTrack);
  expect(audioOnly.length).toBeGreaterThan(0);
  for (const f of audioOnly) expect(f.info.keyframe).toBe(false);
  expect(Math.round(scan.durationMs)).toBe(3000);
});

test("retime rewrites every moof of a unit holding several moof+mdat pairs", () => {
  const items = new FragmentSplitter().push(file);
  const init = items[0]!.kind === "init" ? items[0]!.info : parseInit(new Uint8Array());
  const frags = items.filter((i) => i.kind === "fragment").map((i) => i.bytes);
  const unit = concat([frags[0]!, frags[1]!]);
  const out = retimeFragment(unit, init, (_t, ms) => ms + 10_000);
  const scan = scanSegment(concat([items[0]!.bytes, out]));
  expect(scan.fragments.map((f) => Math.round(f.info.startMs))).toEqual([10_000, Math.round(10_000 + parseFragment(frags[1]!, init).startMs)]);
});
