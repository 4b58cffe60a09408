/**
 * The edge recorder process: config → one supervised ingest per camera stream (edge/ingest),
 * connecting while the media store opens (start order: docs/design/ingest.md) → periodic
 * retention → federation, events, vehicle → local HTTP API (edge/api, when present).
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
// What recording needs is imported here; the rest (store, custody, federation, API, web,
// metrics, vehicle inputs: DuckDB, x509, MQTT, ONVIF, prom-client) is imported in startEdge once
// the cameras are connecting, so the edge records again sooner after a crash or power cut
// (bench/edge-start.bench.ts). Literal specifiers: `bun build --compile` bundles them all.
import { startHoldingDataDir } from "../lib/lock/index.ts";
import { join } from "node:path";
import { systemClock, iso, type Clock } from "../lib/clock.ts";
import { CliError, parseOptions, untilSignal } from "../lib/cli/index.ts";
import { ConfigError, validateConfig } from "../lib/config/index.ts";
import { Logger, type LogSink } from "../lib/log/index.ts";
import { startMark } from "../lib/starttrace.ts";
import type { MediaStore, RetentionPolicy, WriterStatus } from "../lib/store/index.ts";
import type { StreamKind } from "../lib/store/types.ts";
import { CameraError } from "./camera/errors.ts";
import { resolveCamera, type Camera } from "./camera/resolve.ts";
import type { DeviceInfo } from "./camera/onvif.ts";
import { LOSS_SHARE_MS, edgeConfigSchema, effectiveReadBatchMs, loadEdgeConfig, type EdgeCameraConfig, type EdgeConfig, type EdgeConfigInput } from "./config.ts";
import { PidFile, StreamIngest, deferredSink, type StreamState, type StreamStatus } from "./ingest/index.ts";
import type { Identity } from "./identity/index.ts";
import { readMeta } from "./identity/store.ts";
import type { CustodyRecorder, CustodySigner } from "../federation/custody/recorder.ts";
import type { CommandHandler, Uplink } from "./uplink/index.ts";
import type { EdgeTransferHandle } from "./transfer/index.ts";
import { UplinkLogSink } from "./events/forward.ts";
import type { EdgeEvents, EdgeEventsDeps } from "./events/index.ts";
import type { DesiredConfig } from "../federation/protocol/index.ts";
import { EdgeLive } from "./live/live.ts";
import type { EdgePreview, PreviewSync } from "./preview/index.ts";
import type { Sessions } from "../lib/auth/index.ts";
import type { MetricsListener } from "../lib/metrics/index.ts";
import type { Hono } from "hono";
import type { EdgePosition } from "./position/index.ts";
import type { Vehicle, VehicleState } from "./vehicle/index.ts";

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
  /** Custody identity instead of the enrollment's (tests and benches sign without a central). */
  custody?: { signer: () => CustodySigner | null | Promise<CustodySigner | null>; siteId: string; caPem: string };
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

/**
 * A stream as /health reports it: the ingest's status plus the store writer's. An ingest that
 * receives while the writer cannot write is "not-writing", never "recording".
 */
export interface StreamHealth extends Omit<StreamStatus, "state"> {
  state: StreamState | "not-writing";
  writer: WriterStatus;
}

export function withWriter(s: StreamStatus, w: WriterStatus): StreamHealth {
  const stuck = w.state === "disk-full" || w.state === "disk-slow";
  if (s.state === "recording" && w.state === "lagging") return { ...s, detail: `the disk is ${w.lagMs} ms behind: a power cut now would lose more than 1 s`, writer: w };
  if (!stuck || s.state !== "recording") return { ...s, writer: w };
  return { ...s, state: "not-writing", detail: w.state === "disk-full" ? "not writing — disk full" : `not writing — the disk is too slow (${w.queued} fragments waiting), fragments dropped`, writer: w };
}

export interface EdgeStatus {
  name: string;
  startedAt: string;
  cameras: CameraStatus[];
}

