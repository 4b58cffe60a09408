/**
 * Fragments the native ingest muxed (lib/mp4 muxFragment, with their info) are retimed and
 * indexed by the writer without being parsed back: the files and the stored fragment tables
 * must be exactly what the general path (parsing) gives — a table equal to a scan of the file,
 * and every fragment in the file equal to the general retime of what was fed.
 */
import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ManualClock } from "../clock.ts";
import { Logger, MemorySink } from "../log/index.ts";
import { concat, decodeFragmentTable, fragmentTableOf, initLength, muxFragment, muxInit, muxedFragmentInfo, parseInit, retimeFragmentParts, type FragmentInfo, type MuxRun } from "../mp4/index.ts";
import { MediaStore } from "./index.ts";

const dir = mkdtempSync(join(tmpdir(), "muxed-table-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test("muxed fragments: stored tables equal scans of the files, bytes equal the general retime", async () => {
  const T0 = Date.UTC(2026, 0, 1, 12, 0, 0);
  const clock = new ManualClock(T0);
  const store = await MediaStore.open({ root: join(dir, "store"), clock, log: new Logger({ component: "t", sink: new MemorySink() }), segmentDurationMs: 2000, minFreeBytes: 0 });
  const initBytes = muxInit([
    { kind: "video", codec: "h264", width: 64, height: 48, sps: [Uint8Array.of(0x67, 0x42, 0xc0, 0x1e)], pps: [Uint8Array.of(0x68, 0xce)], timescale: 90_000 },
    { kind: "audio", codec: "aac", sampleRate: 48_000, channels: 1, config: Uint8Array.of(0x11, 0x88), timescale: 48_000 },
  ]);
  const init = parseInit(initBytes);
  const ts = new Map([[1, 90_000], [2, 48_000]]);
  const w = store.writer("cam1", "main");
  w.init(initBytes, init);
  // 6 s in 500 ms fragments (a keyframe every second) that start 1 h into the session: every
  // segment file is rebased; 15 fps (6000 ticks) and 21.33 ms AAC frames (1024 at 48 kHz).
  const fed: Uint8Array[] = [];
  const fedInfo: FragmentInfo[] = [];
  let vt = 3600 * 90_000;
  let at = 3600 * 48_000 - 512;
  for (let f = 0; f < 12; f++) {
    const video = Array.from({ length: 7 + (f % 2) }, (_, i) => ({ parts: [Uint8Array.of(i === 0 && f % 2 === 0 ? 0x65 : 0x41, f, i), new Uint8Array(50 + i)], duration: 6000 - (i === 6 ? 1 : 0), keyframe: i === 0 && f % 2 === 0, cts: 0 }));
    const audio = Array.from({ length: 23 }, (_, i) => ({ parts: [new Uint8Array(20 + (i % 3))], duration: 1024, keyframe: true, cts: 0 }));
    const runs: MuxRun[] = [
      { trackId: 1, baseDecodeTime: vt, nalPrefix: true, samples: video },
      { trackId: 2, baseDecodeTime: at, nalPrefix: false, samples: audio },
    ];
    const info = muxedFragmentInfo(runs, ts, 1);
    const bytes = muxFragment(f + 1, runs, info);
    fed.push(bytes);
    fedInfo.push(info);
    clock.advance(500);
    await w.fragment(bytes, info, clock.now());
    vt += info.runs[0]!.duration;
    at += info.runs[1]!.duration;
  }
  await w.end("stopped");
  await w.settled();
  const segs = await store.segments({ cameraId: "cam1", fromMs: T0 - 60_000, toMs: T0 + 60_000 });
  expect(segs.length).toBeGreaterThanOrEqual(2);
  const tables = await store.fragmentTables("cam1", "main", segs);
  let next = 0;
  for (const s of segs) {
    const file = new Uint8Array(readFileSync(store.absPath(s)));
    const initLen = initLength(file);
    const t = decodeFragmentTable(tables.get(s.startMs)!);
    const scan = fragmentTableOf(file, init, initLen);
    expect(t.initLen).toBe(initLen);
    expect(t.frags).toEqual(scan);
    // The file's media: the fed fragments, each retimed the general way so that the file starts
    // at 0 (by the earliest track start of its first fragment, as writer.ts fileMediaStart).
    const first = fedInfo[next]!;
    const rebaseMs = Math.min(...first.runs.map((r) => (r.baseDecodeTime * 1000) / ts.get(r.trackId)!));
    const want: Uint8Array[] = [];
    for (const f of scan) {
      const original = fed[next++]!;
      want.push(concat(retimeFragmentParts(original, init, (_id, ms) => ms - rebaseMs)));
      expect(f.size).toBe(original.length);
    }
    expect(Buffer.from(file.subarray(initLen)).equals(Buffer.from(concat(want)))).toBe(true);
  }
  expect(next).toBe(fed.length);
  await store.close();
});
