/**
 * Edge for transfer system tests, in its own process (kill -9): a real MediaStore recording
 * looped GStreamer fMP4 in real time (1 s segments) for N cameras, the control-plane uplink
 * (MQTT through a link emulator) and the transfer engine (HTTPS through another one); with
 * `live`, also the live hubs fed from the same fragments and the uplinks central asks for.
 * Commands on stdin, answers `OK <cmd>` / `DUMP <json>` / `ERR …` on stdout:
 *   link <type> | event <camera> <kind> | stop | dump | status | api | retention <camera> <maxBytes>
 * `api` answers `API <url>`: the edge's GET /api/v1/transfers (edge/transfer/routes.ts) on loopback, no session.
 * `productTimings`: the product's backoffs and stall timers instead of the tests' short ones.
 * Usage: bun transfer-edge.ts '{"dir":…,"mqttUrl":…,"federationUrl":…,"src":…,"cameras":[…],"link":"cellular"}'
 */
import "reflect-metadata";
import path from "node:path";
import { MediaStore } from "../../lib/store/index.ts";
import { fragmentAt, readMedia } from "../../lib/store/testdata/media.ts";
import { loadIdentity } from "../../edge/identity/index.ts";
import { startUplink } from "../../edge/uplink/index.ts";
import { Hono } from "hono";
import { mountTransfers, startEdgeTransfer } from "../../edge/transfer/index.ts";
import { EdgeLive } from "../../edge/live/index.ts";
import { Reachability } from "../../edge/reach/index.ts";
import { systemClock } from "../../lib/clock.ts";
import { Logger, MemorySink, createLogger } from "../../lib/log/index.ts";
import { say, serveLines } from "./line-child.ts";

const o = JSON.parse(process.argv[2]!) as { dir: string; mqttUrl: string; federationUrl: string; src: string; cameras: string[]; link?: string; workers?: number; record?: boolean; segmentMs?: number; retentionMs?: number; perRequest?: number; live?: boolean; productTimings?: boolean; sub?: boolean };
const quiet = (component: string) => (process.env.EDGE_LOG ? createLogger(component) : new Logger({ component, sink: new MemorySink(), level: "error" }));
const media = await readMedia(o.src);

const identity = await loadIdentity(o.dir);
if (!identity) throw new Error("not enrolled");
const store = await MediaStore.open({ root: path.join(o.dir, "store"), segmentDurationMs: o.segmentMs ?? 1000, minFreeBytes: 0, log: quiet("store") });
let uplinkRef: Awaited<ReturnType<typeof startUplink>> | null = null;
// The product's one "central reachable again" signal for MQTT, transfers and live (edge/reach).
const reach = new Reachability({ url: o.federationUrl, log: quiet("edge.reach") });
const transfer = await startEdgeTransfer({
  dataDir: o.dir,
  store,
  federationUrl: o.federationUrl,
  tls: { ca: identity.caPem, cert: identity.certPem, key: identity.keyPem },
  policy: () => uplinkRef?.appliedConfig?.config.policy ?? null,
  link: o.link ?? "cellular",
  clock: systemClock,
  log: quiet("edge.transfer"),
  workers: o.workers,
  maxChunksPerRequest: o.perRequest,
  pollWaitMs: 5000,
  refreshMs: 500,
  ...(o.productTimings ? {} : { stallMs: 8000, backoff: { minMs: 100, maxMs: 1000 } }),
  reach,
});
let recording = o.record !== false;
const tls = { ca: identity.caPem, cert: identity.certPem, key: identity.keyPem };
const live = o.live ? new EdgeLive({ clock: systemClock, log: quiet("edge.live") }) : null;
live?.setUplinkTarget({ url: () => o.federationUrl, tls: () => tls, reach });
const uplink = await startUplink({
  dataDir: o.dir,
  identity,
  mqttUrl: o.mqttUrl,
  store,
  cameras: () => o.cameras.map((id) => ({ id, name: id, enabled: true, streams: (["main", ...(o.sub ? ["sub"] : [])] as const).map((kind) => ({ kind: kind as "main" | "sub", state: recording ? "recording" : "stopped", bitrateKbps: 200, fps: 15 })) })),
  share: ["*"],
  log: quiet("edge.uplink"),
  link: () => ({ type: transfer.link, quality: null }),
  ...(o.retentionMs ? { retention: () => ({ maxAgeMs: o.retentionMs }) } : {}),
  commands: { ...transfer.commands, ...(live ? { live: (a: Record<string, unknown>) => live.command(a) } : {}) },
  ...(o.productTimings ? {} : { intervals: { syncMs: 300, treeMs: 300, healthMs: 2000, digestMs: 5000, ackTimeoutMs: 2000 } }),
  ...(o.productTimings ? {} : { backoff: { minMs: 100, maxMs: 500 } }),
  reach,
});
uplinkRef = uplink;
// Retention as the edge runs it (periodically), when the test asks for a short horizon.
if (o.retentionMs) setInterval(() => void store.enforceRetention(() => ({ maxAgeMs: o.retentionMs })).catch(() => undefined), 500);