export interface Edge {
  readonly config: EdgeConfig;
  readonly store: MediaStore;
  /** Hash chains of the recorded segments, signed with the site key (lib/custody). */
  readonly custody: CustodyRecorder;
  /** https://host:port of the local API (http:// with api.plainHttp), when served. */
  readonly url?: string;
  /** The self-signed local API certificate (PEM, its file, SHA-256 fingerprint), when the edge serves its own. */
  readonly apiCert?: { pem: string; file: string; fingerprint: string };
  /** The Prometheus scrape URL, when metrics.port is set. */
  readonly metricsUrl?: string;
  status(): EdgeStatus;
  /** Live hubs fed by the ingest, local live endpoints, uplinks to central (edge/live). */
  readonly live: EdgeLive;
  /** The ingest of one stream (tests: its pid, status). */
  ingest(cameraId: string, stream: StreamKind): StreamIngest | undefined;
  /** The federation uplink, when this edge is enrolled. */
  readonly uplink?: Uplink;
  /** Thumbnails + activity beside the preview stream's segments (edge/preview); absent when preview.enabled is false. */
  readonly preview?: EdgePreview;
  /** Their sync to central (when enrolled). */
  readonly previewSync?: PreviewSync;
  /** Position source and track (edge/position). */
  readonly position: EdgePosition;
  /** Vehicle inputs and the ignition-off behaviour (edge/vehicle). */
  readonly vehicle: Vehicle;
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
  /** Stopped on purpose while the vehicle is parked (edge/vehicle); unpark() starts it again. */
  private parked = false;

  constructor(
    readonly cfg: EdgeCameraConfig,
    private readonly startStream: (rt: CameraRuntime, cam: Camera, kind: StreamKind) => Promise<void>,
    private readonly log: Logger,
  ) {}

