/**
 * The keyframes of a segment read from its file (init, moofs and keyframes only) are exactly
 * those of the whole file in memory, for whole files and for files torn at any length.
 */
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import fc from "fast-check";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { concat, decodeFragmentTable } from "../../lib/mp4/index.ts";
import { describe } from "../../lib/store/files.ts";
import { makeMedia } from "../../lib/store/testdata/media.ts";
import { removeTempDirs, tempDir } from "../../tests/helpers.ts";
import { segmentKeyframes, segmentKeyframesFromTable, segmentKeyframesOfFile } from "./keyframes.ts";

setDefaultTimeout(60_000);
let dir: string;
let video: Uint8Array;
let withAudio: Uint8Array;

beforeAll(async () => {
  dir = await tempDir("outpost-keyframes-");
  const v = await makeMedia(dir, 4);
  video = concat([v.init, ...v.frags.map((f) => f.bytes)]);
  const a = await makeMedia(dir, 3, { audio: true });
  withAudio = concat([a.init, ...a.frags.map((f) => f.bytes)]);
});
afterAll(removeTempDirs);

async function both(bytes: Uint8Array, name: string) {
  const path = join(dir, name);
  await writeFile(path, bytes);
  return { inMemory: segmentKeyframes(bytes), fromFile: await segmentKeyframesOfFile(path) };
}

test("whole files: the same keyframes, times, codec data and duration", async () => {
  for (const [name, bytes] of [["v.mp4", video], ["av.mp4", withAudio]] as const) {
    const { inMemory, fromFile } = await both(bytes, name);
    expect(inMemory!.keyframes.length).toBeGreaterThanOrEqual(3);
    expect(fromFile).toEqual(inMemory);
  }
});

test("files torn at any length: the same answer as the in-memory scan", async () => {
  await fc.assert(
    fc.asyncProperty(fc.integer({ min: 0, max: video.length }), async (len) => {
      const { inMemory, fromFile } = await both(video.subarray(0, len), "torn.mp4");
      expect(fromFile).toEqual(inMemory);
    }),
    { numRuns: 60 },
  );
});

/** Where a store keeps a segment (describe() builds the row and table the writer commits). */
const SEGMENT = "media/cam1/main/2026-11-30/1796000000000.mp4";

test("from the index's fragment table: the same keyframe positions, times and duration as walking the file", async () => {
  for (const [name, bytes] of [["tv.mp4", video], ["tav.mp4", withAudio]] as const) {
    const path = join(dir, name);
    await writeFile(path, bytes);
    const d = describe(SEGMENT, bytes);
    const table = decodeFragmentTable(d.frags!);
    const walked = await segmentKeyframesOfFile(path, { data: false });
    expect(walked!.keyframes.length).toBeGreaterThanOrEqual(3);
    expect(await segmentKeyframesFromTable(path, table)).toEqual(walked);
  }
});

test("a fragment table that does not fit the file: null (the caller walks the file)", async () => {
  const path = join(dir, "short.mp4");
  await writeFile(path, video);
  const table = decodeFragmentTable(describe(SEGMENT, video).frags!);
  const shifted = { ...table, frags: table.frags.map((f) => ({ ...f, offset: f.offset + 3 })) };
  expect(await segmentKeyframesFromTable(path, shifted)).toBeNull();
});
