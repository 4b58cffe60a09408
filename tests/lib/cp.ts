/**
 * Test support for control-plane tests and benchmarks (central + edge uplink): the composed
 * central site (composeCentral, plain HTTP, free ports, no RTSP out), enrolled edge identities, an admin API client, real fMP4 media
 * in a store, and a TCP proxy that can cut the edge↔broker link.
 */
import "reflect-metadata";
import net from "node:net";
import path from "node:path";
import { Logger, MemorySink } from "../../lib/log/index.ts";
import type { Central, CentralCore } from "../../central/index.ts";
import { startCentralSite, type CentralSite } from "../../central/main.ts";
import { testStorageIndex } from "../../central/testkit.ts";
import type { Sites, SiteEvent } from "../../central/sites/index.ts";
import { enroll, type Identity } from "../../edge/identity/index.ts";
import type { MediaStore } from "../../lib/store/index.ts";
import { fragmentAt, type Media } from "../../lib/store/testdata/media.ts";

export const quiet = (component = "test") => new Logger({ component, sink: new MemorySink(), level: "error" });

export interface TestCentral {
  central: Central;
  /** The whole composed central site (central/compose.ts). */
  site: CentralSite;
  /** Its control plane (mirror of the edges' index, commands, config). */
  sites: Sites;
  events: SiteEvent[];
  token: string;
  api<T = unknown>(method: string, p: string, body?: unknown): Promise<{ status: number; body: T }>;
  close(): Promise<void>;
}

export async function startTestCentral(
  root: string,
  o: { external?: (c: CentralCore) => Promise<{ mqttUrl: string; mqttClient: { certPem: string; keyPem: string } }>; log?: Logger } = {},
): Promise<TestCentral> {
  const events: SiteEvent[] = [];
  const dataDir = path.join(root, "central");
  const site = await startCentralSite(
    { dataDir, api: { port: 0, plainHttp: true }, enroll: { port: 0 }, federation: { port: 0 }, mqtt: { port: 0 }, live: { rtsp: { enabled: false } }, storage: testStorageIndex() },
    { log: o.log ?? quiet("central"), ...(o.external ? { controlPlaneMqtt: o.external } : {}) },
  );
  site.siteEvents.subscribe((e) => events.push(e));
  const central = site.central;
  const password = (await Bun.file(central.adminPasswordFile).text()).trim();
  const login = await fetch(`${central.apiUrl}/api/v1/login`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ user: "admin", password }) });
  const token = ((await login.json()) as { token: string }).token;
  return {
    central,
    site,
    sites: site.sites,
    events,
    token,
    async api(method, p, body) {
      const res = await fetch(central.apiUrl + p, {
        method,
        headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await res.text();
      return { status: res.status, body: (text ? JSON.parse(text) : null) as never };
    },
    close: () => site.close(),
  };
}

export async function enrollEdge(c: Central, name: string, dataDir: string): Promise<Identity> {
  const t = await c.createEnrollmentToken(name);
  return enroll({ centralUrl: c.enrollUrl, token: t.token, dataDir, log: quiet("enroll") });
}

/** Records `seconds` of looped test video into a stream, ending about now (wall clock). */
export async function record(store: MediaStore, m: Media, cameraId: string, fromFrag: number, frags: number, baseWall: number): Promise<void> {
  const w = store.writer(cameraId, "main");
  w.init(m.init, m.info);
  for (let n = fromFrag; n < fromFrag + frags; n++) {
    const f = fragmentAt(m, n);
    await w.fragment(f.bytes, f.info, baseWall + f.info.startMs + f.info.durationMs);
  }
}

/** TCP proxy 127.0.0.1:port → target; cut() drops every connection and refuses new ones. */
export async function tcpProxy(targetPort: number): Promise<{ port: number; cut(): void; restore(): void; bytes: { up: number; down: number }; close(): Promise<void> }> {
  const socks = new Set<net.Socket>();
  let open = true;
  const bytes = { up: 0, down: 0 };
  const server = net.createServer((client) => {
    if (!open) return client.destroy();
    const up = net.connect(targetPort, "127.0.0.1");
    socks.add(client).add(up);
    client.on("data", (d) => (bytes.up += d.length));
    up.on("data", (d) => (bytes.down += d.length));
    client.pipe(up).pipe(client);
    const end = () => {
      client.destroy();
      up.destroy();
      socks.delete(client);
      socks.delete(up);
    };
    client.on("error", end).on("close", end);
    up.on("error", end).on("close", end);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  return {
    port: (server.address() as net.AddressInfo).port,
    bytes,
    cut() {
      open = false;
      for (const s of socks) s.destroy();
    },
    restore() {
      open = true;
    },
    close: () =>
      new Promise<void>((r) => {
        for (const s of socks) s.destroy();
        server.close(() => r());
      }),
  };
}

export async function until<T>(what: string, fn: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 20_000, stepMs = 100): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < end) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    await Bun.sleep(stepMs);
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ""}`);
}
