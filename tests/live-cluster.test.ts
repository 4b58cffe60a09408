/**
 * Live across central nodes (issue 17, step 6) with real parts: two composeCentral nodes on one
 * real PostgreSQL 15 and one Mosquitto, each with its internal mTLS listener; a real edge with a
 * camsim camera whose live uplink reaches central through an L4 "load balancer" (a TCP proxy
 * that sends connections to the first node that accepts them). The viewers watch on the node
 * that owns the site's partition (its control-plane mirror lists the camera); the load balancer
 * sends the edge's uplink to the other node. Shown: the viewers get the stream relayed node to
 * node over ONE relay while the edge carries ONE uplink; only central nodes' certificates get
 * into the internal listener; when the uplink's node dies, the viewers on the surviving node
 * get frames again once the edge's uplink reaches it (the interruption is printed).
 */
import "reflect-metadata";
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import https from "node:https";
import path from "node:path";
import type { CentralSite } from "../central/main.ts";
import { PARTITIONS, partitionOf } from "../central/cluster/index.ts";
import { nodeIdentity, openRelay } from "../central/live/relay/index.ts";
import { TestViewer } from "../central/live/viewer.ts";
import { startCamsim, type Camsim } from "../camsim/index.ts";
import { startEdge, type Edge } from "../edge/main.ts";
import type { Identity } from "../edge/identity/index.ts";
import { enrollEdge, quiet, until } from "./lib/cp.ts";
import { clusterUnavailable, FailoverProxy, TestCluster } from "./lib/cluster.ts";

setDefaultTimeout(120_000);

const noServer = clusterUnavailable();

let cluster: TestCluster;
let root: string;
let nodes: Record<string, CentralSite>;
let sim: Camsim;
let edge: Edge;
let identity: Identity;
let lb: FailoverProxy;
let token: string;
let adminPassword: string;
const viewers: TestViewer[] = [];

const fedPort = (n: CentralSite) => Number(new URL(n.central.federationUrl).port);
const feed = (n: CentralSite) => n.live.stats().find((f) => f.siteId === identity.siteId && f.stream === "sub");
const internalUrl = async (n: CentralSite, of: string) =>
  (await n.central.database.query<{ internal_url: string }>(`SELECT internal_url FROM central_nodes WHERE node_id = $1`, [of]))[0]!.internal_url;

beforeAll(async () => {
  if (noServer) return;
  cluster = await TestCluster.start("livecluster", { internal: true, overrides: { live: { graceMs: 2000 } } });
  root = cluster.root;
  nodes = cluster.nodes;
  const a = await cluster.start("node-a");
  const edgeDir = path.join(root, "edge");
  identity = await enrollEdge(a.central, "bus 7", edgeDir);
  await cluster.start("node-b");
  adminPassword = cluster.adminPassword;
  sim = await startCamsim({ cameras: 1, main: { width: 320, height: 180, bitrateKbps: 200 }, sub: { width: 320, height: 180, bitrateKbps: 150 }, discoveryPort: null, log: quiet("camsim") });
  lb = new FailoverProxy([]);
  await lb.start();
  edge = await startEdge(
    {
      dataDir: edgeDir,
      storage: { segmentDurationMs: 4000, minFreeBytes: 0 },
      api: { enabled: false },
      ingest: { staggerMs: 300 },
      federation: { share: ["*"], mqttUrl: cluster.broker.url },
      cameras: sim.cameras.map((c) => ({ id: c.id, rtsp: { main: c.rtspMain, sub: c.rtspSub }, user: sim.user, password: sim.password, streams: ["sub"] })),
    },
    { log: quiet("edge") },
  );
  edge.live.setUplinkTarget({
    url: () => `https://127.0.0.1:${lb.port}`,
    tls: () => ({ ca: identity.caPem, cert: identity.certPem, key: identity.keyPem }),
    backoff: { minMs: 200, maxMs: 500 },
  });
});

