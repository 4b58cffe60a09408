/**
 * The federation subset against Debian's Mosquitto instead of the embedded broker: mTLS with
 * require_certificate + use_identity_as_username and an ACL `pattern readwrite
 * outpost/v1/sites/%u/#`. Central connects as identity "central"; the edge uplink and central
 * both use `--mqtt-url`. Covers: events once and in order across a broker restart and across
 * central's own broker connection dropping (central reaches Mosquitto through a TCP proxy that
 * can cut it), index mirror, device tree, rejected desired config (retained) and the share
 * filter. The edge's ack timeout is 10 min here: recovery must come from the reconnect
 * handshake (hello, central's re-send ask), never from that timer.
 */
import "reflect-metadata";
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import mqtt from "mqtt";
import { MediaStore } from "../lib/store/index.ts";
import { makeMedia, type Media } from "../lib/store/testdata/media.ts";
import { startUplink, type Uplink } from "../edge/uplink/index.ts";
import { centralCa, mintSiteCert } from "../central/testkit.ts";
import { centralMqttIdentity } from "../central/sites/index.ts";
import { enrollEdge, quiet, record, startTestCentral, tcpProxy, until, type TestCentral } from "./lib/cp.ts";
import { Mosquitto } from "./lib/mosquitto.ts";

setDefaultTimeout(120_000);

let root: string;
let broker: Mosquitto | null = null;
let tc: TestCentral;
let store: MediaStore;
let media: Media;
let uplink: Uplink;
let siteId: string;
let spy: mqtt.MqttClient;
/** Central's path to Mosquitto (the edge and the spy connect directly). */
let centralLink: Awaited<ReturnType<typeof tcpProxy>>;
const captured: string[] = [];

beforeAll(async () => {
  root = await mkdtemp(path.join(tmpdir(), "mosq-"));
  media = await makeMedia(root, 4);
  let mqttUrl = "";
  tc = await startTestCentral(root, {
    external: async (central) => {
      broker = await Mosquitto.start(root, central.config.dataDir);
      mqttUrl = broker.url;
      centralLink = await tcpProxy(broker.port);
      const ca = await centralCa(central.config.dataDir);
      const cert = await centralMqttIdentity(central.config.dataDir);
      const spyCert = await mintSiteCert(ca, "central");
      spy = mqtt.connect(mqttUrl, { ca: central.caPem, cert: spyCert.certPem, key: spyCert.keyPem, clientId: "spy", protocolVersion: 4, reconnectPeriod: 200 });
      spy.on("message", (t, p) => captured.push(`${t} ${p.toString()}`));
      spy.on("connect", () => spy.subscribe("outpost/#", { qos: 1 }));
      return { mqttUrl: `mqtts://localhost:${centralLink.port}`, mqttClient: cert };
    },
  });
  const edgeDir = path.join(root, "edge");
  const id = await enrollEdge(tc.central, "boat 3", edgeDir);
  siteId = id.siteId;
  store = await MediaStore.open({ root: path.join(edgeDir, "store"), segmentDurationMs: 1000, minFreeBytes: 0, log: quiet() });
  uplink = await startUplink({
    dataDir: edgeDir,
    identity: id,
    mqttUrl,
    store,
    cameras: () => [
      { id: "bow", name: "Bow", enabled: true, streams: [{ kind: "main", state: "recording", bitrateKbps: 800, fps: 15 }] },
      { id: "cabin", name: "Private cabin", enabled: true, streams: [{ kind: "main", state: "recording", bitrateKbps: 800, fps: 15 }] },
    ],
    share: ["bow"],
    applyConfig: (c) => {
      if (c.retention?.maxBytes !== undefined && c.retention.maxBytes < 1e6) throw new Error("retention.maxBytes below 1 MB cannot hold one segment");
    },
    log: quiet("edge"),
    intervals: { syncMs: 200, treeMs: 200, healthMs: 500, digestMs: 1500, ackTimeoutMs: 600_000 },
    backoff: { minMs: 100, maxMs: 500 },
  });
  await until("edge connected to mosquitto", () => uplink.status().connected);
});

afterAll(async () => {
  spy?.end(true);
  await uplink?.stop();
  await store?.close();
  await tc?.close();
  await centralLink?.close();
  await broker?.stop();
  await rm(root, { recursive: true, force: true });
});

