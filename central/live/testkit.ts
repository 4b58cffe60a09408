/**
 * Test/bench harness for live through central: camsim → real edge (startEdge) → a cuttable
 * TCP proxy → central's federation listener (the composed central site, composeCentral) → viewers. The edge
 * is enrolled for real and hears live requests on its MQTT topic (edge/live/mqtt.ts).
 */
import net from "node:net";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startCamsim, type Camsim } from "../../camsim/index.ts";
import { startEdge, type Edge } from "../../edge/main.ts";
import { enroll, type Identity } from "../../edge/identity/index.ts";
import { Logger, MemorySink } from "../../lib/log/index.ts";
import type { MediaStore } from "../../lib/store/index.ts";
import type { LiveRequest } from "../../federation/live/control.ts";
import { CentralConfig, type Central } from "../index.ts";
import { composeCentral } from "../compose.ts";
import { testStorageIndex } from "../testkit.ts";
import type { CentralLive, CentralLiveOptions } from "./live.ts";
import type { Sites } from "../sites/index.ts";
import type { LiveRecorder } from "./recorder.ts";
import type { UserStreams } from "../users/index.ts";

export const EDGE_PASSWORD = "edge-local-pw";

/** A TCP forwarder that can be cut (all connections dropped, new ones refused) and restored. */
export class CutProxy {
  private server!: net.Server;
  private sockets = new Set<net.Socket>();
  private down = false;
  port = 0;
  accepted = 0;
  constructor(private readonly target: { host: string; port: number }) {}

  async start(): Promise<void> {
    this.server = net.createServer((client) => {
      if (this.down) return client.destroy();
      this.accepted++;
      const up = net.connect(this.target.port, this.target.host);
      for (const s of [client, up]) {
        this.sockets.add(s);
        s.on("close", () => this.sockets.delete(s));
        s.on("error", () => s.destroy());
      }
      client.pipe(up);
      up.pipe(client);
      client.on("close", () => up.destroy());
      up.on("close", () => client.destroy());
    });
    await new Promise<void>((r) => this.server.listen(0, "127.0.0.1", () => r()));
    this.port = (this.server.address() as net.AddressInfo).port;
  }

  cut(): void {
    this.down = true;
    for (const s of this.sockets) s.destroy();
  }

