/**
 * The real edge recorder federated with central (system test): camsim (2 cameras) → startEdge
 * (real ingest + store) with `federation.share: ["cam1"]` → uplink over mTLS MQTT (embedded
 * aedes) → central's control plane. Every broker message is captured: cam2 never appears.
 */
import "reflect-metadata";
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { startCamsim, withCredentials, type Camsim } from "../camsim/index.ts";
import { startEdge, type Edge } from "../edge/main.ts";
import { enrollEdge, quiet, startTestCentral, until, type TestCentral } from "./lib/cp.ts";

setDefaultTimeout(120_000);

let root: string;
let sim: Camsim;
let tc: TestCentral;
let edge: Edge;
let siteId: string;
const captured: string[] = [];

beforeAll(async () => {
  root = await mkdtemp(path.join(tmpdir(), "fed-edge-"));
  tc = await startTestCentral(root);
  tc.central.broker.on("publish", (p) => {
    if (!p.topic.startsWith("$SYS")) captured.push(`${p.topic} ${p.payload.toString()}`);
  });
  const edgeDir = path.join(root, "edge");
  siteId = (await enrollEdge(tc.central, "tram 9", edgeDir)).siteId;
  sim = await startCamsim({ cameras: 2, main: { width: 320, height: 240, bitrateKbps: 300 }, discoveryPort: null, log: quiet("camsim") });
  edge = await startEdge(
    {
      dataDir: edgeDir,
      api: { enabled: false },
      storage: { segmentDurationMs: 2000, minFreeBytes: 0 },
      ingest: { stallTimeoutMs: 2000, backoffInitialMs: 200, backoffMaxMs: 2000, staggerMs: 300 },
      federation: { share: ["cam1"], healthIntervalMs: 1000 },
      cameras: sim.cameras.map((c, i) => ({ id: `cam${i + 1}`, rtsp: { main: withCredentials(c.rtspMain, sim.user, sim.password) }, streams: ["main" as const] })),
    },
    { log: quiet("edge") },
  );
}, 60_000);

afterAll(async () => {
  await edge?.stop();
  await sim?.close();
  await tc?.close();
  await rm(root, { recursive: true, force: true });
}, 30_000);

const mirrorSegments = async () => {
  const t = await tc.sites.timeline(siteId, "cam1", "main", 0, Date.now() + 60_000);
  return t.ranges.reduce((a, r) => a + (Date.parse(r.end) - Date.parse(r.start)), 0);
};

describe("real edge recorder + central", () => {
  test("only the shared camera appears at central, recording, with its index mirrored", async () => {
    const cams = await until("cam1 recording at central", async () => {
      const r = await tc.api<{ cameras: { id: string; streams: { status: string }[] }[] }>("GET", "/api/v1/cameras");
      return r.body.cameras.length === 1 && r.body.cameras[0]!.streams[0]?.status === "recording" ? r.body.cameras : undefined;
    }, 60_000);
    expect(cams[0]!.id).toBe(`${siteId}.cam1`);
    await until("segments mirrored", async () => (await mirrorSegments()) > 3000, 60_000, 300);
  });

  test("a bad desired config is rejected with a reason and the edge keeps recording", async () => {
    const put = await tc.api("PUT", `/api/v1/sites/${siteId}/config`, { config: { retention: { maxAgeHours: 48 } } });
    expect(put.status).toBe(200);
    await until("applied", async () => (await tc.api<{ inSync: boolean }>("GET", `/api/v1/sites/${siteId}/config`)).body.inSync);
    await tc.api("PUT", `/api/v1/sites/${siteId}/config`, { config: { cameras: { cam1: { enabled: false } } } });
    const applied = await until("rejected", async () => {
      const r = await tc.api<{ applied: { state: string; reason: string; version: number } }>("GET", `/api/v1/sites/${siteId}/config`);
      return r.body.applied?.state === "rejected" ? r.body.applied : undefined;
    });
    expect(applied.reason).toContain("cannot be changed remotely");
    expect(edge.uplink!.appliedConfig!.config).toEqual({ retention: { maxAgeHours: 48 } });
    const before = await mirrorSegments();
    await until("still recording after the rejection", async () => (await mirrorSegments()) > before + 3000, 30_000, 300);
    expect(edge.status().cameras.find((c) => c.id === "cam1")!.streams[0]!.state).toBe("recording");
  });

  test("commands reach the real recorder; an unshared camera cannot be addressed", async () => {
    await tc.api("POST", `/api/v1/sites/${siteId}/commands`, { name: "restart-stream", args: { cameraId: "cam1" }, id: "r1" });
    await tc.api("POST", `/api/v1/sites/${siteId}/commands`, { name: "restart-stream", args: { cameraId: "cam2" }, id: "r2" });
    await until("results", async () => {
      const a = await tc.api<{ status: string }>("GET", `/api/v1/sites/${siteId}/commands/r1`);
      const b = await tc.api<{ status: string }>("GET", `/api/v1/sites/${siteId}/commands/r2`);
      return a.body.status === "ok" && b.body.status === "failed" && (b.body as { error?: string }).error === "no such camera or stream on this edge";
    });
  });

  test("health at central and the unshared camera in no message", async () => {
    const site = await until("health", async () => {
      const r = await tc.api<{ health: { latest: { streams: { cameraId: string; state: string; fps: number }[] } | null; history: unknown[] } }>("GET", `/api/v1/sites/${siteId}`);
      return r.body.health?.latest && r.body.health.history.length >= 3 ? r.body : undefined;
    });
    expect(site.health.latest!.streams.map((s) => s.cameraId)).toEqual(["cam1"]);
    expect(captured.length).toBeGreaterThan(10);
    // Edge-originated traffic (central's own command naming cam2 is central's guess, not a leak).
    const fromEdge = captured.filter((m) => m.startsWith(`outpost/v1/sites/${siteId}/up `) || m.startsWith(`outpost/v1/sites/${siteId}/hello `));
    expect(fromEdge.length).toBeGreaterThan(10);
    expect(fromEdge.filter((m) => m.includes("cam2"))).toEqual([]);
  });
});
