/**
 * Each segment file starts at media time 0: players (ffprobe, VLC, a downloaded file) see a
 * file's own duration, not the recording session's elapsed time up to its end.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ManualClock } from "../clock.ts";
import { Logger, MemorySink } from "../log/index.ts";
import { probeDuration } from "../../tests/helpers.ts";
import { MediaStore, type SegmentRecord } from "./index.ts";
import { feed, makeMedia, type Media } from "./testdata/media.ts";

let dir: string;
let media: Media;
const T0 = Date.UTC(2026, 0, 10, 12, 0, 0);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "store-rebase-"));
  media = await makeMedia(dir, 10);
}, 60_000);
afterAll(() => rm(dir, { recursive: true, force: true }));

test("segments deep into a session each report their own duration", async () => {
  const clock = new ManualClock(T0);
  const root = join(dir, "store");
  const store = await MediaStore.open({ root, clock, log: new Logger({ component: "store", sink: new MemorySink() }), segmentDurationMs: 2000, minFreeBytes: 0 });
  const commits: SegmentRecord[] = [];
  const w = store.writer("cam1", "main");
  w.onCommit = (s) => commits.push(s);
  w.init(media.init, media.info);
  // 29 fragments per 10 s loop: 90 of them = 31 s of session (the media loops with rising media time).
  await feed(w, media, clock, T0, 0, 90);
  await w.end("stopped");
  await w.settled();
  const late = commits.filter((s) => s.startMs >= T0 + 20_000).slice(0, 2);
  expect(late.length).toBe(2);
  expect(late[1]!.startMs).toBe(late[0]!.endMs); // consecutive
  for (const s of late) {
    const seconds = await probeDuration(join(root, s.path));
    // Before the fix: 22 s for a 2 s file (media time counted from the session start).
    expect(Math.abs(seconds - (s.endMs - s.startMs) / 1000)).toBeLessThan(0.1);
  }
  await store.close();
});
