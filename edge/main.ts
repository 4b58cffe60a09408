/**
 * The edge recorder process: config → media store → one supervised ingest per camera stream
 * (edge/ingest) → periodic retention → local HTTP API (edge/api, when present).
 * `runEdge(argv)` is what `outpost edge --config FILE` runs; `startEdge(config, deps)` is the
 * programmatic form for tests and the demo.
 *
 * Owns the wiring only. Must not touch: store internals (lib/store), camera protocols
 * (edge/camera), pipelines (edge/ingest), HTTP handlers (edge/api), federation identity.
 *
 * API deps (EdgeApiDeps in edge/api/types.ts), built here and handed to createEdgeApi:
 *   store    the MediaStore (timeline, segments, locks)
 *   cameras  () => CameraView[]: configured cameras with live per-stream status
 *   config   { admin?: {user, passwordHash} } — absent admin = local login disabled
 *   log, clock, dataDir (exports go to <dataDir>/exports), health: () => health JSON
 */
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { systemClock, iso, type Clock } from "../lib/clock.ts";
import { CliError, parseOptions, untilSignal } from "../lib/cli/index.ts";
import { ConfigError, validateConfig } from "../lib/config/index.ts";
import { Logger, type LogSink } from "../lib/log/index.ts";
import { MediaStore, type RetentionPolicy } from "../lib/store/index.ts";
import type { StreamKind } from "../lib/store/types.ts";
import { CameraError, resolveCamera, type Camera, type DeviceInfo } from "./camera/index.ts";
import { edgeConfigSchema, loadEdgeConfig, type EdgeCameraConfig, type EdgeConfig, type EdgeConfigInput } from "./config.ts";
import { PidFile, StreamIngest, type StreamStatus } from "./ingest/index.ts";
import { loadIdentity, startRenewal, type Identity } from "./identity/index.ts";
import { startUplink, type CommandHandler, type Uplink } from "./uplink/index.ts";
import { mountTransfers, startEdgeTransfer, type EdgeTransferHandle } from "./transfer/index.ts";
import { startEdgeEvents, UplinkLogSink, type EdgeEvents, type EdgeEventsDeps } from "./events/index.ts";
import type { DesiredConfig } from "../federation/protocol/index.ts";
import { EdgeLive } from "./live/index.ts";
import { Reachability } from "./reach/index.ts";
import { requireSession, type Sessions } from "../lib/auth/index.ts";
import { websocket as honoWebsocket } from "hono/bun";
import { mountWeb } from "../web/serve.ts";
import type { Hono } from "hono";

export type { EdgeConfig, EdgeConfigInput } from "./config.ts";

export interface EdgeDeps {
  clock?: Clock;
  log?: Logger;
  /** Log sink when no logger is given (tests: MemorySink). */
  logSink?: LogSink;
  /** Serve the HTTP API (if edge/api exists and api.enabled); default true. */
  serveApi?: boolean;
  /** Event timing (edge/events): debounce, polls, ONVIF renew/backoff; tests compress them. */
  events?: Pick<EdgeEventsDeps, "holdMs" | "pollMs" | "diskPollMs" | "onvif">;
  /** More control-plane command handlers for the uplink (firmware/appliance.ts: "_firmware-check"); the edge's own names win. */
  commands?: Record<string, CommandHandler>;
}

export interface CameraStatus {
  id: string;
  name: string;
  enabled: boolean;
  source: "rtsp" | "onvif";
  device?: DeviceInfo;
  /** Set while an ONVIF camera cannot be resolved to stream URIs. */
  error?: { code: string; message: string };
  streams: StreamStatus[];
}

export interface EdgeStatus {
  name: string;
  startedAt: string;
  cameras: CameraStatus[];
}

