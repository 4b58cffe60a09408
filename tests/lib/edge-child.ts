/**
 * Edge side of the outage test in its own process (so it can be killed with -9): a real
 * MediaStore recording looped GStreamer fMP4 in real time for camera cam1, plus the uplink.
 * Reads commands on stdin, answers "OK <cmd>" (and "DUMP <json>") on stdout.
 * Usage: bun edge-child.ts '{"dir":…,"mqttUrl":…,"src":…}'
 */
import "reflect-metadata";
import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { MediaStore } from "../../lib/store/index.ts";
import { fragmentAt, readMedia } from "../../lib/store/testdata/media.ts";
import { loadIdentity } from "../../edge/identity/index.ts";
import { startUplink } from "../../edge/uplink/index.ts";
import { quiet } from "./cp.ts";
import { createLogger } from "../../lib/log/index.ts";
import { say, serveLines } from "./line-child.ts";

const o = JSON.parse(process.argv[2]!) as { dir: string; mqttUrl: string; src: string };
const media = await readMedia(o.src);

// Recording: fragments arrive in real time (0.5 s each); `recording = false` makes a gap.
let recording = true;
const identity = await loadIdentity(o.dir);
if (!identity) throw new Error("not enrolled");
const store = await MediaStore.open({ root: path.join(o.dir, "store"), segmentDurationMs: 1000, minFreeBytes: 0, log: process.env.CHILD_LOG ? createLogger("store") : quiet() });
const uplink = await startUplink({
  dataDir: o.dir,
  identity,
  mqttUrl: o.mqttUrl,
  store,
  cameras: () => [{ id: "cam1", name: "Cam 1", enabled: true, streams: [{ kind: "main", state: recording ? "recording" : "backoff", bitrateKbps: 300, fps: 15 }] }],
  share: ["cam1"],
  log: quiet("edge"),
  intervals: { syncMs: 200, treeMs: 200, healthMs: 1000, digestMs: 2000, ackTimeoutMs: 2000 },
  backoff: { minMs: 100, maxMs: 500 },
});

let n = 0;
const w = store.writer("cam1", "main");
let sessionOpen = false;
// The writer is used by one caller at a time (as ingest does): ends happen inside the loop.
let endRequest: { reason: "camera-offline" | "stopped"; done: () => void } | null = null;
void (async () => {
  const base = Date.now();
  for (;;) {
    const r = endRequest as { reason: "camera-offline" | "stopped"; done: () => void } | null;
    if (r) {
      endRequest = null;
      await w.end(r.reason, "test");
      sessionOpen = false;
      recording = false;
      r.done();
    }
    if (!recording) {
      await Bun.sleep(50);
      continue;
    }
    if (!sessionOpen) {
      w.init(media.init, media.info);
      sessionOpen = true;
    }
    const f = fragmentAt(media, n++);
    const due = base + f.info.startMs + f.info.durationMs; // media pace
    await Bun.sleep(Math.max(0, due - Date.now()));
    if (endRequest) continue;
    await w.fragment(f.bytes, f.info, Date.now());
    if (process.env.CHILD_LOG) process.stderr.write(`F ${n} ${f.info.keyframe} ${Date.now()} ${JSON.stringify(w.current() ? [w.current()!.startMs, w.current()!.endMs] : null)}\n`);
  }
})().catch((e) => process.stdout.write(`ERR feeder ${(e as Error).message}\n`));

const counterFile = path.join(o.dir, "counter");
let counter = Number(await readFile(counterFile, "utf8").catch(() => "0"));

async function handle(line: string): Promise<void> {
  if (process.env.CHILD_LOG) process.stderr.write(`CMD ${line} ${Date.now()}\n`);
  const [cmd, arg] = line.trim().split(/\s+/);
  if (cmd === "events") {
    const total = Number(arg);
    for (let done = 0; done < total; ) {
      const k = Math.min(200, total - done);
      await Promise.all(Array.from({ length: k }, (_, i) => uplink.event({ eventId: `t-${counter + done + i}`, cameraId: "cam1", kind: "tick" })));
      done += k;
    }
    counter += total;
    await writeFile(counterFile, String(counter));
  } else if (cmd === "gap" || cmd === "stop") {
    await new Promise<void>((done) => (endRequest = { reason: cmd === "gap" ? "camera-offline" : "stopped", done }));
    if (cmd === "gap") {
      await Bun.sleep(700);
      recording = true;
    }
  } else if (cmd === "lock") {
    await store.createLock({ cameraId: "cam1", startMs: Date.now() - 3000, endMs: Date.now(), reason: "incident", createdBy: "test" });
  } else if (cmd === "dump") {
    await uplink.syncNow();
    const now = Date.now();
    const segs = (await store.segments({ cameraId: "cam1", stream: "main", fromMs: 0, toMs: now + 1 })).filter((s) => !s.open).map((s) => [s.startMs, s.endMs, s.bytes]);
    const gaps = (await store.timeline({ cameraId: "cam1", stream: "main", fromMs: 0, toMs: now }, { segments: false })).gaps.filter((g) => g.endMs < now).map((g) => [g.startMs, g.endMs, g.reason]);
    const locks = (await store.locks("cam1")).map((l) => l.id).sort();
    say("DUMP " + JSON.stringify({ segs, gaps, locks, counter, status: uplink.status() }));
  }
  say(`OK ${cmd}`);
}

await serveLines(handle);
