/**
 * `outpost demo`: central + two edge recorders + simulated cameras in one process, on
 * embedded defaults (DuckDB files, aedes broker). Enrolls each edge with central the way an
 * admin would (token → `edge enroll`), prints the URLs and logins, and writes DIR/demo.json.
 */
import { mkdirPrivate, writeFileAtomic } from "../../lib/fsutil.ts";
import { join, resolve } from "node:path";
import { randomBytes } from "node:crypto";
import { CliError, parseOptions, untilSignal, type Command } from "../../lib/cli/index.ts";
import { createLogger } from "../../lib/log/index.ts";
import { startDemoGps } from "./demo-gps.ts";

const usage = `usage: outpost demo [--data DIR] [--cameras N] [--edges N] [--port P]

Starts central, N edge recorders (default 2) and simulated cameras (default 2 per edge), enrolls
the edges with central, and prints the web URL and logins. Each edge is a bus whose gpsd (fed
by gpsfake) drives a loop through a made-up town, so the fleet map shows buses moving.
Everything is also written to DIR/demo.json (default DIR: .data/demo). Runs until Ctrl-C.`;

export interface DemoInfo {
  /** caFile: central's CA certificate; import it into a browser to trust central's HTTPS. */
  central: { url: string; user: string; password: string; caFile: string };
  /** certFile: the edge's self-signed local API certificate (trust or pin it for the edge's HTTPS). */
  edges: { name: string; url: string; user: string; password: string; siteId?: string; certFile?: string }[];
  cameras: { id: string; rtspMain: string; rtspSub: string; onvifUrl: string }[];
  /** camsim's fault control (POST /cameras/{id}/stop|start|stall|resume|restart). */
  camsim: { controlUrl: string };
  /** Central's RTSP out (rtsps://), when enabled. */
  rtsp?: string;
  /** Central's ONVIF bridge: one device per site; admin's ONVIF password (GET /api/v1/onvif/me gives any user theirs). */
  onvif?: { deviceUrl: string; user: string; password: string };
  /** Prometheus scrape URLs (loopback, free ports): central's and each edge's. */
  metrics?: Record<string, string>;
  /** The buses' simulated GPS: each edge's gpsd port, or why there is none (gpsd/gpsfake missing). */
  gps?: { ports: Record<string, number> } | { missing: string };
}

export interface Demo {
  info: DemoInfo;
  stop(): Promise<void>;
}