export interface Edge {
  readonly config: EdgeConfig;
  readonly store: MediaStore;
  /** http://host:port of the local API, when served. */
  readonly url?: string;
  status(): EdgeStatus;
  /** Live hubs fed by the ingest, local live endpoints, uplinks to central (edge/live). */
  readonly live: EdgeLive;
  /** The ingest of one stream (tests: its pid, status). */
  ingest(cameraId: string, stream: StreamKind): StreamIngest | undefined;
  /** The federation uplink, when this edge is enrolled. */
  readonly uplink?: Uplink;
  /** Runs retention once now (it also runs every storage.retentionIntervalMs). */
  runRetention(): Promise<{ deleted: number; freedBytes: number }>;
  /** Stops ingest (gap "stopped"), the API and the store. Idempotent. */
  stop(): Promise<void>;
}

const HOUR = 3_600_000;

class CameraRuntime {
  camera: Camera | undefined;
  error: CameraError | undefined;
  ingests = new Map<StreamKind, StreamIngest>();
  private retry: ReturnType<typeof setTimeout> | undefined;
  private retryMs = 2000;
  private stopped = false;

  constructor(
    readonly cfg: EdgeCameraConfig,
    private readonly startStream: (rt: CameraRuntime, cam: Camera, kind: StreamKind) => Promise<void>,
    private readonly log: Logger,
  ) {}

  /** Resolves the camera (ONVIF may be offline: retried with backoff) and starts its streams. */
  async start(): Promise<void> {
    if (this.stopped) return;
    try {
      this.camera = await resolveCamera(this.cfg);
      this.error = undefined;
    } catch (e) {
      this.error = e instanceof CameraError ? e : new CameraError("onvif-error", (e as Error).message);
      if (this.error.code === "invalid") {
        this.log.error("camera configuration is invalid; not recording it", { err: this.error.message });
        return;
      }
      this.log.warn("camera not available; will retry", { code: this.error.code, err: this.error.message, retryInMs: this.retryMs });
      this.retry = setTimeout(() => void this.start(), this.retryMs);
      this.retryMs = Math.min(this.retryMs * 2, 60_000);
      return;
    }
    for (const kind of this.cfg.streams) {
      if (this.stopped) return;
      if (!this.camera.streams[kind]) {
        this.log.info("camera has no such stream; skipped", { stream: kind });
        continue;
      }
      await this.startStream(this, this.camera, kind);
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.retry) clearTimeout(this.retry);
    await Promise.all([...this.ingests.values()].map((i) => i.stop()));
  }

  status(clock: Clock): CameraStatus {
    const streams: StreamStatus[] = [...this.ingests.values()].map((i) => i.status());
    if (this.error && streams.length === 0) {
      for (const kind of this.cfg.streams) {
        streams.push({
          cameraId: this.cfg.id,
          stream: kind,
          state: this.error.code === "invalid" || this.error.code === "auth-failed" || this.error.code === "unsupported-codec" ? "failed" : "backoff",
          reason: this.error.code === "auth-failed" ? "auth-failed" : this.error.code === "unsupported-codec" ? "unsupported-codec" : "camera-offline",
          detail: this.error.message,
          since: iso(clock.now()),
          bitrateKbps: 0,
          fps: 0,
          lastFragmentAt: null,
          sessions: 0,
        });
      }
    }
    return {
      id: this.cfg.id,
      name: this.camera?.name ?? this.cfg.name ?? this.cfg.id,
      enabled: this.cfg.enabled,
      source: this.cfg.onvif ? "onvif" : "rtsp",
      ...(this.camera?.device ? { device: this.camera.device } : {}),
      ...(this.error ? { error: { code: this.error.code, message: this.error.message } } : {}),
      streams,
    };
  }
}

