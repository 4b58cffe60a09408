/**
 * Two central nodes (composeCentral) on one real PostgreSQL 15 and one Mosquitto (mTLS, the
 * federation ACL), with compressed leases (heartbeat 250 ms, lease 2.5 s): they split the 256
 * partitions, only the owner of an edge's partition subscribes to and stores its messages, and
 * when the owner dies without releasing anything the other node claims the partition after the
 * lease, subscribes, and receives the edge's events — each once, in order, also those the edge
 * sent while nobody was subscribed (the broker dropped them; the survivor reads the watermark
 * the dead node committed to the shared mirror and holds a later message back until the edge
 * re-sends from its oldest unacknowledged one). The other node's API shows the edge online
 * from the shared presence the owner writes (with the site's health and cameras), and the survivor takes the writing over. The
 * edge is unchanged. Not covered: three
 * nodes, live viewers and transfers during the failover, shared media storage.
 */
import "reflect-metadata";
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import path from "node:path";
import type { CentralSite } from "../central/main.ts";
import type { SiteEvent } from "../central/sites/index.ts";
import { partitionOf, PARTITIONS } from "../central/cluster/index.ts";
import { topics } from "../federation/protocol/index.ts";
import { MediaStore } from "../lib/store/index.ts";
import { startUplink, type Uplink } from "../edge/uplink/index.ts";
import { enrollEdge, quiet, until } from "./lib/cp.ts";
import { clusterUnavailable, TestCluster } from "./lib/cluster.ts";
import { createLogger } from "../lib/log/index.ts";

setDefaultTimeout(120_000);

const noServer = clusterUnavailable();
const EDGE_ACK_TIMEOUT_MS = 1000;

let cluster: TestCluster;
let nodes: Record<string, CentralSite>;
const events: Record<string, SiteEvent[]> = { "node-a": [], "node-b": [] };
let store: MediaStore;
let uplink: Uplink;
let siteId: string;

async function startNode(name: string): Promise<CentralSite> {
  const site = await cluster.start(name);
  site.siteEvents.subscribe((e) => events[name]!.push(e));
  return site;
}

beforeAll(async () => {
  if (noServer) return;
  cluster = await TestCluster.start("cluster");
  nodes = cluster.nodes;
  const a = await startNode("node-a");
  expect(a.cluster.leases.owned().size).toBe(PARTITIONS); // alone: every partition from its first round
  const edgeDir = path.join(cluster.root, "edge");
  const id = await enrollEdge(a.central, "bus 12", edgeDir);
  siteId = id.siteId;
  const b = await startNode("node-b");
  expect(b.central.mqttUrl).toBe(cluster.broker.url); // what edges enrolled at b are told
  store = await MediaStore.open({ root: path.join(edgeDir, "store"), segmentDurationMs: 1000, minFreeBytes: 0, log: quiet() });
  uplink = await startUplink({
    dataDir: edgeDir,
    identity: id,
    mqttUrl: cluster.broker.url,
    store,
    cameras: () => [{ id: "front", name: "Front", enabled: true, streams: [{ kind: "main", state: "recording", bitrateKbps: 800, fps: 15 }] }],
    share: ["front"],
    log: process.env.CLUSTER_TEST_LOG ? createLogger("edge") : quiet("edge"),
    intervals: { syncMs: 200, treeMs: 200, healthMs: 500, digestMs: 1500, ackTimeoutMs: EDGE_ACK_TIMEOUT_MS },
    backoff: { minMs: 100, maxMs: 500 },
  });
  await until("edge connected to mosquitto", () => uplink.status().connected);
});

afterAll(async () => {
  await uplink?.stop();
  await store?.close();
  await cluster?.close();
});

const doors = (name: string, prefix: string) => events[name]!.filter((e) => e.kind === "door" && e.eventId.startsWith(prefix)).map((e) => e.eventId);

