/**
 * Test support for central clusters (issue 17): one real PostgreSQL 15 (central/db/testkit.ts),
 * one Mosquitto with mTLS and the federation ACL, and N central nodes that share central's CA
 * and server certificate, with compressed leases, optionally their internal mTLS listeners (live
 * relayed between nodes) and one shared store (`storage.index: database`). A node runs in this
 * process (`start`: tests reach its modules) or as its own OS process (`spawn`, through
 * tests/lib/cluster-node.ts: `kill` is a real SIGKILL). Also the L4 load balancer edges reach
 * the nodes through (`FailoverProxy`).
 */
import "reflect-metadata";
import { cp, mkdir, mkdtemp, rm } from "node:fs/promises";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { loadOrCreatePki } from "../../central/ca.ts";
import { CentralConfig, type CentralConfigInput } from "../../central/index.ts";
import { startCentralSite, type CentralOverrides, type CentralSite } from "../../central/main.ts";
import { openServer, type Database } from "../../central/db/index.ts";
import { postgresUnavailable, startPostgres, type TestPostgres } from "../../central/db/testkit.ts";
import { createLogger } from "../../lib/log/index.ts";
import { systemClock } from "../../lib/clock.ts";
import { quiet } from "./cp.ts";
import type { CentralProc } from "./transfer-harness.ts";
import { Mosquitto } from "./mosquitto.ts";

export { postgresUnavailable };

export interface ClusterOptions {
  /** Compressed, but not below what a busy 2-core host's start-up stalls (a second and more) would lapse. */
  heartbeatMs?: number;
  leaseMs?: number;
  /** Each node gets its internal mTLS listener (live relayed between nodes). */
  internal?: boolean;
  /** All nodes keep central's recordings under one `storage.path` with the index in the database. */
  sharedStore?: boolean;
  /** Overrides every node gets (JSON-able: they cross to spawned nodes too; no clock, no logger). */
  overrides?: Omit<CentralOverrides, "clock" | "log" | "controlPlaneMqtt" | "cluster" | "onLiveRequest">;
}

/** A node in its own process: killable with -9. Shaped like the transfer harness's central (its helpers take it), signed in as admin. */
export interface NodeProc extends CentralProc {
  name: string;
  internalUrl: string | null;
}

export class TestCluster {
  /** In-process nodes by name. */
  readonly nodes: Record<string, CentralSite> = {};
  /** Spawned nodes by name. */
  readonly procs: Record<string, NodeProc> = {};
  /** The admin user's password (made by the first node to start). */
  adminPassword = "";
  private adminDb: Database | null = null;

  private constructor(
    readonly root: string,
    readonly pg: TestPostgres,
    readonly dbUrl: string,
    readonly broker: Mosquitto,
    private readonly pkiDir: string,
    readonly opts: Required<Pick<ClusterOptions, "heartbeatMs" | "leaseMs">> & ClusterOptions,
  ) {}

  /** PostgreSQL, central's CA and server certificate (made once, shared by every node), Mosquitto on them. */
  static async start(name: string, o: ClusterOptions = {}): Promise<TestCluster> {
    const root = await mkdtemp(path.join(tmpdir(), `outpost-${name}-`));
    const pg = await startPostgres();
    const dbUrl = await pg.createDatabase();
    const pkiDir = path.join(root, "pki");
    await loadOrCreatePki(CentralConfig.parse({ dataDir: pkiDir }), systemClock, quiet("pki"));
    const broker = await Mosquitto.start(root, pkiDir);
    return new TestCluster(root, pg, dbUrl, broker, pkiDir, { heartbeatMs: 250, leaseMs: 2500, ...o });
  }

  /** The node's configuration, the same for an in-process and a spawned node. */
  config(name: string): CentralConfigInput {
    const o = this.opts;
    return {
      dataDir: path.join(this.root, name),
      api: { port: 0, plainHttp: true },
      enroll: { port: 0 },
      federation: { port: 0 },
      mqtt: { port: 0, url: this.broker.url },
      live: { rtsp: { enabled: false } },
      storage: { minFreeBytes: 0, ...(o.sharedStore ? { index: "database" as const, path: path.join(this.root, "store") } : {}) },
      database: { url: this.dbUrl },
      cluster: { nodeId: name, heartbeatMs: o.heartbeatMs, leaseMs: o.leaseMs, ...(o.internal ? { internalListen: { host: "127.0.0.1", port: 0 } } : {}) },
    };
  }

  /** The nodes of one central share its CA (what edges pin) and server certificate. */
  private async prepare(name: string): Promise<void> {
    await mkdir(path.join(this.root, name), { recursive: true });
    for (const d of ["ca", "server"]) await cp(path.join(this.pkiDir, d), path.join(this.root, name, d), { recursive: true });
  }

  /** A node in this process. */
  async start(name: string): Promise<CentralSite> {
    await this.prepare(name);
    const site = await startCentralSite(this.config(name), { ...this.opts.overrides, log: process.env.CLUSTER_TEST_LOG ? createLogger(name) : quiet(name) });
    this.adminPassword ||= site.central.initialAdminPassword ?? "";
    this.nodes[name] = site;
    return site;
  }