/** Starts an edge recorder from a config object (validated here; defaults filled in). */
export async function startEdge(input: EdgeConfig | EdgeConfigInput, deps: EdgeDeps = {}): Promise<Edge> {
  const config: EdgeConfig = validateConfig(edgeConfigSchema, input, "startEdge");
  const clock = deps.clock ?? systemClock;
  // Warnings and errors also go to central's system log once the uplink exists (edge/events).
  const uplinkLogSink = new UplinkLogSink();
  const log = (deps.log ?? new Logger({ component: "edge", level: config.logLevel, ...(deps.logSink ? { sink: deps.logSink } : {}) })).tee(uplinkLogSink);
  const startedAt = clock.now();
  await mkdir(config.dataDir, { recursive: true });

  // Children of a previous run that outlived it (should not happen: pdeathsig) would hold
  // camera sessions and write nowhere.
  const pidPath = join(config.dataDir, "gst.pids");
  PidFile.killStale(pidPath, log);
  const pidFile = new PidFile(pidPath);

  const store = await MediaStore.open({
    root: config.dataDir,
    clock,
    log: log.child({ component: "store" }),
    segmentDurationMs: config.storage.segmentDurationMs,
    ...(config.storage.maxTotalBytes !== undefined ? { maxTotalBytes: config.storage.maxTotalBytes } : {}),
    minFreeBytes: config.storage.minFreeBytes,
  });

  const runtimes: CameraRuntime[] = [];
  const live = new EdgeLive({ clock, log, share: config.federation.share, hasStream: (id, kind) => !!runtimes.find((r) => r.cfg.id === id)?.ingests.has(kind) });
  let stopping = false;
  let staggerChain = Promise.resolve();
  const ing = config.ingest;
  // Streams start one after another, staggerMs apart, in config order (also for late ONVIF resolves).
  const startStream = (rt: CameraRuntime, cam: Camera, kind: StreamKind): Promise<void> => {
    const run = async () => {
      if (stopping) return;
      const ep = cam.streams[kind]!;
      const ingest = new StreamIngest({
        cameraId: cam.id,
        stream: kind,
        source: { url: ep.url, ...(ep.user !== undefined ? { user: ep.user } : {}), ...(ep.password !== undefined ? { password: ep.password } : {}) },
        sink: store.writer(cam.id, kind),
        clock,
        log: log.child({ component: "ingest" }),
        stallTimeoutMs: ing.stallTimeoutMs,
        ...(ing.connectTimeoutMs !== undefined ? { connectTimeoutMs: ing.connectTimeoutMs } : {}),
        backoff: { initialMs: ing.backoffInitialMs, maxMs: ing.backoffMaxMs, stableMs: ing.stableMs },
        latencyMs: ing.latencyMs,
        engine: ing.engine,
        pidFile,
        onFragment: live.feed(cam.id, kind),
      });
      rt.ingests.set(kind, ingest);
      ingest.start();
      await Bun.sleep(ing.staggerMs);
    };
    const p = staggerChain.then(run);
    staggerChain = p.catch(() => undefined);
    return p;
  };

  for (const cfg of config.cameras) {
    const rt = new CameraRuntime(cfg, startStream, log.child({ camera: cfg.id }));
    runtimes.push(rt);
    if (cfg.enabled) void rt.start();
  }

  // Desired config from central (applied by the uplink) overlays the file's retention.
  let desired: DesiredConfig | null = null;
  // Transfers to central (edge/transfer): uploads within link profiles; `central-only` cameras keep a rolling buffer.
  let transfer: EdgeTransferHandle | undefined;
  const policyOf = (cameraId: string): RetentionPolicy => {
    const r = desired?.cameras?.[cameraId]?.retention ?? desired?.retention ?? config.cameras.find((c) => c.id === cameraId)?.retention ?? config.retention;
    const base = {
      ...(r.maxAgeHours !== undefined ? { maxAgeMs: r.maxAgeHours * HOUR } : {}),
      ...(r.maxBytes !== undefined ? { maxBytes: r.maxBytes } : {}),
    };
    return transfer ? transfer.retention(cameraId, base) : base;
  };
  let retentionBusy: Promise<{ deleted: number; freedBytes: number }> | undefined;
  const runRetention = (): Promise<{ deleted: number; freedBytes: number }> => {
    retentionBusy ??= store
      .enforceRetention(policyOf)
      .then((r) => {
        if (r.deleted.length) log.info("retention deleted segments", { segments: r.deleted.length, freedBytes: r.freedBytes });
        return { deleted: r.deleted.length, freedBytes: r.freedBytes };
      })
      .finally(() => (retentionBusy = undefined));
    return retentionBusy;
  };
  const retentionTimer = setInterval(() => {
    runRetention().catch((e) => log.error("retention failed", { err: e }));
  }, config.storage.retentionIntervalMs);

  const status = (): EdgeStatus => ({ name: config.name, startedAt: iso(startedAt), cameras: runtimes.map((r) => r.status(clock)) });

  // Federation: control plane to central (edge/uplink), only when enrolled.
  let uplink: Uplink | undefined;
  let renewal: { stop(): void } | undefined;
  let identity = await loadIdentity(config.dataDir);
  // One "central reachable again" signal for MQTT, transfers and live (edge/reach).
  const reach = identity ? new Reachability({ url: () => identity!.federationUrl, log: log.child({ component: "reach" }) }) : undefined;
  const makeUplink = (identity: Identity) =>
    startUplink({
      dataDir: config.dataDir,
      identity,
      ...(config.federation.mqttUrl ? { mqttUrl: config.federation.mqttUrl } : {}),
      store,
      cameras: () =>
        runtimes.map((r) => {
          const st = r.status(clock);
          return {
            id: st.id,
            name: st.name,
            enabled: st.enabled,
            streams: st.streams.map((x) => ({ kind: x.stream, state: x.state, bitrateKbps: x.bitrateKbps, fps: x.fps, ...(x.codec ? { codec: x.codec } : {}), ...(x.width ? { width: x.width } : {}), ...(x.height ? { height: x.height } : {}) })),
          };
        }),
      share: config.federation.share,
      retention: policyOf,
      applyConfig: (c) => {
        for (const [id, cam] of Object.entries(c.cameras ?? {})) {
          if (cam.enabled !== undefined && cam.enabled !== config.cameras.find((x) => x.id === id)?.enabled) throw new Error(`cameras.${id}.enabled cannot be changed remotely by this edge version`);
        }
        desired = c;
      },
      link: () => ({ type: transfer?.link ?? config.federation.link, quality: null }),
      commands: {
        ...deps.commands,
        ...(transfer?.commands ?? {}),
        // Central asks for a live uplink (or its lease refresh / stop); live opens it outbound.
        live: (a) => live.command(a),
        "restart-stream": (a) => {
          const shared = config.federation.share.includes("*") || config.federation.share.includes(String(a.cameraId));
          const rt = shared ? runtimes.find((r) => r.cfg.id === a.cameraId) : undefined;
          const ing = rt?.ingests.get(a.stream === "sub" ? "sub" : "main");
          // Same answer for an unshared camera as for a missing one, and no echo of the id.
          if (!ing) throw new Error("no such camera or stream on this edge");
          ing.restart("restart requested by central");
          return null;
        },
      },
      clock,
      log: log.child({ component: "uplink" }),
      intervals: { healthMs: config.federation.healthIntervalMs },
      outboxMaxBytes: config.federation.outboxMaxBytes,
      reach,
    });
  const makeTransfer = (id: Identity) =>
    startEdgeTransfer({
      dataDir: config.dataDir,
      store,
      federationUrl: id.federationUrl,
      tls: { ca: id.caPem, cert: id.certPem, key: id.keyPem },
      policy: () => desired?.policy ?? null,
      link: transfer?.link ?? config.federation.link,
      clock,
      log: log.child({ component: "transfer" }),
      reach,
    });
  if (identity) {
    transfer = await makeTransfer(identity);
    uplink = await makeUplink(identity);
    // Live uplinks dial central's federation listener with the current identity (it rotates).
    live.setUplinkTarget({ url: () => identity!.federationUrl, tls: () => ({ ca: identity!.caPem, cert: identity!.certPem, key: identity!.keyPem }), ...(reach ? { reach } : {}) });
    renewal = startRenewal(config.dataDir, {
      clock,
      log: log.child({ component: "identity" }),
      onRotated: async (next) => {
        identity = next;
        // The old certificate is refused once the new one is confirmed: reconnect with the new one.
        await uplink?.stop();
        const prev = transfer;
        await prev?.stop();
        transfer = await makeTransfer(next);
        uplink = await makeUplink(next);
        log.info("certificate rotated; federation reconnected", { serial: next.serial, notAfter: next.notAfter });
      },
    });
  } else log.info("not enrolled with a central: federation off (outpost edge enroll --data <dataDir>)");
  if (identity) uplinkLogSink.attach(() => uplink);
  else uplinkLogSink.detach();
  // Events (ONVIF, camera online/offline, disk): local event log + the uplink's outbox.
  const events: EdgeEvents = await startEdgeEvents({
    dataDir: config.dataDir,
    clock,
    log: log.child({ component: "edge.events" }),
    uplink: () => uplink,
    cameras: () =>
      runtimes.map((r) => {
        const st = r.status(clock);
        return { id: st.id, enabled: st.enabled, streams: st.streams, ...(st.error ? { error: st.error } : {}), ...(r.cfg.onvif ? { onvif: { address: r.cfg.onvif.address, user: r.cfg.user, password: r.cfg.password } } : {}) };
      }),
    // Retention keeps free space above minFreeBytes; below half of it, recording is losing the race.
    disk: async () => {
      const u = await store.usage();
      return { full: store.minFreeBytes > 0 && u.volumeFreeBytes < store.minFreeBytes / 2, freeBytes: u.volumeFreeBytes, totalBytes: u.volumeTotalBytes };
    },
    ...deps.events,
  });

  let server: ReturnType<typeof Bun.serve> | undefined;
  let url: string | undefined;
  if (config.api.enabled && deps.serveApi !== false) {
    const api = await loadApi(log);
    if (api) {
      if (!config.admin.passwordHash) {
        log.warn(
          config.demo
            ? "demo edge without admin.passwordHash: local login disabled"
            : "no admin.passwordHash configured: local API login is disabled. Set admin.passwordHash to an argon2id hash, e.g. bun -e 'console.log(await Bun.password.hash(process.argv[1], \"argon2id\"))' 'your-password'",
        );
      }
      const app = api.createEdgeApi({
        store,
        cameras: () => runtimes.map((r) => toCameraView(r.status(clock))),
        config: config.admin.passwordHash ? { admin: { user: config.admin.user, passwordHash: config.admin.passwordHash } } : {},
        log: log.child({ component: "api" }),
        clock,
        dataDir: config.dataDir,
        health: async () => ({
          name: config.name,
          time: iso(clock.now()),
          startedAt: iso(startedAt),
          disk: await store.usage(),
          streams: runtimes.flatMap((r) => r.status(clock).streams),
        }),
      });
      const parts = app as { app?: Hono; sessions?: Sessions };
      if (parts.app && parts.sessions) live.mount(parts.app, requireSession(parts.sessions) as never);
      if (parts.app && parts.sessions) events.mount(parts.app, requireSession(parts.sessions) as never);
      if (parts.app && parts.sessions) mountTransfers(parts.app, requireSession(parts.sessions) as never, () => transfer?.status() ?? null);
      // the reduced web client for on-site use; last, because its page fallback answers every GET outside /api/
      if (parts.app) mountWeb(parts.app, { role: "edge" });
      server = Bun.serve({
        hostname: config.api.host,
        port: config.api.port,
        fetch: app.fetch,
        websocket: api.websocket ?? honoWebsocket,
      } as Parameters<typeof Bun.serve>[0]);
      url = `http://${config.api.host}:${server.port}`;
      log.info("edge API listening", { url });
    }
  }

  log.info("edge recorder started", { cameras: config.cameras.filter((c) => c.enabled).length, dataDir: config.dataDir });

  let stopped: Promise<void> | undefined;
  return {
    config,
    store,
    get url() {
      return url;
    },
    status,
    live,
    ingest: (cameraId, stream) => runtimes.find((r) => r.cfg.id === cameraId)?.ingests.get(stream),
    // A getter: the uplink is replaced when the certificate rotates.
    get uplink() {
      return uplink;
    },
    runRetention,
    stop: () =>
      (stopped ??= (async () => {
        stopping = true;
        clearInterval(retentionTimer);
        server?.stop(true);
        live.close();
        renewal?.stop();
        await events.stop();
        uplinkLogSink.detach();
        await Promise.all(runtimes.map((r) => r.stop()));
        await retentionBusy?.catch(() => undefined);
        await transfer?.stop();
        await uplink?.stop();
        reach?.stop();
        await store.close();
        log.info("edge recorder stopped");
      })()),
  };
}