/** `segmentDurationMs` (default 60 s): tests use short segments so recent footage is committed at the edge within seconds. */
/** `camera` (default 1280x720, 15 fps): tests use smaller, slower cameras (less encoding on a shared machine; a rate other than 15 fps). */
/** `trackSyncMs` (default 15 s): how often the demo sends each bus's track to central (a real edge sends a chunk per 5 minutes), so a new user can search at once. */
/** `trackMaxIntervalMs` (default the edge's 30 s): tests keep a track point more often, so a drive shows on the map within seconds. */
export async function startDemo(opts: { dataDir: string; edges?: number; camerasPerEdge?: number; port?: number; segmentDurationMs?: number; camera?: { width: number; height: number; fps: number }; trackSyncMs?: number; trackMaxIntervalMs?: number }): Promise<Demo> {
  const log = createLogger("demo");
  const dataDir = resolve(opts.dataDir);
  const edgeCount = opts.edges ?? 2;
  const perEdge = opts.camerasPerEdge ?? 2;
  await mkdirPrivate(dataDir);
  const [{ startCamsim, withCredentials }, { startCentralSite }, { startEdge }, { enroll, loadIdentity }] = await Promise.all([
    import("../../camsim/index.ts"),
    import("../../central/main.ts"),
    import("../../edge/main.ts"),
    import("../../edge/identity/index.ts"),
  ]);
  const stops: (() => Promise<void>)[] = [];
  const stop = async () => {
    for (const s of stops.reverse()) await s().catch((e) => log.warn("stop failed", { err: e }));
  };
  try {
    // --port 0 (tests): every central listener on a free port, so parallel demos never collide.
    const anyPort = opts.port === 0 ? { enroll: { port: 0 }, federation: { port: 0 }, mqtt: { port: 0 }, live: { rtsp: { tlsPort: 0 } } } : {};
    // The demo shows the ONVIF bridge (off by default in central's config).
    const onvifCfg = { onvif: { enabled: true, port: opts.port === 0 ? 0 : 8090 } };
    const site = await startCentralSite({ dataDir: join(dataDir, "central"), api: { port: opts.port ?? 8080 }, ...anyPort, ...onvifCfg, metrics: { port: 0 } }, { log: log.child({ component: "central" }) });
    stops.push(() => site.close());
    const central = site.central;
    const cam = await startCamsim({ cameras: edgeCount * perEdge, main: opts.camera ?? { width: 1280, height: 720, fps: 15 }, ...(opts.camera ? { sub: { width: Math.round(opts.camera.width / 2), height: Math.round(opts.camera.height / 2), fps: opts.camera.fps, bitrateKbps: 150 } } : {}), log: log.child({ component: "camsim" }) });
    stops.push(() => cam.close());

    const info: DemoInfo = {
      central: { url: central.apiUrl, user: "admin", password: central.initialAdminPassword ?? (await Bun.file(central.adminPasswordFile).text()).trim(), caFile: central.caFile },
      edges: [],
      cameras: cam.cameras.map((c) => ({ id: c.id, rtspMain: c.rtspMain, rtspSub: c.rtspSub, onvifUrl: c.onvifUrl })),
      camsim: { controlUrl: cam.controlUrl },
      ...(site.rtsp ? { rtsp: `${site.rtsp.baseUrl}/<site>.<camera>/<main|sub>` } : {}),
      ...(site.onvif ? { onvif: { deviceUrl: `${site.onvif.url}/onvif/<site>/device_service`, user: "admin", password: site.onvif.credentials.passwordFor("admin") ?? "" } } : {}),
      metrics: site.metricsUrl ? { central: site.metricsUrl } : {},
    };
    for (let e = 0; e < edgeCount; e++) {
      const name = `bus-${101 + e}`;
      const edgeDir = join(dataDir, name);
      const password = randomBytes(9).toString("base64url");
      let identity = await loadIdentity(edgeDir);
      if (!identity) {
        const token = await central.createEnrollmentToken(name);
        identity = await enroll({ centralUrl: central.enrollUrl, token: token.token, dataDir: edgeDir, log: log.child({ component: "enroll", edge: name }) });
      }
      const cameras = cam.cameras.slice(e * perEdge, (e + 1) * perEdge).map((c, i) => ({
        id: `cam${i + 1}`,
        name: `${name} camera ${i + 1}`,
        rtsp: { main: withCredentials(c.rtspMain, cam.user, cam.password), sub: withCredentials(c.rtspSub, cam.user, cam.password) },
      }));
      // a bus on its own loop through the demo town (gpsd fed by gpsfake), when gpsd is installed
      const gps = await startDemoGps(e, dataDir);
      if ("gps" in gps) {
        stops.push(() => gps.gps.stop());
        if (!info.gps || !("ports" in info.gps)) info.gps = { ports: {} };
        info.gps.ports[name] = gps.gps.port;
      } else {
        if (!info.gps) info.gps = { missing: gps.why };
        log.warn(`${name} has no position: ${gps.why}`);
      }
      const edge = await startEdge(
        {
          name,
          dataDir: edgeDir,
          demo: true,
          api: { port: opts.port === 0 ? 0 : (opts.port ?? 8080) + 1 + e },
          admin: { user: "admin", passwordHash: await Bun.password.hash(password, "argon2id") },
          storage: { segmentDurationMs: opts.segmentDurationMs ?? 60_000, minFreeBytes: 64 * 1024 * 1024 },
          retention: { maxAgeHours: 24 },
          // The demo shares every camera with central (a real edge shares none until told to).
          federation: { share: ["*"] },
          metrics: { port: 0 },
          ...("gps" in gps ? { position: { gpsd: { host: "127.0.0.1", port: gps.gps.port }, reportEveryMs: 3000, ...(opts.trackMaxIntervalMs ? { thin: { maxIntervalMs: opts.trackMaxIntervalMs } } : {}) } } : {}),
          cameras,
        },
        { log: log.child({ component: "edge", edge: name }) },
      );
      stops.push(() => edge.stop());
      if ("gps" in gps) {
        const t = setInterval(() => void edge.uplink?.syncNow().catch(() => undefined), opts.trackSyncMs ?? 15_000);
        stops.push(async () => clearInterval(t));
      }
      if (edge.metricsUrl) info.metrics![name] = edge.metricsUrl;
      info.edges.push({ name, url: edge.url ?? "", user: "admin", password, siteId: identity.siteId, ...(edge.apiCert ? { certFile: edge.apiCert.file } : {}) });
    }
    await writeFileAtomic(join(dataDir, "demo.json"), JSON.stringify(info, null, 2) + "\n");
    return { info, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}

const command: Command = {
  summary: "central + edges + simulated cameras in one process (embedded defaults)",
  usage,
  async run(argv) {
    const { values } = parseOptions(argv, { data: { type: "string" }, cameras: { type: "string" }, edges: { type: "string" }, port: { type: "string" } }, usage);
    const num = (v: unknown, name: string, d: number) => {
      if (v === undefined) return d;
      const n = Number(v);
      if (!Number.isInteger(n) || n < 0) throw new CliError(`--${name} must be a whole number, got '${v}'`);
      return n;
    };
    const dataDir = typeof values.data === "string" ? values.data : ".data/demo";
    const demo = await startDemo({ dataDir, edges: num(values.edges, "edges", 2), camerasPerEdge: num(values.cameras, "cameras", 2), port: num(values.port, "port", 8080) });
    const { info } = demo;
    const lines = [
      "",
      "Outpost demo is running.",
      `  central   ${info.central.url}   user ${info.central.user}   password ${info.central.password}`,
      `            HTTPS certificate issued by central's own CA: import ${info.central.caFile} into your browser (or accept the warning once)`,
      ...info.edges.map((e) => `  edge ${e.name.padEnd(8)} ${e.url}   user ${e.user}   password ${e.password}${e.certFile ? `   self-signed certificate ${e.certFile}` : ""}`),
      ...info.cameras.map((c) => `  camera ${c.id.padEnd(6)} ${c.rtspMain}`),
      `  faults    POST ${info.camsim.controlUrl}/cameras/<camN>/stop|start|stall|resume|restart`,
      ...(info.rtsp ? [`  RTSP out  ${info.rtsp} (central users: account password, or a stream credential from the web client's Account page; trust ${info.central.caFile})`] : []),
      ...(info.onvif ? [`  ONVIF     ${info.onvif.deviceUrl}   user ${info.onvif.user}   ONVIF password ${info.onvif.password}`] : []),
      ...Object.entries(info.metrics ?? {}).map(([who, url]) => `  metrics   ${who.padEnd(8)} ${url}`),
      info.gps && "missing" in info.gps ? `  GPS       none — ${info.gps.missing}: the buses stay off the fleet map` : `  GPS       each bus drives a loop through a made-up town (gpsd + gpsfake): see Fleet map, draw an area to search`,
      `  details   ${resolve(dataDir, "demo.json")}`,
      "Ctrl-C stops it.",
      "",
    ];
    console.log(lines.join("\n"));
    await untilSignal();
    await demo.stop();
    return 0;
  },
};
export default command;