  restore(): void {
    this.down = false;
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

export interface LiveRig {
  root: string;
  sim: Camsim;
  central: Central;
  live: CentralLive;
  recorder: LiveRecorder;
  centralStore: MediaStore;
  /** Central's control plane (mirror of the edge's cameras and recordings). */
  sites: Sites;
  edge: Edge;
  identity: Identity;
  proxy: CutProxy;
  token: string;
  requests: { siteId: string; req: LiveRequest }[];
  sink: MemorySink;
  /** Users' open live streams (given to CentralLive and central's users module; RTSP out may join). */
  streams: UserStreams;
  close(): Promise<void>;
}

export interface RigOptions {
  cameras: number;
  main?: { width: number; height: number; fps?: number; bitrateKbps: number };
  sub?: { width: number; height: number; fps?: number; bitrateKbps: number };
  live?: Partial<CentralLiveOptions>;
  /** camsim videotestsrc pattern ("snow" makes x264 use its whole bitrate). */
  pattern?: string;
  /** Record only these streams at the edge (default both). */
  streams?: ("main" | "sub")[];
}

export async function startLiveRig(o: RigOptions): Promise<LiveRig> {
  const root = await mkdtemp(join(tmpdir(), "outpost-live-"));
  const sink = new MemorySink();
  const log = new Logger({ component: "test", sink, level: "info" });
  const sim = await startCamsim({
    cameras: o.cameras,
    main: o.main ?? { width: 640, height: 360, bitrateKbps: 600 },
    sub: o.sub ?? { width: 320, height: 180, bitrateKbps: 150 },
    discoveryPort: null,
    ...(o.pattern ? { pattern: o.pattern } : {}),
    log,
  });
  const requests: { siteId: string; req: LiveRequest }[] = [];
  // The product's wiring (composeCentral): live requests go out as control-plane commands to the edge's uplink → EdgeLive.
  const site = await composeCentral(
    CentralConfig.parse({ dataDir: join(root, "central"), api: { port: 0, plainHttp: true }, enroll: { port: 0 }, federation: { port: 0 }, mqtt: { port: 0 }, live: { rtsp: { enabled: false } }, storage: { minFreeBytes: 0, ...testStorageIndex() } }),
    { log, store: { segmentDurationMs: 2000 }, live: { graceMs: 3000, ...o.live }, onLiveRequest: (siteId, req) => requests.push({ siteId, req }) },
  );
  const { central, live, sites, streams, recorder } = site;
  const centralStore = site.store;
  const login = (await (await fetch(central.apiUrl + "/api/v1/login", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ user: "admin", password: central.initialAdminPassword }) })).json()) as { token: string };
  const t = (await (
    await fetch(central.apiUrl + "/api/v1/enrollment-tokens", { method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${login.token}` }, body: JSON.stringify({ site: "Bus 1" }) })
  ).json()) as { token: string; enrollUrl: string };
  const edgeDir = join(root, "edge");
  const identity = await enroll({ centralUrl: t.enrollUrl, token: t.token, dataDir: edgeDir });
  const proxy = new CutProxy({ host: "127.0.0.1", port: Number(new URL(central.federationUrl).port) });
  await proxy.start();
  const edge = await startEdge(
    {
      dataDir: edgeDir,
      storage: { segmentDurationMs: 4000, minFreeBytes: 0 },
      api: { enabled: true, host: "127.0.0.1", port: 0, plainHttp: true },
      admin: { user: "admin", passwordHash: await Bun.password.hash(EDGE_PASSWORD, "argon2id") },
      ingest: { staggerMs: 300 },
      federation: { share: ["*"] },
      cameras: sim.cameras.map((c) => ({ id: c.id, rtsp: { main: c.rtspMain, sub: c.rtspSub }, user: sim.user, password: sim.password, ...(o.streams ? { streams: o.streams } : {}) })),
    },
    { log },
  );
  edge.live.setUplinkTarget({
    url: () => `https://127.0.0.1:${proxy.port}`,
    tls: () => ({ ca: identity.caPem, cert: identity.certPem, key: identity.keyPem }),
    backoff: { minMs: 300, maxMs: 1000 },
  });
  // Central's live routes answer only for cameras its mirror of the edge's device tree lists (the product's check).
  for (const deadline = Date.now() + 30_000; ; await Bun.sleep(100)) {
    const listed = (await sites.cameras()).filter((c) => c.siteId === identity.siteId).map((c) => c.channel);
    if (sim.cameras.every((c) => listed.includes(c.id))) break;
    if (Date.now() > deadline) throw new Error(`central's mirror does not list the edge's cameras: ${listed.join(", ") || "none"}`);
  }
  return {
    root,
    sim,
    central,
    live,
    recorder,
    centralStore,
    sites,
    edge,
    identity,
    proxy,
    token: login.token,
    requests,
    sink,
    streams,
    async close() {
      await recorder.stopAll().catch(() => undefined);
      live.close();
      await edge.stop().catch(() => undefined);
      await proxy.close().catch(() => undefined);
      await site.close().catch(() => undefined);
      await sim.close().catch(() => undefined);
      await rm(root, { recursive: true, force: true });
    },
  };
}

/**
 * The rig the access tests of central's outward protocols (RTSP out, the ONVIF bridge) share:
 * one camera, a short uplink grace, live requests for the simulated cameras only, and two users
 * besides admin — "lobby" (playback of cam1 only) and "nobody" (no rights).
 */
export async function startAccessRig(): Promise<LiveRig> {
  let sim: Camsim | undefined;
  const rig = await startLiveRig({ cameras: 1, live: { graceMs: 1500, cameraExists: (_s, c) => !!sim?.cameras.some((x) => x.id === c) } });
  sim = rig.sim;
  const users = rig.central.ops.users;
  await users.putRole({ name: "lobby", description: "", grants: [{ rights: ["playback"], scope: `camera:${rig.identity.siteId}.cam1` }] });
  await users.createUser({ name: "lobby", password: "lobby-password", roles: ["lobby"] });
  await users.createUser({ name: "nobody", password: "nobody-password", roles: [] });
  return rig;
}

/** Waits until every camera stream the edge records is recording. */
export async function untilRecording(edge: Edge, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!edge.status().cameras.every((c) => c.streams.length > 0 && c.streams.every((s) => s.state === "recording"))) {
    if (Date.now() > deadline) throw new Error(`edge not recording: ${JSON.stringify(edge.status().cameras.map((c) => c.streams.map((s) => [s.stream, s.state, s.detail])))}`);
    await Bun.sleep(100);
  }
}