interface ApiModule {
  createEdgeApi(deps: unknown): { fetch: (req: Request, server?: unknown) => Response | Promise<Response> };
  websocket?: unknown;
}

async function loadApi(_log: Logger): Promise<ApiModule | undefined> {
  // A literal specifier, so `bun build --compile` (the appliance) bundles the API too.
  return (await import("./api/index.ts")) as unknown as ApiModule;
}

/** Ingest status → the API's camera view (edge/api/types.ts CameraView). */
function toCameraView(c: CameraStatus): {
  id: string;
  name: string;
  streams: { stream: StreamKind; status: "connecting" | "recording" | "stalled" | "failed" | "disabled"; reason?: string; sinceMs?: number; codec?: string; width?: number; height?: number }[];
} {
  return {
    id: c.id,
    name: c.name,
    streams: c.streams.map((s) => ({
      stream: s.stream,
      status: !c.enabled || s.state === "stopped" ? "disabled" : s.state === "backoff" ? "failed" : s.state,
      ...(s.reason ? { reason: s.detail ? `${s.reason}: ${s.detail}` : s.reason } : {}),
      sinceMs: Date.parse(s.since),
      ...(s.codec ? { codec: s.codec } : {}),
      ...(s.width ? { width: s.width } : {}),
      ...(s.height ? { height: s.height } : {}),
    })),
  };
}