describe("federation over Mosquitto (mTLS, identity as username, ACL)", () => {
  test("device tree and index mirror reach central", async () => {
    await until("tree", async () => (await tc.api<{ cameras: { id: string }[] }>("GET", "/api/v1/cameras")).body.cameras.map((c) => c.id).join() === `${siteId}.bow`);
    const base = Date.now() - 30_000;
    await record(store, media, "bow", 0, 9, base);
    await record(store, media, "cabin", 0, 9, base);
    await uplink.syncNow();
    const edge = (await store.segments({ cameraId: "bow", stream: "main", fromMs: 0, toMs: Date.now() })).filter((s) => !s.open);
    await until("mirror", async () => {
      const t = await tc.sites.timeline(siteId, "bow", "main", 0, Date.now());
      return t.ranges.length === 1 && Date.parse(t.ranges[0]!.end) === edge[edge.length - 1]!.endMs;
    });
  });

  test("events across a broker restart: once, in order", async () => {
    for (let i = 0; i < 100; i++) await uplink.event({ eventId: `a-${i}`, kind: "door", cameraId: "bow" });
    await until("first 100", () => tc.events.filter((e) => e.kind === "door").length === 100);
    await broker?.stop();
    await until("edge sees the outage", () => !uplink.status().connected);
    await Promise.all(Array.from({ length: 400 }, (_, i) => uplink.event({ eventId: `a-${100 + i}`, kind: "door", cameraId: "bow" })));
    expect(uplink.status().outbox.pending).toBeGreaterThanOrEqual(400);
    await broker!.restart();
    await until("all 500", () => tc.events.filter((e) => e.kind === "door").length >= 500, 60_000);
    await Bun.sleep(500);
    expect(tc.events.filter((e) => e.kind === "door").map((e) => e.eventId)).toEqual(Array.from({ length: 500 }, (_, i) => `a-${i}`));
  });

  test("central's broker connection drops while the edge's stays up: events once, in order, re-sent when central is back", async () => {
    const hatch = () => tc.events.filter((e) => e.kind === "hatch");
    for (let i = 0; i < 50; i++) await uplink.event({ eventId: `b-${i}`, kind: "hatch", cameraId: "bow" });
    await until("first 50", () => hatch().length === 50);
    const connects = uplink.status().connects;
    centralLink.cut();
    // The edge publishes these while nobody at central is subscribed: Mosquitto drops them.
    for (let i = 50; i < 150; i++) await uplink.event({ eventId: `b-${i}`, kind: "hatch", cameraId: "bow" });
    await until("the edge published them", () => captured.some((m) => m.includes(`"b-149"`)));
    centralLink.restore();
    // New events keep coming while central reconnects: the first it hears is not the next it lacks.
    for (let i = 150; i < 250; i++) {
      await uplink.event({ eventId: `b-${i}`, kind: "hatch", cameraId: "bow" });
      await Bun.sleep(20);
    }
    await until("all 250", () => hatch().length >= 250, 30_000);
    await Bun.sleep(500);
    expect(hatch().map((e) => e.eventId)).toEqual(Array.from({ length: 250 }, (_, i) => `b-${i}`));
    // Central's ask, not an edge reconnect, brought the re-send.
    expect(uplink.status().connects).toBe(connects);
  });

  test("a bad desired config is rejected with a reason; the last good one is kept (retained delivery)", async () => {
    await until("central back on the broker", async () => (await tc.api("PUT", `/api/v1/sites/${siteId}/config`, { config: { retention: { maxBytes: 5e9 } } })).status === 200);
    await until("applied", async () => (await tc.api<{ inSync: boolean }>("GET", `/api/v1/sites/${siteId}/config`)).body.inSync);
    const good = uplink.appliedConfig!.version;
    await tc.api("PUT", `/api/v1/sites/${siteId}/config`, { config: { retention: { maxBytes: 1000 } } });
    const v = await until("rejected", async () => {
      const r = await tc.api<{ applied: { state: string; reason: string } }>("GET", `/api/v1/sites/${siteId}/config`);
      return r.body.applied?.state === "rejected" ? r.body.applied : undefined;
    });
    expect(v.reason).toContain("below 1 MB");
    expect(uplink.appliedConfig!.version).toBe(good);
  });

  test("the unshared camera never appears in any message on the broker", async () => {
    await uplink.digestNow();
    await Bun.sleep(800);
    expect(captured.length).toBeGreaterThan(100);
    expect(captured.filter((m) => m.includes("cabin"))).toEqual([]);
    expect(captured.some((m) => m.includes(`"bow"`))).toBe(true);
  });
});