describe.skipIf(!!noServer)("two central nodes on PostgreSQL + Mosquitto", () => {
  let owner: string;
  let other: string;

  test("they split the partitions; only the owner of the edge's partition subscribes to it and stores its events", async () => {
    const a = nodes["node-a"]!.cluster.leases;
    const b = nodes["node-b"]!.cluster.leases;
    await until("a fair split", () => a.owned().size === PARTITIONS / 2 && b.owned().size === PARTITIONS / 2, 30_000, 50);
    const p = partitionOf(siteId);
    owner = a.ownsPartition(p) ? "node-a" : "node-b";
    other = owner === "node-a" ? "node-b" : "node-a";
    expect(nodes[other]!.cluster.leases.ownsPartition(p)).toBe(false);
    await until("owner subscribed per site", () => nodes[owner]!.cluster.topics.topics().includes(topics.up(siteId)), 10_000, 50);
    expect(nodes[other]!.cluster.topics.topics()).not.toContain(topics.up(siteId));
    expect(nodes[other]!.cluster.topics.topics()).not.toContain(topics.allUp);

    for (let i = 0; i < 20; i++) await uplink.event({ eventId: `pre-${i}`, kind: "door", cameraId: "front" });
    await until("the owner has the events", () => doors(owner, "pre-").length === 20, 30_000);
    expect(doors(owner, "pre-")).toEqual(Array.from({ length: 20 }, (_, i) => `pre-${i}`));
    expect(doors(other, "pre-")).toEqual([]);
    await until("edge outbox acknowledged", () => uplink.status().outbox.pending === 0, 10_000);
    // Shared presence (site_presence): the other node — no session, no message of this edge — shows it online as its owner wrote it.
    const seenBy = nodes[other]!;
    await until("the other node shows the site online", () => seenBy.central.site(siteId)?.online === true && seenBy.sites.online(siteId), 10_000, 50);
    expect(await seenBy.central.database.query(`SELECT online, node_id FROM site_presence WHERE site_id = $1`, [siteId])).toEqual([{ online: true, node_id: owner }]);
    // Its API lists the site's health (carried by the owner in site_presence) and the edge's camera (the tree's NOTIFY).
    const password = (await Bun.file(nodes["node-a"]!.central.adminPasswordFile).text()).trim();
    const login = await fetch(`${seenBy.central.apiUrl}/api/v1/login`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ user: "admin", password }) });
    const token = ((await login.json()) as { token: string }).token;
    const get = async <T>(p: string) => (await (await fetch(seenBy.central.apiUrl + p, { headers: { authorization: `Bearer ${token}` } })).json()) as T;
    const health = await until("the other node lists the site's health", async () => (await get<{ sites: { id: string; online: boolean; latest: { link: { type: string } } }[] }>("/api/v1/site-health")).sites.find((x) => x.id === siteId), 10_000, 100);
    expect(health.online).toBe(true);
    await until("the other node lists the edge's camera", async () => (await get<{ cameras: { id: string }[] }>("/api/v1/cameras")).cameras.some((c) => c.id === `${siteId}.front`) || undefined, 10_000, 100);
  });

  test("the owner dies without releasing: the other node claims after the lease, subscribes, and gets the edge's events once and in order, those sent in the gap too", async () => {
    const dead = nodes[owner]!;
    const survivor = nodes[other]!;
    const killedAt = Date.now();
    const { leaseMs: LEASE_MS, heartbeatMs: HEARTBEAT_MS } = cluster.opts;
    dead.cluster.leases.halt(); // no more heartbeats, nothing released: a crash as the others see it
    await dead.close();
    delete nodes[owner];
    // Sent while nobody subscribes to the edge's topics: the broker drops them; the edge keeps them unacknowledged.
    for (let i = 0; i < 10; i++) await uplink.event({ eventId: `gap-${i}`, kind: "door", cameraId: "front" });
    await until("the survivor owns the edge's partition and subscribed to it", () => survivor.cluster.leases.owns(siteId) && survivor.cluster.topics.topics().includes(topics.allUp) && survivor.cluster.topics.topics().includes(topics.allHello), 60_000, 20);
    const took = Date.now() - killedAt;
    console.log(`failover: the surviving node owned and subscribed the dead node's sites ${took} ms after the kill (lease ${LEASE_MS} ms, heartbeat ${HEARTBEAT_MS} ms)`);
    expect(took).toBeGreaterThanOrEqual(LEASE_MS - 2 * HEARTBEAT_MS); // not before the dead node's lease ran out
    expect(survivor.cluster.leases.ownsAll()).toBe(true);
    expect(survivor.cluster.topics.topics()).toEqual([topics.allHello, topics.allUp].sort());
    // The gap's events come without a new message to show the gap: the survivor asks the edge to
    // re-send on taking the site over (an ack with `resend`); the edge's own timers (its ack timeout,
    // a reconnect's hello) would bring them too, later.
    const subscribedAt = Date.now();
    await until("the survivor has the events sent in the gap", () => doors(other, "gap-").length === 10, 30_000, 20);
    console.log(`failover: the events sent in the gap stored ${Date.now() - subscribedAt} ms after the survivor subscribed (edge ack timeout ${EDGE_ACK_TIMEOUT_MS} ms)`);
    for (let i = 0; i < 20; i++) await uplink.event({ eventId: `post-${i}`, kind: "door", cameraId: "front" });
    await until("the survivor has the events", () => doors(other, "post-").length >= 20, 30_000, 50);
    await until("edge outbox acknowledged by the survivor", () => uplink.status().outbox.pending === 0, 10_000);
    expect(doors(other, "post-")).toEqual(Array.from({ length: 20 }, (_, i) => `post-${i}`));
    expect(doors(other, "gap-")).toEqual(Array.from({ length: 10 }, (_, i) => `gap-${i}`));
    expect(events[other]!.filter((e) => e.kind === "door").map((e) => e.eventId.split("-")[0])).toEqual([...Array(10).fill("gap"), ...Array(20).fill("post")]);
    // The shared mirror holds every event once: what the dead node stored, and what the survivor stored after it.
    const stored = await survivor.central.database.query<{ event_id: string; n: number }>(`SELECT event_id, count(*)::int AS n FROM cp_events WHERE site_id = $1 AND kind = 'door' GROUP BY event_id`, [siteId]);
    expect(stored.length).toBe(50);
    expect(stored.every((r) => r.n === 1)).toBe(true);
    const rows = await survivor.central.database.query<{ node_id: string; n: number }>(`SELECT node_id, count(*)::int AS n FROM partitions GROUP BY node_id`);
    expect(rows).toEqual([{ node_id: other, n: PARTITIONS }]);
    // The survivor, now the owner, writes the site's presence itself.
    await until("the survivor wrote the site's presence", async () => {
      const [r] = await survivor.central.database.query<{ online: boolean; node_id: string }>(`SELECT online, node_id FROM site_presence WHERE site_id = $1`, [siteId]);
      return r?.online === true && r.node_id === other;
    }, 10_000, 50);
    expect(survivor.central.site(siteId)?.online || survivor.sites.online(siteId)).toBe(true);
  });
});