  /** Resolves the camera (ONVIF may be offline: retried with backoff) and starts its streams. */
  async start(): Promise<void> {
    if (this.stopped || this.parked) return;
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

  /** Stops the streams cleanly (open segments closed, gap "stopped" with `detail`) until unpark(). */
  async park(detail: string): Promise<void> {
    this.parked = true;
    if (this.retry) clearTimeout(this.retry);
    await Promise.all([...this.ingests.values()].map((i) => i.stop("stopped", detail)));
    this.ingests.clear();
  }

  async unpark(): Promise<void> {
    if (!this.parked) return;
    this.parked = false;
    this.retryMs = 2000;
    await this.start();
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
  // Before anything in the data dir is read or written (startEdgeLocked: stale GStreamer PIDs, keys,
  // custody chain, outbox, track journal, the index): a second edge on it is refused here, not
  // once DuckDB's own lock refuses it, after it killed the first's children (lib/lock).
  return startHoldingDataDir(config.dataDir, "edge", "stop", () => startEdgeLocked(config, deps));
}

async function startEdgeLocked(config: EdgeConfig, deps: EdgeDeps): Promise<Edge> {
  const clock = deps.clock ?? systemClock;
  // Warnings and errors also go to central's system log once the uplink exists (edge/events).
  const uplinkLogSink = new UplinkLogSink();
  const log = (deps.log ?? new Logger({ component: "edge", level: config.logLevel, ...(deps.logSink ? { sink: deps.logSink } : {}) })).tee(uplinkLogSink);
  const startedAt = clock.now();

  // Children of a previous run that outlived it (should not happen: pdeathsig) would hold
  // camera sessions and write nowhere.
  const pidPath = join(config.dataDir, "gst.pids");
  PidFile.killStale(pidPath, log);
  const pidFile = new PidFile(pidPath, log);
  await pidFile.save();

  const runtimes: CameraRuntime[] = [];
  const live = new EdgeLive({ clock, log, share: config.federation.share, hasStream: (id, kind) => !!runtimes.find((r) => r.cfg.id === id)?.ingests.has(kind) });
  let stopping = false;

  // Chain of custody: every committed segment is chained and signed with the site key (once enrolled).
  let signingIdentity: Identity | null = null;
  let signerOf: ((id: Identity | null) => Promise<CustodySigner | null>) | undefined; // edge/identity, loaded below
  let edgeEvents: EdgeEvents | undefined;
  // The store (crash recovery of a store left unclean), custody, position and previews. Native
  // sessions connect meanwhile (below): the RTSP handshake, the wait for a keyframe and the first
  // fragment overlap loading DuckDB, opening the index and recovery; deferredSink holds their
  // fragments, in order, until the store is open. The gstreamer engine's cameras start once it is
  // open: a held sink stops a pipeline's reads and its stall watchdog ended sessions ("no media
  // for 2000 ms" gaps instead of crash gaps in tests/crash.test.ts).
  const storeOpen = (async () => {
    const { MediaStore, fileSyncer, volumeSyncer } = await import("../lib/store/index.ts");
    startMark("store module loaded");
    return MediaStore.open({
      root: config.dataDir,
      clock,
      log: log.child({ component: "store" }),
      segmentDurationMs: config.storage.segmentDurationMs,
      ...(config.storage.maxTotalBytes !== undefined ? { maxTotalBytes: config.storage.maxTotalBytes } : {}),
      ...(config.storage.minFreeBytes !== undefined ? { minFreeBytes: config.storage.minFreeBytes } : {}),
      durabilityMs: config.storage.durabilityMs,
      // Each fsync (or the opt-in syncfs per tick for all streams) on a thread of its own, joined at
      // the next shared wake-up, not through Bun's thread pool (lib/store/sync-thread.ts).
      sync: { file: fileSyncer() ?? undefined, volume: config.storage.durabilitySync === "volume" ? volumeSyncer() : null },
    });
  })();
  const recording = (async () => {
    const store = await storeOpen;
    try {
      const [{ CustodyRecorder }, { EdgePosition }, { EdgePreview }] = await Promise.all([import("../federation/custody/recorder.ts"), import("./position/index.ts"), import("./preview/index.ts")]);
      const custody = await CustodyRecorder.attach(store, {
        clock,
        log: log.child({ component: "custody" }),
        signer: deps.custody?.signer ?? (() => (signerOf ? signerOf(signingIdentity) : null)),
        signEveryMs: config.storage.custodySignEveryMs,
      });
      // Position (gpsd → thinned track in the index; a box per committed segment).
      const position = await EdgePosition.start({ config: config.position, store, dataDir: config.dataDir, clock, log: log.child({ component: "position" }) });
      // Previews: from the sub stream where the camera records one (cheaper to decode), else main.
      const preview = config.preview.enabled
        ? new EdgePreview({
            store,
            clock,
            log: log.child({ component: "preview" }),
            everyMs: config.preview.everySeconds * 1000,
            width: config.preview.width,
            quality: config.preview.quality,
            decoderIdleMs: config.preview.decoderIdleSeconds * 1000,
            source: (id) => {
              const cam = config.cameras.find((c) => c.id === id);
              return !cam ? null : cam.streams.includes("sub") && (cam.onvif || cam.rtsp?.sub) ? "sub" : "main";
            },
            motion: async (id, from, to) =>
              ((await edgeEvents?.query({ cameraId: id, fromMs: from, toMs: to, limit: 10_000 })) ?? [])
                .filter((e) => e.kind === "motion")
                .map((e) => ({ atMs: e.atMs, active: e.data.active === true || e.data.state === "start" })),
          }).attach()
        : undefined;
      startMark("custody, position, previews ready");
      return { store, custody, position, preview };
    } catch (e) {
      await store.close().catch(() => undefined);
      throw e;
    }
  })();

  /** One start queue per RTSP server (host:port): its streams start staggerMs apart; different servers start at once. */
  const staggerChains = new Map<string, Promise<void>>();
  const ing = config.ingest;
  const readBatch = effectiveReadBatchMs(config);
  if (readBatch.lowered)
    log.warn("ingest.readBatchMs shortened: with this durability tick a crash could lose more than 1 s", {
      readBatchMs: ing.readBatchMs,
      durabilityMs: config.storage.durabilityMs,
      using: readBatch.ms,
      limit: `readBatchMs + durabilityMs ≤ ${LOSS_SHARE_MS}`,
    });
  // Streams of one RTSP server start one after another, staggerMs apart, in config order (also for
  // late ONVIF resolves): cameras dislike simultaneous joins. Streams of different cameras do not
  // queue behind each other — with 16 cameras the last one would start 4.5 s late after every restart.
  const startStream = (rt: CameraRuntime, cam: Camera, kind: StreamKind): Promise<void> => {
    const run = async () => {
      if (stopping) return;
      const ep = cam.streams[kind]!;
      const ingest = new StreamIngest({
        cameraId: cam.id,
        stream: kind,
        source: { url: ep.url, ...(ep.user !== undefined ? { user: ep.user } : {}), ...(ep.password !== undefined ? { password: ep.password } : {}) },
        // The writers record as soon as the store is open, not after custody, position and
        // previews attach (≈ 0.1–0.2 s at a start): custody and position catch up on commits
        // made before they observe (reconcile, boxMissed), and the first commit comes a whole
        // segment after the first fragment.
        sink: deferredSink(storeOpen.then((s) => s.writer(cam.id, kind)), clock),
        clock,
        log: log.child({ component: "ingest" }),
        stallTimeoutMs: ing.stallTimeoutMs,
        ...(ing.connectTimeoutMs !== undefined ? { connectTimeoutMs: ing.connectTimeoutMs } : {}),
        backoff: { initialMs: ing.backoffInitialMs, maxMs: ing.backoffMaxMs, stableMs: ing.stableMs },
        latencyMs: ing.latencyMs,
        readBatchMs: readBatch.ms,
        engine: ing.engine,
        pidFile,
        onFragment: live.feed(cam.id, kind),
        onEnd: live.ended(cam.id, kind),
      });
      rt.ingests.set(kind, ingest);
      ingest.start();
      await Bun.sleep(ing.staggerMs);
    };
    const server = rtspServerOf(cam.streams[kind]!.url);
    const p = (staggerChains.get(server) ?? Promise.resolve()).then(run);
    staggerChains.set(server, p.catch(() => undefined));
    return p;
  };

  const startCameras = () => {
    for (const cfg of config.cameras) {
      const rt = new CameraRuntime(cfg, startStream, log.child({ camera: cfg.id }));
      runtimes.push(rt);
      if (cfg.enabled) void rt.start();
    }
  };
  // A native session reads its socket whatever the sink does (fragments are handed over, not
  // awaited), so it can start before the store is open.
  const beforeStoreOpen = ing.engine === "native";
  let opened: Awaited<typeof recording>;
  try {
    if (beforeStoreOpen) startCameras();
    opened = await recording;
    if (!beforeStoreOpen) startCameras();
  } catch (e) {
    // The store refused to open (e.g. minFreeBytes larger than the volume): no stream keeps running.
    stopping = true;
    await Promise.all(runtimes.map((r) => r.stop()));
    live.close();
    throw e;
  }
  const { store, custody, position, preview } = opened;

  // Recording runs: now what it does not need (federation, events, vehicle inputs, API, web, metrics),
  // one module at a time with a turn of the event loop between: loading them all at once blocked
  // this thread long enough (seconds on a loaded box) for the ingest watchdogs to take recording
  // streams for stalled (tests/crash.test.ts saw "no media for 2000 ms" gaps).
  let loading: Promise<unknown> = Promise.resolve();
  const next = <T>(load: () => Promise<T>): Promise<T> => {
    const p = loading.then(() => new Promise((r) => setImmediate(r))).then(load);
    loading = p.catch(() => undefined);
    return p;
  };
  // Optional features' modules load only when the feature is on: a recorder that is not enrolled,
  // serves no API and exports no metrics holds no PKI, MQTT, HTTP or Prometheus code (~20 MB
  // resident of a ~80 MB idle edge, measured; docs/design/memory.md).
  const enrolled = (await readMeta(config.dataDir)) !== null;
  const apiOn = config.api.enabled && deps.serveApi !== false;
  const fed: FederationModules | undefined = enrolled
    ? {
        // rotate.ts and signer.ts, not the folder's index: enrolling (enroll.ts) is not the recorder's job.
        identity: await next(() => import("./identity/rotate.ts")),
        signer: await next(() => import("./identity/signer.ts")),
        uplink: await next(() => import("./uplink/index.ts")),
        transfer: await next(() => import("./transfer/index.ts")),
        reach: await next(() => import("./reach/index.ts")),
      }
    : undefined;
  const { startEdgeEvents } = await next(() => import("./events/index.ts"));
  const { PreviewSync } = await next(() => import("./preview/index.ts"));
  const { Vehicle, onvifInputRoute, startInputSources } = await next(() => import("./vehicle/index.ts"));
  if (fed) signerOf = fed.signer.signerCache();

  const streamHealth = (s: StreamStatus): StreamHealth => withWriter(s, store.writerStatus(s.cameraId, s.stream));
  // Clock trust: no host-clock step in the last 10 minutes, and (when enrolled) central's
  // offset estimate agrees. Footage recorded while untrusted may be filed at the wrong time.
  const clockHealth = () => {
    const central = uplink?.status().clock ?? null;
    const last = store.clockSteps.at(-1);
    const stepRecent = !!last && clock.now() - last.atMs < 600_000;
    return {
      trusted: !stepRecent && (central ? central.trusted : true),
      offsetToCentralMs: central?.offsetMs ?? null,
      reference: central ? "central" : "none",
      ...(last ? { lastStep: { at: iso(last.atMs), stepMs: last.stepMs } } : {}),
    };
  };
  const allStreamHealth = () => runtimes.flatMap((r) => r.status(clock).streams.map(streamHealth));
  // Full: some stream's fragments are refused for lack of space (or the volume is below half the floor).
  const diskFull = (streams: StreamHealth[], u: { volumeFreeBytes: number }) => streams.some((s) => s.writer.state === "disk-full") || (store.minFreeBytes > 0 && u.volumeFreeBytes < store.minFreeBytes / 2);

  // Desired config from central (applied by the uplink) overlays the file's retention.
  let desired: DesiredConfig | null = null;
  // Transfers to central (edge/transfer): uploads within link profiles; `central-only` cameras keep a rolling buffer.
  let transfer: EdgeTransferHandle | undefined;
  let vehicleState: () => VehicleState = () => "running"; // until the vehicle below exists
  let vehicleRef: Vehicle | undefined;
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
  let identity = fed ? await fed.identity.loadIdentity(config.dataDir) : null;
  signingIdentity = identity;
  // One "central reachable again" signal for MQTT, transfers and live (edge/reach).
  const reach = identity && fed ? new fed.reach.Reachability({ url: () => identity!.federationUrl, log: log.child({ component: "reach" }) }) : undefined;
  const makeUplink = (m: FederationModules, identity: Identity) =>
    m.uplink.startUplink({
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
            // Central sees "not-writing" too, never "recording" while the disk refuses fragments.
            streams: st.streams.map(streamHealth).map((x) => ({ kind: x.stream, state: x.state, ...(x.detail && x.state !== "recording" ? { detail: x.detail } : {}), bitrateKbps: x.bitrateKbps, fps: x.fps, ...(x.codec ? { codec: x.codec } : {}), ...(x.width ? { width: x.width } : {}), ...(x.height ? { height: x.height } : {}) })),
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
      ...(config.position.share ? { track: { after: (wm: number, limit: number) => position.track.after(wm, limit) } } : {}),
    });
  const makeTransfer = (m: FederationModules, id: Identity) =>
    m.transfer.startEdgeTransfer({
      dataDir: config.dataDir,
      store,
      federationUrl: id.federationUrl,
      tls: { ca: id.caPem, cert: id.certPem, key: id.keyPem },
      policy: () => desired?.policy ?? null,
      link: transfer?.link ?? config.federation.link,
      clock,
      log: log.child({ component: "transfer" }),
      reach,
      vehicle: () => vehicleState(),
    });
  // Previews go to central once enrolled: newest first, in the transfer engine's preview class.
  let previewSync: PreviewSync | undefined;
  if (identity && preview) {
    const share = config.federation.share;
    previewSync = new PreviewSync({
      root: store.root,
      dataDir: config.dataDir,
      sender: () => transfer?.engine,
      shared: (id) => share.includes("*") || share.includes(id),
      clock,
      log: log.child({ component: "preview.sync" }),
    });
    await previewSync.start();
    preview.onPreview((m) => previewSync!.add(m.path));
    reach?.onUp(() => previewSync?.poke());
  }
  if (identity && fed) {
    transfer = await makeTransfer(fed, identity);
    uplink = await makeUplink(fed, identity);
    // Live uplinks dial central's federation listener with the current identity (it rotates).
    live.setUplinkTarget({ url: () => identity!.federationUrl, tls: () => ({ ca: identity!.caPem, cert: identity!.certPem, key: identity!.keyPem }), ...(reach ? { reach } : {}) });
    renewal = fed.identity.startRenewal(config.dataDir, {
      clock,
      log: log.child({ component: "identity" }),
      onRotated: async (next) => {
        identity = next;
        signingIdentity = next;
        // The old certificate is refused once the new one is confirmed: reconnect with the new one.
        await uplink?.stop();
        const prev = transfer;
        await prev?.stop();
        transfer = await makeTransfer(fed, next);
        uplink = await makeUplink(fed, next);
        log.info("certificate rotated; federation reconnected", { serial: next.serial, notAfter: next.notAfter });
      },
    });
  } else log.info("not enrolled with a central: federation off (outpost edge enroll --data <dataDir>)");
  if (identity) uplinkLogSink.attach(() => uplink);
  else uplinkLogSink.detach();
  // Events (ONVIF, camera online/offline, disk): local event log + the uplink's outbox.
  const events: EdgeEvents = (edgeEvents = await startEdgeEvents({
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
      const u = await store.volumeUsage();
      const refused = runtimes.some((r) => r.status(clock).streams.some((s) => store.writerStatus(s.cameraId, s.stream).state === "disk-full"));
      return { full: refused || (store.minFreeBytes > 0 && u.volumeFreeBytes < store.minFreeBytes / 2), freeBytes: u.volumeFreeBytes, totalBytes: u.volumeTotalBytes };
    },
    // Cameras' digital inputs named in vehicle.onvifInputs are vehicle inputs.
    routeInput: onvifInputRoute(config.vehicle.onvifInputs, () => vehicleRef, log.child({ component: "vehicle" })),
    ...deps.events,
  }));

  // Vehicle inputs → events; ignition off → cameras stop after recordAfterOffMs ("parked").
  // Central hears of a state change with the next work poll, at once (depot offload).
  vehicleState = () => vehicle.state;
  const vehicle = new Vehicle({
    onState: () => transfer?.vehicleChanged(),
    config: config.vehicle,
    clock,
    log: log.child({ component: "vehicle" }),
    emit: (e) => events.emit(e),
    park: async (why) => {
      await Promise.all(runtimes.filter((r) => r.cfg.enabled).map((r) => r.park(why)));
      await position.track.flush().catch((e) => log.warn("track not flushed at parking", { err: e as Error }));
    },
    unpark: async () => {
      for (const r of runtimes) if (r.cfg.enabled) void r.unpark();
    },
  });

  vehicleRef = vehicle;
  // Inputs from MQTT, GPIO lines (and cameras' digital inputs, above) besides POST /api/v1/inputs.
  const inputSources = startInputSources(config.vehicle, vehicle, { clock, log });

  // The live position for central's map (droppable telemetry; the track itself is synced in chunks).
  const stopReport = config.position.share
    ? position.report(config.position.reportEveryMs, (atMs, data) => uplink?.telemetry({ kind: "position", atMs, data }) ?? Promise.resolve(false), () => ({ vehicle: vehicle.state }))
    : () => undefined;

  let server: ReturnType<typeof Bun.serve> | undefined;
  let url: string | undefined;
  let apiCert: Edge["apiCert"];
  // The API's certificate and key, when it serves TLS: the metrics listener reuses them off loopback.
  let apiTls: { cert: string; key: string } | undefined;
  if (apiOn) {
    const api = await loadApi(log);
    if (api) {
      const { technicianView } = await next(() => import("./technician/index.ts"));
      const { requireSession } = await next(() => import("../lib/auth/index.ts"));
      const { websocket: honoWebsocket } = await next(() => import("hono/bun"));
      const { mountWeb } = await next(() => import("../web/serve.ts"));
      const { API_IDLE_TIMEOUT_S, readTlsFiles, warnPlainHttp, urlHost, localHost } = await next(() => import("../lib/http/https.ts"));
      const { loadOrCreateApiCert } = await next(() => import("./api/tls.ts"));
      const { mountTransfers } = await next(() => import("./transfer/routes.ts"));
      if (!config.admin.passwordHash) {
        log.warn(
          config.demo
            ? "demo edge without admin.passwordHash: local login disabled"
            : "no admin.passwordHash configured: local API login is disabled. Set admin.passwordHash to an argon2id hash, e.g. bun -e 'console.log(await Bun.password.hash(process.argv[1], \"argon2id\"))' 'your-password'",
        );
      }
      const app = api.createEdgeApi({
        store,
        cameras: () => runtimes.map((r) => toCameraView(r.status(clock), streamHealth)),
        config: {
          ...(config.admin.passwordHash ? { admin: { user: config.admin.user, passwordHash: config.admin.passwordHash } } : {}),
          maxLockWindowMs: config.storage.maxLockWindowHours * HOUR,
        },
        log: log.child({ component: "api" }),
        clock,
        dataDir: config.dataDir,
        evidence: async (q: EvidenceQuery) => {
          const siteId = deps.custody?.siteId ?? signingIdentity?.siteId ?? "not-enrolled";
          const { evidencePackage, unknownRevocations } = await import("../federation/custody/index.ts");
          const r = await evidencePackage({
            store,
            custody,
            siteId,
            caPem: deps.custody?.caPem ?? signingIdentity?.caPem ?? "",
            // The edge holds no CA key: the list says revocation is unknown (central's export signs one).
            revocations: unknownRevocations(clock.now(), "edge: no revocation information (an export at central carries the CA's list)"),
            cameraId: q.cameraId,
            stream: q.stream,
            fromMs: q.fromMs,
            toMs: q.toMs,
            footagePath: q.footagePath,
            audit: { exportedBy: q.exportedBy, exportedAtMs: clock.now(), exportedAt: `edge ${siteId} (${config.name})`, records: [{ action: "export.package", export: q.exportId, user: q.exportedBy, at: iso(clock.now()) }] },
            // The vehicle's track of the window: position.json + WebVMT/GPX sidecars.
            track: await position.track.around(q.fromMs, q.toMs),
            nowMs: clock.now(),
          });
          return { zip: r.zip, sha256: r.sha256 };
        },
        health: async () => {
          const streams = allStreamHealth();
          const u = await store.usage();
          const full = diskFull(streams, u);
          // technician: storage horizon, the link to central, version and firmware slot (edge/technician).
          const technician = await technicianView({
            clock,
            dataDir: config.dataDir,
            cameraIds: () => config.cameras.map((c) => c.id),
            store,
            retention: policyOf,
            maxTotalBytes: config.storage.maxTotalBytes,
            minFreeBytes: store.minFreeBytes,
            identity: () => (identity ? { siteId: identity.siteId, notAfterMs: identity.notAfter } : null),
            uplink: () => uplink?.status() ?? null,
          });
          return { name: config.name, time: iso(clock.now()), startedAt: iso(startedAt), clock: clockHealth(), disk: { ...u, full, writable: !full }, streams, ...technician };
        },
      });
      const parts = app as { app?: Hono; sessions?: Sessions };
      if (parts.app && parts.sessions) live.mount(parts.app, requireSession(parts.sessions) as never, parts.sessions);
      if (parts.app && parts.sessions) events.mount(parts.app, requireSession(parts.sessions) as never);
      if (parts.app && parts.sessions) vehicle.mount(parts.app, requireSession(parts.sessions) as never);
      if (parts.app && parts.sessions) position.mount(parts.app, requireSession(parts.sessions) as never);
      if (parts.app && parts.sessions) mountTransfers(parts.app, requireSession(parts.sessions) as never, () => transfer?.status() ?? null);
      // the reduced web client for on-site use; last, because its page fallback answers every GET outside /api/
      if (parts.app) mountWeb(parts.app, { role: "edge" });
      // The OpenAPI document lists every route the assembled app serves, or the edge does not start.
      const drift = parts.app ? api.routeDrift(parts.app) : null;
      if (drift && (drift.undocumented.length || drift.unserved.length)) throw new Error(`edge API routes and OpenAPI document differ: undocumented ${drift.undocumented.join(", ") || "none"}; unserved ${drift.unserved.join(", ") || "none"}`);
      // HTTPS by default: the admin's files, else the edge's own self-signed certificate (edge/api/tls.ts).
      let tls: { cert: string; key: string } | undefined;
      if (config.api.tls) tls = await readTlsFiles(config.api.tls);
      else if (!config.api.plainHttp) {
        const own = await loadOrCreateApiCert(config.dataDir, config.api.serverNames, clock.now(), log.child({ component: "api.tls" }));
        tls = own;
        apiCert = { pem: own.cert, file: own.certFile, fingerprint: own.fingerprint };
      }
      apiTls = tls;
      server = Bun.serve({
        hostname: config.api.host,
        port: config.api.port,
        fetch: app.fetch,
        websocket: api.websocket ?? honoWebsocket,
        idleTimeout: API_IDLE_TIMEOUT_S,
        ...(tls ? { tls } : {}),
      } as Parameters<typeof Bun.serve>[0]);
      url = `${tls ? "https" : "http"}://${urlHost(localHost(config.api.host))}:${server.port}`;
      if (!tls) warnPlainHttp(log, "the edge's local API", url);
      log.info("edge API listening", { url, ...(apiCert ? { certificate: apiCert.file, fingerprint: `sha256:${apiCert.fingerprint}` } : {}) });
    }
  }

  let metrics: MetricsListener | undefined;
  if (config.metrics.port !== null) {
    const { startMetricsListener } = await next(() => import("../lib/metrics/index.ts"));
    const { edgeMetrics } = await next(() => import("./metrics/index.ts"));
    const registry = edgeMetrics({
      name: config.name,
      clock,
      streams: allStreamHealth,
      usage: () => store.volumeUsage(),
      footage: () => store.cameras(),
      diskFull,
      uplink: () => uplink?.status() ?? null,
      transfer: () => transfer?.status() ?? null,
      certificateNotAfterMs: () => identity?.notAfter ?? null,
    });
    metrics = await startMetricsListener({ config: { ...config.metrics, port: config.metrics.port }, registry, ...(apiTls ? { tls: apiTls } : {}), log: log.child({ component: "metrics" }) });
  }

  if (!config.cameras.some((c) => c.enabled)) log.warn("no camera configured (or all disabled): this recorder records nothing; add cameras to its config", { dataDir: config.dataDir });
  log.info("edge recorder started", { cameras: config.cameras.filter((c) => c.enabled).length, dataDir: config.dataDir });

  let stopped: Promise<void> | undefined;
  return {
    config,
    store,
    custody,
    get url() {
      return url;
    },
    get apiCert() {
      return apiCert;
    },
    ...(metrics ? { metricsUrl: metrics.url } : {}),
    status,
    live,
    position,
    vehicle,
    ingest: (cameraId, stream) => runtimes.find((r) => r.cfg.id === cameraId)?.ingests.get(stream),
    // A getter: the uplink is replaced when the certificate rotates.
    get uplink() {
      return uplink;
    },
    preview,
    previewSync,
    runRetention,
    stop: () =>
      (stopped ??= (async () => {
        stopping = true;
        vehicle.close();
        await inputSources.stop();
        stopReport();
        clearInterval(retentionTimer);
        server?.stop(true);
        await metrics?.close();
        live.close();
        renewal?.stop();
        await events.stop();
        uplinkLogSink.detach();
        await Promise.all(runtimes.map((r) => r.stop()));
        await position.stop();
        await retentionBusy?.catch(() => undefined);
        await previewSync?.stop();
        await transfer?.stop();
        await uplink?.stop();
        reach?.stop();
        // The last segments commit (custody and position observe them) while the index is open:
        // position stores their boxes and stops writing the index before it closes.
        await store.endSessions();
        await position.close().catch((e) => log.warn("track not closed cleanly (the journal has it)", { err: e as Error }));
        await store.close();
        await custody.idle();
        await preview?.close();
        custody.close();
        log.info("edge recorder stopped");
      })()),
  };
}

/** What the edge API asks of evidence (edge/api/types.ts EdgeApiDeps.evidence). */
/** What an enrolled edge loads for federation (edge/identity, edge/uplink, edge/transfer, edge/reach). */
interface FederationModules {
  identity: typeof import("./identity/rotate.ts");
  signer: typeof import("./identity/signer.ts");
  uplink: typeof import("./uplink/index.ts");
  transfer: typeof import("./transfer/index.ts");
  reach: typeof import("./reach/index.ts");
}

type EvidenceQuery = { cameraId: string; stream: StreamKind; fromMs: number; toMs: number; footagePath: string; exportedBy: string; exportId: string };

interface ApiModule {
  createEdgeApi(deps: unknown): { fetch: (req: Request, server?: unknown) => Response | Promise<Response> };
  websocket?: unknown;
  routeDrift(app: { routes: { method: string; path: string }[] }): { undocumented: string[]; unserved: string[] };
}

async function loadApi(_log: Logger): Promise<ApiModule | undefined> {
  // A literal specifier, so `bun build --compile` (the appliance) bundles the API too.
  return (await import("./api/index.ts")) as unknown as ApiModule;
}

/** Ingest status → the API's camera view (edge/api/types.ts CameraView). */
function toCameraView(
  c: CameraStatus,
  health: (s: StreamStatus) => StreamHealth,
): {
  id: string;
  name: string;
  streams: {
    stream: StreamKind;
    status: "connecting" | "recording" | "not-writing" | "stalled" | "failed" | "disabled";
    reason?: string;
    sinceMs?: number;
    codec?: string;
    width?: number;
    height?: number;
    writerLagMs?: number;
    audio?: { codec: string; recorded: boolean; detail?: string; state?: "ok" | "missing"; missingMs?: number };
  }[];
} {
  return {
    id: c.id,
    name: c.name,
    streams: c.streams.map(health).map((s) => ({
      stream: s.stream,
      status: !c.enabled || s.state === "stopped" ? "disabled" : s.state === "backoff" ? "failed" : s.state,
      ...(s.state === "not-writing" ? { reason: `${s.writer.state}: ${s.detail}` } : s.reason ? { reason: s.detail ? `${s.reason}: ${s.detail}` : s.reason } : {}),
      writerLagMs: s.writer.lagMs,
      sinceMs: Date.parse(s.since),
      ...(s.codec ? { codec: s.codec } : {}),
      ...(s.width ? { width: s.width } : {}),
      ...(s.height ? { height: s.height } : {}),
      // The camera's audio track (ingest: codec, recorded or why not) and whether it keeps arriving (store writer).
      ...(s.audio || s.writer.audio
        ? {
            audio: {
              codec: s.audio ?? s.writer.audio!.codec,
              recorded: s.audioRecorded ?? !!s.writer.audio,
              ...(s.audioDetail ? { detail: s.audioDetail } : {}),
              ...(s.writer.audio ? { state: s.writer.audio.state, missingMs: s.writer.audio.missingMs } : {}),
            },
          }
        : {}),
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
  startMark("edge module loaded");
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
  startMark("config loaded");
  // Listening for SIGTERM/SIGINT from here: the edge records before startEdge has loaded the rest,
  // and a stop asked for in that window still stops it cleanly (segments closed, CLEAN written).
  const signalled = untilSignal();
  let edge: Edge;
  try {
    edge = await startEdge(config);
  } catch (e) {
    // An operator mistake the store refuses (e.g. storage.minFreeBytes larger than the volume): say it, exit 2.
    if ((e as Error).name === "StoreInputError") throw new CliError(`${file}: storage: ${(e as Error).message}`, 2);
    throw e;
  }
  const sig = await signalled;
  console.error(`outpost edge: ${sig}, stopping`);
  await edge.stop();
  return 0;
}

/** host:port of an RTSP URL (the stagger queue key); the URL itself when it does not parse. */
function rtspServerOf(url: string): string {
  try {
    const u = new URL(url);
    return `${u.hostname}:${u.port || "554"}`;
  } catch {
    return url;
  }
}