const usage = `usage: outpost edge --config FILE [--mqtt-url mqtts://HOST:PORT]

Runs the edge recorder: records every configured camera, keeps retention, serves the local API,
and (once enrolled) talks to central; --mqtt-url points it at an external broker instead of the
URL received at enrollment (same as federation.mqttUrl).
Config keys and defaults: docs/ref/edge-config.md. Environment overrides: OUTPOST_<KEY>__<SUBKEY>.`;

/** `outpost edge --config FILE`: runs until SIGINT/SIGTERM; returns the exit code. */
export async function runEdge(argv: string[]): Promise<number> {
  const { values } = parseOptions(argv, { config: { type: "string" }, "mqtt-url": { type: "string" } }, usage);
  if (values.help) {
    console.log(usage);
    return 0;
  }
  const file = typeof values.config === "string" ? values.config : undefined;
  if (!file) throw new CliError(`--config FILE is required\n\n${usage}`, 2);
  let config: EdgeConfig;
  try {
    config = await loadEdgeConfig(file);
  } catch (e) {
    if (e instanceof ConfigError) throw new CliError(e.message, 2);
    throw e;
  }
  if (typeof values["mqtt-url"] === "string") {
    if (!/^mqtts?:\/\//.test(values["mqtt-url"])) throw new CliError(`--mqtt-url must be an mqtts:// URL, got '${values["mqtt-url"]}'`, 2);
    config.federation.mqttUrl = values["mqtt-url"];
  }
  const edge = await startEdge(config);
  const sig = await untilSignal();
  console.error(`outpost edge: ${sig}, stopping`);
  await edge.stop();
  return 0;
}