// Recording: every camera gets the same looped clip in real time; `stop` ends every session.
// `sub`: a sub stream is recorded too (the same clip; progressive retrieval tests).
const writers = recording ? o.cameras.flatMap((id) => [store.writer(id, "main"), ...(o.sub ? [store.writer(id, "sub")] : [])]) : [];
const liveFeeds = live ? o.cameras.map((id) => live.feed(id, "main")) : [];
for (const w of writers) w.init(media.init, media.info);
let stopReq: (() => void) | null = null;
const feeder = (async () => {
  if (!recording) return;
  const base = Date.now();
  for (let n = 0; ; n++) {
    const f = fragmentAt(media, n);
    const due = base + f.info.startMs + f.info.durationMs;
    await Bun.sleep(Math.max(0, due - Date.now()));
    if (stopReq) {
      for (const w of writers) await w.end("stopped", "test");
      recording = false;
      (stopReq as () => void)();
      return;
    }
    for (const w of writers) await w.fragment(f.bytes, f.info, Date.now());
    for (const l of liveFeeds) l(f.bytes, f.info, media.init);
  }
})().catch((e) => process.stdout.write(`ERR feeder ${(e as Error).message}\n`));
void feeder;

let apiServer: ReturnType<typeof Bun.serve> | null = null;
async function handle(line: string): Promise<void> {
  const [cmd, a, b] = line.trim().split(/\s+/);
  if (cmd === "link") transfer.setLink(a!);
  else if (cmd === "event") {
    const atMs = Date.now();
    await uplink.event({ eventId: `ev-${atMs}`, cameraId: a!, kind: b ?? "motion", atMs });
    say(`EVENT ${atMs}`);
  } else if (cmd === "stop") {
    if (recording) await new Promise<void>((r) => (stopReq = r));
  } else if (cmd === "retention") {
    const r = await store.enforceRetention((cam) => (cam === a ? { maxBytes: Number(b) } : {}));
    say(`RETENTION ${r.deleted.length}`);
  } else if (cmd === "api") {
    if (!apiServer) {
      const app = new Hono();
      mountTransfers(app, async (_c, next) => next(), () => transfer.status());
      apiServer = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: app.fetch });
    }
    say(`API http://127.0.0.1:${apiServer.port}`);
  } else if (cmd === "status") {
    // Cheap (no index sync): for tests that watch a recovery at 100 ms resolution.
    say("STATUS " + JSON.stringify({ at: Date.now(), uplink: uplink.status(), transfer: transfer.status(), live: live?.uplinks() ?? [], reach: reach.stats }));
  } else if (cmd === "dump") {
    await uplink.syncNow();
    const cams: Record<string, { startMs: number; endMs: number; bytes: number; sha256: string }[]> = {};
    for (const c of o.cameras) {
      cams[c] = (await store.segments({ cameraId: c, stream: "main", fromMs: 0, toMs: Date.now() + 1000 }))
        .filter((s) => !s.open)
        .map((s) => ({ startMs: s.startMs, endMs: s.endMs, bytes: s.bytes, sha256: s.sha256! }));
    }
    say("DUMP " + JSON.stringify({ cams, locks: (await store.locks()).map((l) => ({ id: l.id, cameraId: l.cameraId, startMs: l.startMs, endMs: l.endMs })), transfer: transfer.status(), uplink: uplink.status() }));
  }
  say(`OK ${cmd}`);
}

await serveLines(handle);
