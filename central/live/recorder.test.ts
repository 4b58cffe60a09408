import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { systemClock } from "../../lib/clock.ts";
import { Logger, MemorySink } from "../../lib/log/index.ts";
import { MediaStore } from "../../lib/store/index.ts";
import { fragmentAt, makeMedia, type Media } from "../../lib/store/testdata/media.ts";
import { CentralLive } from "./live.ts";
import { LiveRecorder, skipped, type LiveRecorderOptions } from "./recorder.ts";

let root: string;
let media: Media;
const log = new Logger({ component: "test", sink: new MemorySink(), level: "error" });

beforeAll(async () => {
  root = await mkdtemp(path.join(tmpdir(), "recorder-"));
  media = await makeMedia(root, 4);
});
afterAll(() => rm(root, { recursive: true, force: true }));

const newLive = () => new CentralLive({ clock: systemClock, log, requester: { request: async () => undefined } });

/**
 * Camera s1.<cam>'s live hub recorded into a store of its own: `send(n)` publishes the test
 * media's fragment n as if it arrived live (its end `base` + media time, base 20 s ago).
 */
async function recordFromHub(cam: string, o?: LiveRecorderOptions) {
  const store = await MediaStore.open({ root: path.join(root, `central-${cam}`), minFreeBytes: 0, log });
  const live = newLive();
  const stop = new LiveRecorder(live, store, log, o).recordLive(`s1.${cam}`, "main");
  const hub = live.hub("s1", cam, "main");
  hub.publishInit(media.init);
  const base = Date.now() - 20_000;
  const send = (n: number) => {
    const f = fragmentAt(media, n);
    hub.publishFragment(f.bytes, f.info, base + f.info.startMs + f.info.durationMs);
  };
  const close = async () => {
    await store.close();
    live.close();
  };
  return { store, base, send, stop, close };
}

test("fragments dropped on the way (slow link) close the live segment: the hole shows instead of being recorded across", async () => {
  const { store, base, send, stop, close } = await recordFromHub("cam1");
  // 0–3.5 s live, then a skip to a later keyframe (what the edge sender does on a slow link).
  for (let n = 0; n < 10; n++) send(n);
  for (let n = 14; n < 24; n++) send(n); // fragments 10–13 (~1.3 s, a keyframe-to-keyframe skip) never arrived
  await stop();
  const segs = await store.segments({ cameraId: "s1.cam1", stream: "main", fromMs: base - 1000, toMs: base + 60_000 });
  const tl = await store.timeline({ cameraId: "s1.cam1", stream: "main", fromMs: base - 1000, toMs: base + 60_000 });
  expect(segs.length).toBe(2);
  const hole = segs[1]!.startMs - segs[0]!.endMs;
  expect(hole).toBeGreaterThan(1000);
  expect(tl.gaps.some((g) => g.reason === "stall" && (g.detail ?? "").includes("missing"))).toBe(true);
  await close();
});

test("an uplink that stays up but goes silent closes the live segment: listed while silent, a new one when fragments resume", async () => {
  const { store, base, send, stop, close } = await recordFromHub("cam2", { silentCloseMs: 300 });
  // Closed segments only: an open one is listed by the store, but not exportable or held yet.
  const list = async () => (await store.segments({ cameraId: "s1.cam2", stream: "main", fromMs: base - 1000, toMs: base + 60_000 })).filter((x) => !x.open);
  for (let n = 0; n < 10; n++) send(n);
  await Bun.sleep(100);
  expect(await list()).toHaveLength(0); // still open
  const deadline = Date.now() + 10_000;
  while ((await list()).length === 0 && Date.now() < deadline) await Bun.sleep(50);
  expect(await list()).toHaveLength(1); // closed by silence, without the stream ending
  for (let n = 10; n < 20; n++) send(n);
  await Bun.sleep(100);
  for (let n = 20; n < 24; n++) send(n);
  const deadline2 = Date.now() + 10_000;
  while ((await list()).length < 2 && Date.now() < deadline2) await Bun.sleep(50);
  expect(await list()).toHaveLength(2); // silence again after the second burst: closed by the re-armed timer
  await stop();
  const tl = await store.timeline({ cameraId: "s1.cam2", stream: "main", fromMs: base - 1000, toMs: base + 60_000 });
  expect(tl.gaps.some((g) => g.reason === "stall" && (g.detail ?? "").includes("silent"))).toBe(true);
  await close();
});

test("skipped(): media time exactly, and the hub's re-based jumps; capture-clock lag is not a hole", () => {
  const last = { mediaEnd: 1000 };
  expect(skipped(last, { startMs: 1000 })).toBe(false);
  expect(skipped(last, { startMs: 1030 })).toBe(false); // rounding
  expect(skipped(last, { startMs: 2000 })).toBe(true); // media jumped 1 s
  expect(skipped(last, { startMs: 1000, rebased: true })).toBe(true); // a longer jump the hub made look continuous
});

test("the hub marks a jump it re-bases", async () => {
  const live = newLive();
  const hub = live.hub("s1", "cam9", "main");
  hub.publishInit(media.init);
  const seen: { rebased?: boolean }[] = [];
  hub.listen((e) => e.type === "fragment" && seen.push(e.fragment));
  const f = (n: number) => fragmentAt(media, n);
  hub.publishFragment(f(0).bytes, f(0).info);
  hub.publishFragment(f(1).bytes, f(1).info);
  hub.publishFragment(f(30).bytes, f(30).info); // ~10 s later in media time
  expect(seen.map((x) => x.rebased === true)).toEqual([false, false, true]);
  live.close();
});
