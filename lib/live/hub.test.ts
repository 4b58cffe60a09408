/**
 * LiveHub and HlsPackager never serve stale media as live (issue 14): the GOP cache goes with
 * the source, a GOP older than maxStaleMs is not replayed, every fragment carries its capture time.
 */
import { expect, test } from "bun:test";
import { ManualClock } from "../clock.ts";
import { FragmentPool, isPooledFragment, muxFragment, muxInit, parseFragment, releaseFragment } from "../mp4/index.ts";
import { LiveHub, type ViewerSink } from "./hub.ts";
import { HlsPackager } from "./hls.ts";

const INIT = muxInit([{ kind: "video", codec: "h264", width: 320, height: 180, sps: [new Uint8Array([0x67, 0x42, 0xc0, 0x0c, 0xd9])], pps: [new Uint8Array([0x68, 0xce, 0x3c, 0x80])], timescale: 90000 }]);
let seq = 0;
/** A 500 ms fragment starting at `startMs` of the source's timeline. */
const frag = (startMs: number, keyframe: boolean) =>
  muxFragment(++seq, [{ trackId: 1, baseDecodeTime: startMs * 90, nalPrefix: true, samples: [{ parts: [new Uint8Array([keyframe ? 0x65 : 0x41, 1, 2])], duration: 45000, keyframe, cts: 0 }] }]);

function setup() {
  const clock = new ManualClock();
  const hub = new LiveHub("t", { clock, maxStaleMs: 3000 });
  hub.publishInit(INIT);
  const publish = (startMs: number, keyframe: boolean, capturedAt = clock.now()) => {
    const b = frag(startMs, keyframe);
    hub.publishFragment(b, parseFragment(b, hub.initSegment!.info), capturedAt);
    clock.advance(500);
  };
  const viewer = () => {
    const v = { texts: [] as { type: string; [k: string]: unknown }[], binaries: 0 };
    const sink: ViewerSink = { sendText: (t) => v.texts.push(JSON.parse(t)), sendBinary: () => v.binaries++, buffered: () => 0, close: () => undefined };
    hub.addViewer(sink);
    return v;
  };
  return { clock, hub, publish, viewer };
}

test("a new viewer gets the fresh GOP, each fragment preceded by its capture time", () => {
  const { clock, publish, viewer } = setup();
  publish(0, true);
  publish(500, false);
  const v = viewer();
  expect(v.binaries).toBe(3); // init + 2 fragments
  const times = v.texts.filter((t) => t.type === "time");
  expect(times.map((t) => t.mediaMs)).toEqual([0, 500]);
  expect(times.map((t) => t.capturedAtMs)).toEqual([clock.now() - 1000, clock.now() - 500]);
});

test("the GOP cache is dropped when the source ends; viewers hear nosignal", () => {
  const { hub, publish, viewer } = setup();
  publish(0, true);
  const watching = viewer();
  hub.sourceEnded("link-down", "uplink lost");
  expect(watching.texts.at(-1)).toMatchObject({ type: "nosignal", reason: "link-down", detail: "uplink lost" });
  expect(hub.lastGop.length).toBe(0);
  expect(viewer().binaries).toBe(1); // init only
});

test("a GOP older than maxStaleMs is not replayed; nor one the edge captured long ago", () => {
  const { clock, hub, publish, viewer } = setup();
  publish(0, true);
  clock.advance(3000);
  expect(viewer().binaries).toBe(1);
  // Arrives now, but captured 60 s ago (an edge replaying its own old GOP).
  publish(1000, true, clock.now() - 60_000);
  expect(hub.lastGop.length).toBe(0);
  expect(viewer().binaries).toBe(1);
});

test("with another machine's capture clock (central), staleness goes by arrival only", () => {
  const clock = new ManualClock();
  const hub = new LiveHub("t", { clock, maxStaleMs: 3000, captureClockTrusted: false });
  hub.publishInit(INIT);
  const b = frag(0, true);
  hub.publishFragment(b, parseFragment(b, hub.initSegment!.info), clock.now() - 60_000); // edge clock 60 s behind
  expect(hub.lastGop.length).toBe(1);
  clock.advance(3500);
  expect(hub.lastGop.length).toBe(0);
});

test("LL-HLS: no playlist once the source ended or went quiet; fresh parts bring it back", async () => {
  const { clock, hub, publish } = setup();
  const hls = new HlsPackager(hub, { blockTimeoutMs: 50 });
  publish(0, true);
  publish(500, false);
  expect((await hls.serve("live.m3u8", new URLSearchParams())).status).toBe(200);
  clock.advance(4000); // quiet: the newest part is 4.5 s old
  expect((await hls.serve("live.m3u8", new URLSearchParams())).status).toBe(503);
  publish(5000, true);
  const pl = await (await hls.serve("live.m3u8", new URLSearchParams())).text();
  expect(pl).toContain("#EXT-X-MEDIA-SEQUENCE:1"); // numbering continues, never reused
  hub.sourceEnded("stopped");
  expect((await hls.serve("live.m3u8", new URLSearchParams())).status).toBe(503);
  hls.close();
});

test("pooled fragments (the edge's ingest): the hub holds its cached GOP and lets it go at the next keyframe, a new init and the source's end; HLS keeps copies", () => {
  const clock = new ManualClock();
  const hub = new LiveHub("t", { clock, maxStaleMs: 3000 });
  hub.publishInit(INIT);
  const hls = new HlsPackager(hub);
  const pool = new FragmentPool();
  const sent: Uint8Array[] = [];
  const publish = (startMs: number, keyframe: boolean) => {
    const made = frag(startMs, keyframe);
    const b = pool.take(made.length);
    b.set(made);
    hub.publishFragment(b, parseFragment(b, hub.initSegment!.info));
    sent.push(made);
    releaseFragment(b); // as the ingest does once the writer and the hub are done with it
    clock.advance(500);
  };
  publish(0, true);
  publish(500, false);
  // The GOP is held: nothing free to reuse, and a late viewer gets the bytes as published.
  expect(pool.spare).toBe(0);
  const got: Uint8Array[] = [];
  hub.addViewer({ sendText: () => undefined, sendBinary: (b) => got.push(b.slice()), buffered: () => 0, close: () => undefined });
  expect(got.slice(1)).toEqual(sent);
  publish(1000, true); // the old GOP goes back to the pool
  expect(pool.spare).toBe(2);
  publish(1500, false);
  publish(2000, false); // reuses the buffers the first GOP had
  expect(pool.stats.reused).toBeGreaterThanOrEqual(2);
  // HLS's parts are copies: the buffers they came from were written again since.
  const parts = (hls as unknown as { segments: { parts: { bytes: Uint8Array }[] }[] }).segments.flatMap((s) => s.parts.map((p) => p.bytes));
  expect(parts.some((p) => isPooledFragment(p))).toBe(false);
  expect(parts).toEqual(sent);
  hub.sourceEnded("stop");
  expect(pool.spare).toBe(3);
  hls.close();
});
