/**
 * Central firmware campaigns end to end on loopback: a real central (mTLS federation listener,
 * user API), enrolled edges with real identities, simulated edges running the real agent over
 * HTTPS with Range. Covers upload checks, staged rollout, per-site status, auto-halt.
 */
import "reflect-metadata";
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { promises as fs } from "node:fs";
import os from "node:os";
import path from "node:path";
import { startCentral, type Central } from "../index.ts";
import { enroll, fetchTls, type Identity } from "../../edge/identity/index.ts";
import { Logger, MemorySink } from "../../lib/log/index.ts";
import { FirmwareService } from "./index.ts";
import { HttpSource, provision } from "../../firmware/agent/index.ts";
import { generateKey } from "../../firmware/meta.ts";
import { readState } from "../../firmware/slots.ts";
import { firmwarePaths } from "../../firmware/slots.ts";
import { SimEdge, testKeys, testRelease, type TestKeys } from "../../firmware/testkit.ts";

let root: string;
let central: Central;
let fw: FirmwareService;
let token: string;
let keys: TestKeys;
const log = new Logger({ component: "test", sink: new MemorySink(), level: "debug" });
const edges: { id: Identity; data: string; sim?: SimEdge }[] = [];
const rel: Record<string, { bundleFile: string; targets: unknown }> = {};

async function api(method: string, p: string, body?: unknown) {
  const res = await fetch(central.apiUrl + p, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body instanceof FormData || body === undefined ? {} : { "content-type": "application/json" }) },
    body: body instanceof FormData ? body : body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as any };
}

async function upload(version: string) {
  const f = new FormData();
  f.set("bundle", Bun.file(rel[version]!.bundleFile));
  f.set("targets", JSON.stringify(rel[version]!.targets));
  return api("POST", "/api/v1/firmware/releases", f);
}

beforeAll(async () => {
  root = await fs.mkdtemp(path.join(os.tmpdir(), "outpost-fw-central-"));
  keys = await testKeys();
  const cdata = path.join(root, "central");
  central = await startCentral({ dataDir: cdata, api: { port: 0, plainHttp: true }, enroll: { port: 0 }, federation: { port: 0 }, mqtt: { port: 0 } }, { log });
  fw = central.firmware;
  const login = await fetch(central.apiUrl + "/api/v1/login", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ user: "admin", password: central.initialAdminPassword }) });
  token = ((await login.json()) as { token: string }).token;
  const rdir = path.join(root, "releases");
  await fs.mkdir(rdir);
  rel["1.0.0"] = await testRelease(rdir, { version: "1.0.0", metaVersion: 1, keys: [keys.targets], payloadBytes: 500_000 });
  rel["1.1.0"] = await testRelease(rdir, { version: "1.1.0", metaVersion: 2, keys: [keys.targets], payloadBytes: 500_000, payloadSeed: 1, behavior: { healthy: false } });
  rel["1.2.0"] = await testRelease(rdir, { version: "1.2.0", metaVersion: 3, keys: [keys.targets], payloadBytes: 500_000 });
  for (let i = 0; i < 5; i++) {
    const t = await central.createEnrollmentToken(`Bus ${i}`);
    const data = path.join(root, `edge${i}`);
    const id = await enroll({ centralUrl: central.enrollUrl, token: t.token, dataDir: data });
    await provision({ dataDir: data, root: keys.rootMeta, bundleFile: rel["1.0.0"].bundleFile, targets: rel["1.0.0"].targets, now: Date.now() });
    edges.push({ id, data });
  }
});

afterAll(async () => {
  for (const e of edges) e.sim?.stop();
  await central?.close();
  await fs.rm(root, { recursive: true, force: true });
});

async function until(f: () => boolean | Promise<boolean>, ms = 20_000) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await f()) return true;
    await Bun.sleep(50);
  }
  return false;
}