afterAll(async () => {
  for (const v of viewers) v.close();
  await edge?.stop().catch(() => undefined);
  await lb?.close().catch(() => undefined);
  await sim?.close().catch(() => undefined);
  await cluster?.close();
});

/** media times of the fragments a viewer got after index `from` of its messages */
const mediaTimes = (v: TestViewer, from = 0) => v.texts.slice(from).filter((t) => t.type === "time").map((t) => t.mediaMs as number);

describe.skipIf(!!noServer)("live across two central nodes", () => {
  let watch: CentralSite; // owns the site's partition: its mirror lists the camera, viewers watch here
  let upNode: CentralSite; // the load balancer sends the edge's uplink here
  let watchName: string;
  let upName: string;
  let camera: string;

  test("a viewer on the node without the uplink gets the stream relayed; the edge carries one uplink, the nodes one relay", async () => {
    const a = nodes["node-a"]!;
    const b = nodes["node-b"]!;
    await until("a fair split", () => a.cluster.leases.owned().size === PARTITIONS / 2 && b.cluster.leases.owned().size === PARTITIONS / 2, 30_000, 50);
    [watchName, upName] = a.cluster.leases.ownsPartition(partitionOf(identity.siteId)) ? ["node-a", "node-b"] : ["node-b", "node-a"];
    watch = nodes[watchName]!;
    upNode = nodes[upName]!;
    lb.targets = [fedPort(upNode), fedPort(watch)];
    camera = sim.cameras[0]!.id;
    await until("the owner's mirror lists the camera", async () => (await watch.sites.cameras()).some((c) => c.siteId === identity.siteId && c.channel === camera), 30_000);
    expect(await internalUrl(watch, upName)).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);

    // Signed in on the watching node: a node knows sessions made on another only once read-through lands.
    const login = await fetch(watch.central.apiUrl + "/api/v1/login", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ user: "admin", password: adminPassword }) });
    token = ((await login.json()) as { token: string }).token;
    const url = `${watch.central.apiUrl.replace("http", "ws")}/api/v1/cameras/${identity.siteId}.${camera}/live?stream=sub`;
    const v1 = new TestViewer(url, token);
    viewers.push(v1);
    await until("viewer 1 gets fragments", () => v1.fragments >= 5, 60_000);
    const v2 = new TestViewer(url, token);
    viewers.push(v2);
    await until("viewer 2 gets fragments", () => v2.fragments >= 5, 30_000);
    for (const v of [v1, v2]) {
      expect(v.header?.mime).toContain("avc1");
      const t = mediaTimes(v);
      for (let i = 1; i < t.length; i++) expect(t[i]!).toBeGreaterThan(t[i - 1]!);
    }
    // The uplink is on the other node; the watching node relays it once for both viewers.
    expect(feed(upNode)).toMatchObject({ uplinkActive: true, uplinksAccepted: 1, relayFrom: null });
    expect(feed(watch)).toMatchObject({ uplinkActive: false, uplinksAccepted: 0, relayFrom: upName, relaysOpened: 1, viewers: 2 });
    const ups = edge.live.uplinks();
    expect(ups).toHaveLength(1);
    expect(ups[0]).toMatchObject({ cameraId: camera, stream: "sub", active: true, connects: 1 });
    const rows = await watch.central.database.query<{ node_id: string }>(`SELECT node_id FROM live_uplinks WHERE site = $1`, [identity.siteId]);
    expect(rows).toEqual([{ node_id: upName }]);
  });

  test("the internal listener takes only central nodes' certificates: an edge's certificate or none is refused", async () => {
    const url = await internalUrl(watch, upName);
    const get = (tls: { cert?: string; key?: string }) =>
      new Promise<string>((resolve) => {
        const req = https.get(new URL(`/internal/v1/live/${identity.siteId}/${camera}/sub`, url), { ca: identity.caPem, ...tls, agent: false, checkServerIdentity: () => undefined }, (res) => {
          res.destroy();
          resolve(`HTTP ${res.statusCode}`);
        });
        req.on("error", (e) => resolve(`refused: ${e.message}`));
        req.setTimeout(5000, () => req.destroy(new Error("timeout")));
      });
    expect(await get({ cert: identity.certPem, key: identity.keyPem })).toStartWith("refused");
    expect(await get({})).toStartWith("refused");
    const other = await nodeIdentity(path.join(root, watchName), watchName);
    expect(await get({ cert: other.certPem, key: other.keyPem })).toBe("HTTP 200");
    // And the relay client takes only the node the registry named: the real node under another id is refused.
    const ended = await new Promise<{ reason: string; connected: boolean }>((resolve) =>
      openRelay({ nodeId: "node-x", url, tls: other, siteId: identity.siteId, cameraId: camera, stream: "sub", sink: { init: () => undefined, fragment: () => undefined, ended: (reason, connected) => resolve({ reason, connected }) } }),
    );
    expect(ended.connected).toBe(false);
    expect(ended.reason).toContain("not central node node-x");
  });

  test("the last viewer leaves: the relay closes, then the uplink's node ends the uplink; the next viewer starts both again", async () => {
    const connectsBefore = edge.live.uplinks()[0]!.connects;
    for (const v of viewers.splice(0)) v.close();
    await until("the relay closed", () => feed(watch)?.relayFrom === null, 30_000);
    await until("the uplink ended at its node and at the edge", () => !feed(upNode)?.uplinkActive && edge.live.uplinks().every((u) => !u.active), 30_000);
    await until("unregistered", async () => (await watch.central.database.query(`SELECT 1 FROM live_uplinks WHERE site = $1`, [identity.siteId])).length === 0);
    // No uplink anywhere: the watching node asks the edge (control plane); the uplink lands on the other node again.
    const v = new TestViewer(`${watch.central.apiUrl.replace("http", "ws")}/api/v1/cameras/${identity.siteId}.${camera}/live?stream=sub`, token);
    viewers.push(v);
    await until("the new viewer gets fragments", () => v.fragments >= 3, 60_000);
    expect(feed(upNode)).toMatchObject({ uplinkActive: true, uplinksAccepted: 2 });
    expect(feed(watch)).toMatchObject({ uplinkActive: false, uplinksAccepted: 0, relayFrom: upName, relaysOpened: 2 });
    expect(edge.live.uplinks().filter((u) => u.active)).toHaveLength(1);
    expect(edge.live.uplinks()[0]!.connects).toBe(connectsBefore + 1);
  });

  test("the uplink's node dies: the viewers on the other node get frames again once the edge's uplink reaches it", async () => {
    const v1 = viewers[0]!;
    const connectsBefore = edge.live.uplinks()[0]!.connects;
    const killedAt = Date.now();
    const mark = v1.texts.length;
    upNode.cluster.leases.halt();
    lb.cut(fedPort(upNode)); // the edge's connection resets, as when the machine dies
    await upNode.close();
    delete nodes[upName];
    await until("viewer gets new fragments", () => mediaTimes(v1, mark).length >= 3, 60_000, 20);
    const firstAt = Date.now();
    console.log(`live failover: viewers on the surviving node got frames again ${firstAt - killedAt} ms after the uplink's node died`);
    expect(v1.closed).toBeUndefined(); // the viewer's socket on the surviving node stayed open
    const t = mediaTimes(v1);
    for (let i = 1; i < t.length; i++) expect(t[i]!).toBeGreaterThan(t[i - 1]!);
    expect(feed(watch)).toMatchObject({ uplinkActive: true, uplinksAccepted: 1, relayFrom: null });
    const ups = edge.live.uplinks();
    expect(ups.filter((u) => u.active)).toHaveLength(1); // still one uplink at the edge, reconnected to the survivor
    expect(ups[0]!.connects).toBe(connectsBefore + 1);
    await until("registered on the survivor", async () => {
      const rows = await watch.central.database.query<{ node_id: string }>(`SELECT node_id FROM live_uplinks WHERE site = $1`, [identity.siteId]);
      return rows.length === 1 && rows[0]!.node_id === watchName;
    });
  });
});