  /** A node in its own process (tests/lib/cluster-node.ts). */
  async spawn(name: string): Promise<NodeProc> {
    await this.prepare(name);
    const proc = Bun.spawn(["bun", path.join(import.meta.dir, "cluster-node.ts"), JSON.stringify({ name, config: this.config(name), overrides: this.opts.overrides ?? {} })], { stdin: "ignore", stdout: "pipe", stderr: "inherit" });
    const reader = proc.stdout.getReader();
    let buf = "";
    type Ready = { apiUrl: string; enrollUrl: string; federationPort: number; mqttPort: number; internalUrl: string | null; password: string | null };
    let ready = null as Ready | null;
    while (!ready) {
      const { done, value } = await reader.read();
      if (done) throw new Error(`central node ${name} exited with ${await proc.exited}`);
      buf += new TextDecoder().decode(value);
      const m = /READY (.*)\n/.exec(buf);
      if (m) ready = JSON.parse(m[1]!) as Ready;
    }
    void (async () => {
      for (;;) if ((await reader.read().catch(() => ({ done: true }))).done) break;
    })();
    this.adminPassword ||= ready.password ?? "";
    const password = this.adminPassword;
    const login = await fetch(`${ready.apiUrl}/api/v1/login`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ user: "admin", password }) });
    if (login.status !== 200) throw new Error(`login at ${name}: ${login.status} ${await login.text()}`);
    const token = ((await login.json()) as { token: string }).token;
    const apiUrl = ready.apiUrl;
    const p: NodeProc = {
      name,
      proc,
      apiUrl,
      enrollUrl: ready.enrollUrl,
      federationPort: ready.federationPort,
      mqttPort: ready.mqttPort,
      internalUrl: ready.internalUrl,
      password,
      token,
      async api(method, p, body) {
        const res = await fetch(apiUrl + p, { method, headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { "content-type": "application/json" }) }, body: body === undefined ? undefined : JSON.stringify(body) });
        const text = await res.text();
        return { status: res.status, body: (text ? JSON.parse(text) : null) as never };
      },
    };
    this.procs[name] = p;
    return p;
  }

  /** kill -9 of a spawned node: no close, no lease given back, connections reset by the kernel. */
  async kill(name: string): Promise<void> {
    const p = this.procs[name];
    if (!p) throw new Error(`no spawned node ${name}`);
    process.kill(p.proc.pid, "SIGKILL");
    await p.proc.exited;
    delete this.procs[name];
  }

  /** A connection of the test's own to the shared database. */
  async db(): Promise<Database> {
    return (this.adminDb ??= await openServer(this.dbUrl, { max: 2 }));
  }

  /** Partitions per live owner (node id → count), as the table says. */
  async owners(): Promise<Record<string, number>> {
    const rows = await (await this.db()).query<{ node_id: string; n: number }>(`SELECT node_id, count(*)::int AS n FROM partitions WHERE node_id IS NOT NULL AND lease_until_ms > $1 GROUP BY node_id`, [Date.now()]);
    return Object.fromEntries(rows.map((r) => [r.node_id, r.n]));
  }

  async close(): Promise<void> {
    for (const p of Object.values(this.procs)) {
      p.proc.kill("SIGTERM");
      await Promise.race([p.proc.exited, Bun.sleep(10_000)]);
      if (p.proc.exitCode === null) p.proc.kill("SIGKILL");
    }
    for (const n of Object.values(this.nodes)) await n.close().catch(() => undefined);
    await this.adminDb?.close().catch(() => undefined);
    await this.broker.stop();
    await this.pg.stop();
    await rm(this.root, { recursive: true, force: true });
  }
}

/** An L4 load balancer: each connection goes to the first target that accepts it; a cut target refuses (its connections drop). */
export class FailoverProxy {
  private server!: net.Server;
  private conns = new Map<number, Set<net.Socket>>();
  private cutPorts = new Set<number>();
  port = 0;
  constructor(public targets: number[]) {}
  async start(): Promise<void> {
    this.server = net.createServer((client) => {
      client.on("error", () => client.destroy());
      const tryTarget = (i: number) => {
        const port = this.targets[i];
        if (port === undefined) return client.destroy();
        if (this.cutPorts.has(port)) return tryTarget(i + 1);
        const up = net.connect(port, "127.0.0.1");
        up.once("error", () => (up.remoteAddress ? client.destroy() : tryTarget(i + 1)));
        up.once("connect", () => {
          const set = this.conns.get(port) ?? new Set();
          this.conns.set(port, set);
          set.add(client);
          set.add(up);
          client.pipe(up);
          up.pipe(client);
          client.on("close", () => up.destroy());
          up.on("close", () => client.destroy());
        });
      };
      tryTarget(0);
    });
    await new Promise<void>((r) => this.server.listen(0, "127.0.0.1", () => r()));
    this.port = (this.server.address() as net.AddressInfo).port;
  }
  /** The target is gone: its connections reset, new ones go elsewhere. */
  cut(port: number): void {
    this.cutPorts.add(port);
    for (const s of this.conns.get(port) ?? []) s.destroy();
  }
  async close(): Promise<void> {
    for (const set of this.conns.values()) for (const s of set) s.destroy();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

/** Why this machine cannot run cluster tests (no PostgreSQL binaries), or null. */
export const clusterUnavailable = postgresUnavailable;
