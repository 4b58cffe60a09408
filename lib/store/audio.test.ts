/**
 * Audio loss is visible (issue 13 item 4): a camera that stops sending AAC while its video goes
 * on leaves no hole in the timeline, so the writer watches the audio track itself — status
 * says "missing" with how long, and the log says when it went and when it came back. Real
 * media (x264 + AAC in separate moofs); the loss is modelled by not delivering the audio moofs.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ManualClock } from "../clock.ts";
import { Logger, MemorySink } from "../log/index.ts";
import { MediaStore } from "./index.ts";
import { fragmentAt, makeMedia, type Media } from "./testdata/media.ts";

let dir: string;
let media: Media;
const T0 = Date.UTC(2026, 0, 10, 12, 0, 0);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "store-audio-"));
  media = await makeMedia(dir, 10, { audio: true });
}, 60_000);
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

test("AAC stops for 5 s while video records: status says audio missing, the log says when it went and came back", async () => {
  const clock = new ManualClock(T0);
  const sink = new MemorySink();
  const store = await MediaStore.open({ root: join(dir, "store"), clock, log: new Logger({ component: "store", sink }), segmentDurationMs: 2000, minFreeBytes: 0 });
  const w = store.writer("cam1", "main");
  w.init(media.init, media.info);
  const audioTrack = media.info.tracks.find((t) => t.kind === "audio")!.trackId;
  const isAudio = (n: number) => fragmentAt(media, n).info.runs.every((r) => r.trackId === audioTrack);
  let missingSeen = 0;
  for (let n = 0; n < media.frags.length; n++) {
    const f = fragmentAt(media, n);
    const videoMs = f.info.startMs;
    if (isAudio(n) && videoMs >= 2000 && videoMs < 7000) continue; // the camera's AAC goes silent for 5 s
    clock.set(T0 + f.info.startMs + f.info.durationMs);
    await w.fragment(f.bytes, f.info, clock.now());
    const a = w.status().audio!;
    if (a.state === "missing") missingSeen = Math.max(missingSeen, a.missingMs);
  }
  expect(missingSeen).toBeGreaterThan(3000);
  expect(w.status().audio).toEqual({ codec: "mp4a.40.2", state: "ok", missingMs: 0 });
  expect(sink.records.filter((r) => r.msg === "audio lost: no audio samples while video records").length).toBe(1);
  expect(sink.records.filter((r) => r.msg === "audio is back").length).toBe(1);
  await store.close();
});
