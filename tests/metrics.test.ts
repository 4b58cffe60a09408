/**
 * Metrics for the people who run it (system test): a real central (startCentralSite) and an
 * enrolled real edge recording a camsim camera, each with its scrape listener. The numbers come
 * from the same status the product acts on: the stream is recording, then not when its camera
 * stops; the site is online at central; the control plane has committed the edge's messages.
 */
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startCamsim, type Camsim } from "../camsim/index.ts";
import { startCentralSite, type CentralSite } from "../central/main.ts";
import { startEdge, type Edge } from "../edge/main.ts";
import { enroll } from "../edge/identity/index.ts";
import { Logger, MemorySink } from "../lib/log/index.ts";
import { until } from "./helpers.ts";

setDefaultTimeout(120_000);

let root: string;
let sim: Camsim;
let site: CentralSite;
let edge: Edge;
let siteId: string;
const TOKEN = "scrape-token-for-the-test";

/** The value of the first sample whose line starts with `prefix` (name and labels as printed). */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | null {
  for (const line of text.split("\n")) {
    if (!line.startsWith(name + "{") && !line.startsWith(name + " ")) continue;
    if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) return Number(line.slice(line.lastIndexOf(" ") + 1));
  }
  return null;
}
const scrape = async (url: string, token?: string) => (await fetch(url, token ? { headers: { authorization: `Bearer ${token}` } } : {})).text();

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "outpost-metrics-"));
  const log = new Logger({ component: "test", sink: new MemorySink(), level: "info" });
  await writeFile(join(root, "token"), TOKEN);
  sim = await startCamsim({ cameras: 1, discoveryPort: null, main: { width: 320, height: 180, bitrateKbps: 200 }, log });
  site = await startCentralSite(
    { dataDir: join(root, "central"), api: { port: 0, plainHttp: true }, enroll: { port: 0 }, federation: { port: 0 }, mqtt: { port: 0 }, live: { rtsp: { enabled: false } }, metrics: { port: 0, tokenFile: join(root, "token") } },
    { log },
  );
  const t = await site.central.createEnrollmentToken("Bus 12");
  const edgeDir = join(root, "edge");
  siteId = (await enroll({ centralUrl: site.central.enrollUrl, token: t.token, dataDir: edgeDir, log })).siteId;
  edge = await startEdge(
    {
      dataDir: edgeDir,
      name: "bus-12",
      api: { enabled: false },
      storage: { segmentDurationMs: 2000, minFreeBytes: 0 },
      ingest: { staggerMs: 100, backoffInitialMs: 200, backoffMaxMs: 1000, stallTimeoutMs: 2000 },
      federation: { share: ["*"], healthIntervalMs: 1000 },
      metrics: { port: 0 },
      cameras: sim.cameras.map((c) => ({ id: "cam1", rtsp: { main: c.rtspMain }, user: sim.user, password: sim.password, streams: ["main" as const] })),
    },
    { log },
  );
}, 90_000);

afterAll(async () => {
  await edge?.stop().catch(() => undefined);
  await sim?.close().catch(() => undefined);
  await site?.close().catch(() => undefined);
  await rm(root, { recursive: true, force: true });
}, 30_000);

test("the edge reports its stream, disk, uplink and certificate; a stopped camera shows at the next scrape", async () => {
  expect(edge.metricsUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
  const cam = { camera: "cam1", stream: "main" };
  const text = await until("cam1 recording and the uplink connected in the metrics", async () => {
    const t = await scrape(edge.metricsUrl!);
    return sample(t, "outpost_stream_recording", cam) === 1 && sample(t, "outpost_uplink_connected") === 1 && sample(t, "outpost_stream_bitrate_bits_per_second", cam)! > 0 ? t : null;
  }, 60_000);
  expect(sample(text, "outpost_stream_state", { ...cam, state: "recording" })).toBe(1);
  expect(sample(text, "outpost_disk_free_bytes")).toBeGreaterThan(0);
  expect(sample(text, "outpost_certificate_expiry_timestamp_seconds")! * 1000).toBeGreaterThan(Date.now());
  expect(sample(text, "outpost_outbox_pending_messages")).not.toBeNull();
  expect(text).toContain('edge="bus-12"');
  expect(sample(text, "process_resident_memory_bytes")).toBeGreaterThan(0);
  const after = await until("a segment closed, so the retention horizon is known", async () => {
    const t = await scrape(edge.metricsUrl!);
    return sample(t, "outpost_retention_horizon_seconds", cam) !== null ? t : null;
  }, 30_000);
  expect(sample(after, "outpost_retention_horizon_seconds", cam)).toBeGreaterThanOrEqual(0);

  await sim.stop(sim.cameras[0]!.id);
  const down = await until("cam1 no longer recording in the metrics", async () => {
    const t = await scrape(edge.metricsUrl!);
    return sample(t, "outpost_stream_recording", cam) === 0 ? t : null;
  }, 30_000);
  expect(sample(down, "outpost_stream_state", { ...cam, state: "recording" })).toBeNull();
  await sim.start(sim.cameras[0]!.id);
});

test("central reports the site online and the control plane's work; the scrape needs the token", async () => {
  expect((await fetch(site.metricsUrl!)).status).toBe(401);
  const text = await until("the site online at central with messages applied", async () => {
    const t = await scrape(site.metricsUrl!, TOKEN);
    return sample(t, "outpost_site_online", { site: siteId }) === 1 && sample(t, "outpost_controlplane_messages_applied")! > 0 ? t : null;
  }, 30_000);
  expect(sample(text, "outpost_sites", { state: "active" })).toBe(1);
  expect(sample(text, "outpost_site_certificate_expiry_timestamp_seconds", { site: siteId })! * 1000).toBeGreaterThan(Date.now());
  expect(sample(text, "outpost_controlplane_backlog_messages")).toBeGreaterThanOrEqual(0);
  expect(sample(text, "outpost_live_uplinks")).toBe(0);
});
