/**
 * The edge's live hub follows the camera session (issue 14): when the camera's session ends,
 * the cached GOP goes with it — including the fragment the engine flushes as the connection
 * closes — so an uplink or a viewer that opens afterwards gets no old picture as live.
 * (It used to be dropped only by age, the hub's 4 s maxStaleMs: a camera that stopped had its
 * last picture replayed through a fresh uplink, which central, judging by arrival, served.)
 */
import { expect, test } from "bun:test";
import { Logger, MemorySink } from "../../lib/log/index.ts";
import { muxFragment, muxInit, parseFragment, parseInit, type FragmentInfo } from "../../lib/mp4/index.ts";
import type { GapReason } from "../../lib/store/types.ts";
import type { ViewerSink } from "../../lib/live/index.ts";
import type { IngestSession, SessionParams } from "../ingest/source.ts";
import { StreamIngest, type FragmentSink } from "../ingest/stream.ts";
import { EdgeLive } from "./live.ts";

const INIT = muxInit([{ kind: "video", codec: "h264", width: 320, height: 180, sps: [new Uint8Array([0x67, 0x42, 0xc0, 0x0c, 0xd9])], pps: [new Uint8Array([0x68, 0xce, 0x3c, 0x80])], timescale: 90000 }]);
const INFO = parseInit(INIT);
let seq = 0;
const frag = (startMs: number, keyframe: boolean): [Uint8Array, FragmentInfo] => {
  const b = muxFragment(++seq, [{ trackId: 1, baseDecodeTime: startMs * 90, nalPrefix: true, samples: [{ parts: [new Uint8Array([keyframe ? 0x65 : 0x41, 1, 2])], duration: 45000, keyframe, cts: 0 }] }]);
  return [b, parseFragment(b, INFO)];
};

test("a camera session that ends takes the edge hub's GOP with it, the fragment flushed at the close included", async () => {
  const log = new Logger({ component: "test", sink: new MemorySink(), level: "info" });
  const live = new EdgeLive({ clock: { now: () => Date.now() }, log });
  const ends: GapReason[] = [];
  // The store is a little slow: the last fragment is still being written when the session is over.
  const sink: FragmentSink = {
    init: () => undefined,
    fragment: () => Bun.sleep(20),
    end: async (reason) => void ends.push(reason),
  };
  let sessions = 0;
  const engine = (p: SessionParams): IngestSession => {
    const n = ++sessions;
    let end!: (e: { reason: GapReason; detail: string }) => void;
    const done = new Promise<{ reason: GapReason; detail: string }>((r) => (end = r));
    void (async () => {
      await Bun.sleep(5);
      if (n > 1) return end({ reason: "camera-offline", detail: "stream not found on the camera (404)" });
      p.handlers.init(INIT, INFO);
      for (const [i, key] of [true, false, false].entries()) {
        p.handlers.activity();
        await p.handlers.fragment(...frag(i * 500, key));
      }
      // The camera closes the connection: the engine flushes what it holds (a new keyframe's fragment), then ends.
      void p.handlers.fragment(...frag(1500, true));
      end({ reason: "camera-offline", detail: "connection closed by the camera" });
    })();
    return { kill: () => end({ reason: "stopped", detail: "recorder stopped the session" }), done };
  };
  const ing = new StreamIngest({
    cameraId: "cam1",
    stream: "main",
    source: { url: "rtsp://camera.invalid/main" },
    sink,
    log,
    engine,
    backoff: { initialMs: 10, maxMs: 20, offlineMaxMs: 20 },
    onFragment: live.feed("cam1", "main"),
    onEnd: live.ended("cam1", "main"),
  });
  const hub = live.hubs.get("cam1/main");
  const texts: { type: string }[] = [];
  const watching: ViewerSink = { sendText: (t) => texts.push(JSON.parse(t)), sendBinary: () => undefined, buffered: () => 0, close: () => undefined };
  hub.addViewer(watching);
  ing.start();
  try {
    for (const deadline = Date.now() + 5000; sessions < 4; await Bun.sleep(10)) if (Date.now() > deadline) throw new Error(`only ${sessions} sessions`);
    expect(hub.fragmentsIn).toBe(4); // the flushed fragment reached the hub, before the end
    expect(hub.lastGop).toEqual([]);
    // A viewer (or an uplink) opening now gets the init and no fragment; it hears why.
    const late: string[] = [];
    let binaries = 0;
    hub.addViewer({ sendText: (t) => late.push(JSON.parse(t).type), sendBinary: () => void binaries++, buffered: () => 0, close: () => undefined });
    expect(binaries).toBe(1);
    expect(late).toEqual(["stream", "nosignal"]);
    // One "nosignal" per outage, not one per failed retry.
    expect(texts.filter((t) => t.type === "nosignal").length).toBe(1);
  } finally {
    await ing.stop();
    live.close();
  }
});