describe("central firmware", () => {
  test("uploads are checked: no root yet, wrong key, bad bundle, malformed form", async () => {
    expect((await upload("1.1.0")).status).toBe(404);
    expect((await api("POST", "/api/v1/firmware/roots", { signed: {}, signatures: [] })).status).toBe(400);
    const r = await api("POST", "/api/v1/firmware/roots", keys.rootMeta);
    expect(r.status).toBe(201);
    const evil = await generateKey();
    const bad = await testRelease(path.join(root, "releases"), { version: "9.0.0", metaVersion: 9, keys: [evil] });
    const f = new FormData();
    f.set("bundle", Bun.file(bad.bundleFile));
    f.set("targets", JSON.stringify(bad.targets));
    const refused = await api("POST", "/api/v1/firmware/releases", f);
    expect(refused.status).toBe(400);
    expect(refused.body.detail).toContain("signature");
    const mixed = new FormData();
    mixed.set("bundle", Bun.file(rel["1.2.0"]!.bundleFile));
    mixed.set("targets", JSON.stringify(rel["1.1.0"]!.targets));
    expect((await api("POST", "/api/v1/firmware/releases", mixed)).body.detail).toContain("does not match the signed targets");
    expect((await api("POST", "/api/v1/firmware/releases", new FormData())).status).toBe(400);
    expect((await api("POST", "/api/v1/firmware/campaigns", { version: "7.7.7" })).status).toBe(404);
    const anon = await fetch(central.apiUrl + "/api/v1/firmware/releases");
    expect(anon.status).toBe(401);
  });

  test("campaign halts when the first stage's rollback rate passes the threshold", async () => {
    expect((await upload("1.1.0")).status).toBe(201);
    for (const e of edges) {
      e.sim = new SimEdge(e.data, new HttpSource(e.id.federationUrl, fetchTls(e.id)), { pollMs: 100, log });
      await e.sim.boot();
    }
    const c = await api("POST", "/api/v1/firmware/campaigns", { version: "1.1.0", stages: [20, 100], maxFailureRate: 0.2 });
    expect(c.status).toBe(201);
    const id = c.body.id as string;
    expect(c.body.stageSize).toBe(1);
    expect(await until(async () => (await api("GET", `/api/v1/firmware/campaigns/${id}`)).body.state === "halted")).toBe(true);
    const v = (await api("GET", `/api/v1/firmware/campaigns/${id}`)).body;
    expect(v.haltReason).toContain("1 of 1 sites failed or rolled back");
    const first = v.sites.find((s: any) => s.inStage);
    expect(first.state).toBe("rolled-back");
    expect(first.reason).toContain("simulated camera not recording");
    // The other 4 were never offered the release and still run 1.0.0.
    const untouched = v.sites.filter((s: any) => !s.inStage);
    expect(untouched.every((s: any) => s.state === "pending")).toBe(true);
    for (const e of edges) expect((await readState(firmwarePaths(e.data))).pending).toBeNull();
    expect(await until(async () => (await Promise.all(edges.map((e) => readState(firmwarePaths(e.data))))).every((s) => s.current === "a"))).toBe(true);
  }, 40_000);

  test("staged campaign: stage 1 healthy → stage 2 → completed; status per site with bytes", async () => {
    expect((await upload("1.2.0")).status).toBe(201);
    const list = await api("GET", "/api/v1/firmware/releases");
    expect(list.body.releases.map((r: any) => r.version)).toEqual(["1.1.0", "1.2.0"]);
    const notified: string[][] = [];
    fw.setNotifier({ notify: (ids) => notified.push(ids) });
    const c = await api("POST", "/api/v1/firmware/campaigns", { version: "1.2.0", stages: [20, 100] });
    const id = c.body.id as string;
    const seen = new Set<number>();
    expect(
      await until(async () => {
        const v = (await api("GET", `/api/v1/firmware/campaigns/${id}`)).body;
        seen.add(v.stage);
        return v.state === "completed";
      }, 40_000),
    ).toBe(true);
    expect(seen.has(1) && seen.has(2)).toBe(true);
    // One notification per stage: the first site, then the 4 others.
    expect(notified.map((n) => n.length)).toEqual([1, 4]);
    fw.setNotifier(undefined);
    const v = (await api("GET", `/api/v1/firmware/campaigns/${id}`)).body;
    expect(v.counts).toEqual({ healthy: 5 });
    for (const s of v.sites) {
      expect(s.state).toBe("healthy");
      expect(s.running).toBe("1.2.0");
      // Delta from 1.0.0 (same payload) → most bytes saved.
      expect(s.bytesSaved).toBeGreaterThan(400_000);
    }
    for (const e of edges) expect(await readState(firmwarePaths(e.data))).toMatchObject({ current: "b", pending: null });
  }, 60_000);

  test("bundle endpoint: Range, 416, and unknown release", async () => {
    const e = edges[0]!;
    const url = `${e.id.federationUrl}/federation/v1/firmware/releases/1.2.0/bundle`;
    const r = await fetch(url, { headers: { range: "bytes=10-19" }, tls: fetchTls(e.id) } as RequestInit);
    expect(r.status).toBe(206);
    expect(r.headers.get("content-range")).toMatch(/^bytes 10-19\/\d+$/);
    expect((await r.arrayBuffer()).byteLength).toBe(10);
    const bad = await fetch(url, { headers: { range: "bytes=999999999-" }, tls: fetchTls(e.id) } as RequestInit);
    expect(bad.status).toBe(416);
    const none = await fetch(`${e.id.federationUrl}/federation/v1/firmware/releases/0.0.1/targets`, { tls: fetchTls(e.id) } as RequestInit);
    expect(none.status).toBe(404);
    // Without a client certificate the federation listener refuses.
    await expect(fetch(url, { tls: { ca: e.id.caPem } } as RequestInit)).rejects.toThrow();
  });

  test("state survives a central restart", async () => {
    const again = await FirmwareService.open({ dataDir: path.join(root, "central"), sites: () => [], log });
    expect(again.listReleases().map((r) => r.version)).toEqual(["1.1.0", "1.2.0"]);
    expect(again.listCampaigns().map((c) => c.state).sort()).toEqual(["completed", "halted"]);
    expect(again.latestRoot()!.signed.version).toBe(1);
  });
});
