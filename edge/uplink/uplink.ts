/**
 * startUplink: the edge's control-plane client. Wires the outbox, the MQTT link, the sender
 * (hello → central's ack → window of QoS 1 publishes, resend from the oldest unacknowledged
 * after a reconnect, an ack timeout or central asking for it), index sync, device tree, health and the control
 * subscribers. Share filter: a camera not in `share` never appears in any message.
 */
import { join } from "node:path";
import { systemClock, type Clock } from "../../lib/clock.ts";
import { createLogger, type Logger } from "../../lib/log/index.ts";
import type { MediaStore, RetentionPolicy, StreamKind } from "../../lib/store/index.ts";
import { Ack, parseMessage, topics, type UpBody } from "../../federation/protocol/index.ts";
import { Outbox } from "./outbox.ts";
import { Link } from "./link.ts";
import { IndexSync } from "./sync.ts";
import { TrackSync, type TrackSource } from "./track-sync.ts";
import { CommandRunner, ConfigSubscriber, type AppliedConfig, type ApplyConfig, type CommandHandler } from "./control.ts";
import { coalesced, Serial } from "./state.ts";
import type { Reachability } from "../reach/index.ts";

export interface UplinkStream {
  kind: StreamKind;
  codec?: string;
  width?: number;
  height?: number;
  /** e.g. recording | backoff | failed | stopped */
  state: string;
  /** Why it is not recording, in the edge's words. */
  detail?: string;
  bitrateKbps: number;
  fps: number;
}

export interface UplinkCamera {
  id: string;
  name: string;
  enabled: boolean;
  streams: UplinkStream[];
}

export interface UplinkIdentity {
  siteId: string;
  caPem: string;
  certPem: string;
  keyPem: string;
  /** From enrollment; `mqttUrl` in UplinkDeps overrides it (external broker). */
  mqttUrl: string;
  notAfter?: number;
}

export interface UplinkDeps {
  /** Uplink state (outbox, watermarks, config, commands) goes to <dataDir>/uplink/. */
  dataDir: string;
  identity: UplinkIdentity;
  /** External broker URL (mqtts://…); default identity.mqttUrl. */
  mqttUrl?: string;
  store: MediaStore;
  /** Configured cameras with live stream status (unshared ones are filtered here). */
  cameras: () => UplinkCamera[];
  /** Camera ids central may see; ["*"] = all; [] (default) = none. */
  share?: string[];
  retention?: (cameraId: string) => RetentionPolicy;
  /** Apply a desired config; throw with a sentence to reject it. */
  applyConfig?: ApplyConfig;
  commands?: Record<string, CommandHandler>;
  link?: () => { type: string; quality: number | null };
  clockStatus?: () => { offsetMs: number | null; trusted: boolean };
  softwareVersion?: string;
  clock?: Clock;
  log?: Logger;
  /**
   * syncMs: index sync safety-net period (the sync runs on every index change, see
   * MediaStore.observeIndex, batched over syncDebounceMs; the timer only catches what no change
   * announced).
   */
  intervals?: { syncMs?: number; syncDebounceMs?: number; digestMs?: number; healthMs?: number; treeMs?: number; ackTimeoutMs?: number; helloTimeoutMs?: number };
  outboxMaxBytes?: number;
  /** Unacknowledged messages on the wire at once. */
  window?: number;
  backoff?: { minMs?: number; maxMs?: number };
  /** Shared "central reachable again" probe (edge/reach): reconnect at once when the link returns. */
  reach?: Reachability;
  /** The kept position track (edge/position), synced in chunks like the index; absent = no track to send. */
  track?: TrackSource & { chunkPoints?: number; chunkMs?: number };
}

export interface EdgeEvent {
  eventId?: string;
  cameraId?: string;
  kind: string;
  atMs?: number;
  data?: Record<string, unknown>;
}

export interface TelemetryPoint {
  /** e.g. "gps", "log", "vehicle" */
  kind: string;
  cameraId?: string;
  atMs?: number;
  data: Record<string, unknown>;
}

export interface UplinkStatus {
  connected: boolean;
  connects: number;
  outbox: { id: string; pending: number; bytes: number; dropped: number; acked: number; lastSeq: number };
  config: { appliedVersion: number | null; rejected: { version: number; reason: string } | null };
  /** This host's clock against central's (NTP-style estimate over the ack round trip). */
  clock: { offsetMs: number | null; trusted: boolean };
  /** When central last acknowledged outbox messages (ms since epoch), null = not since start. */
  lastAckMs: number | null;
  /** Why the link last failed (e.g. a refused certificate), null = no failure since start. */
  lastError: { reason: string; atMs: number } | null;
}

export interface Uplink {
  /** Durable once resolved (true); false when the event's camera is not shared (nothing is sent). */
  event(e: EdgeEvent): Promise<boolean>;
  /** Droppable (oldest first when the outbox is full): GPS points, log lines, counters. */
  telemetry(t: TelemetryPoint): Promise<boolean>;
  /** A LogSink-compatible forwarder: records at or above `level` go to central as telemetry kind "log". */
  logForwarder(level?: "info" | "warn" | "error"): { write(rec: { level: string; [k: string]: unknown }): void };
  status(): UplinkStatus;
  /** Run index sync, tree and health now (tests, after a burst); also sends the track's partial chunk. */
  syncNow(): Promise<void>;
  /** Track messages handed to the outbox so far (payload bytes, chunks): the link cost of the track. */
  trackStats(): { bytes: number; chunks: number };
  digestNow(): Promise<void>;
  readonly appliedConfig: AppliedConfig | null;
  readonly outbox: Outbox;
  stop(): Promise<void>;
}

export async function startUplink(deps: UplinkDeps): Promise<Uplink> {
  const clock = deps.clock ?? systemClock;
  const log = deps.log ?? createLogger("edge.uplink");
  const dir = join(deps.dataDir, "uplink");
  const iv = { syncMs: 60_000, syncDebounceMs: 200, digestMs: 300_000, healthMs: 30_000, treeMs: 1000, ackTimeoutMs: 10_000, helloTimeoutMs: 2000, ...deps.intervals };
  const share = new Set(deps.share ?? []);
  const shared = (id: string) => share.has("*") || share.has(id);
  const siteId = deps.identity.siteId;
  const outbox = await Outbox.open({ dir: join(dir, "outbox"), clock, log: log.child({ component: "edge.outbox" }), maxBytes: deps.outboxMaxBytes });
  const sync = new IndexSync({ dir, store: deps.store, outbox, clock, log, shared, retention: deps.retention });
  await sync.load();
  const trackSync = deps.track ? new TrackSync({ dir, outbox, clock, source: deps.track, ...(deps.track.chunkPoints ? { chunkPoints: deps.track.chunkPoints } : {}), ...(deps.track.chunkMs ? { chunkMs: deps.track.chunkMs } : {}) }) : undefined;
  await trackSync?.load();
  const serial = new Serial();
  let healthMs = iv.healthMs;

  const config = new ConfigSubscriber({
    dir,
    outbox,
    log,
    apply: deps.applyConfig,
    knownCamera: (id) => shared(id) && deps.cameras().some((c) => c.id === id),
    onApplied: (a) => {
      if (a.config.healthIntervalMs && a.config.healthIntervalMs !== healthMs) {
        healthMs = a.config.healthIntervalMs;
        restartHealthTimer();
      }
    },
  });
  const commands = new CommandRunner({
    dir,
    outbox,
    clock,
    log,
    handlers: {
      ping: () => ({ pong: clock.now() }),
      "sync-now": async () => {
        await serial.run(() => sync.tick());
        return null;
      },
      _resync: async (a) => {
        const stream = a.stream === "sub" ? "sub" : "main";
        if (typeof a.cameraId !== "string" || typeof a.fromMs !== "number" || typeof a.toMs !== "number") throw new Error("cameraId, fromMs and toMs are required");
        await serial.run(() => sync.resync(a.cameraId as string, stream, a.fromMs as number, a.toMs as number));
      },
      ...deps.commands,
    },
  });
  await config.load();
  await commands.load();

  // --- sender -------------------------------------------------------------------------
  const window = deps.window ?? 1024;
  let sentThrough = outbox.ackedSeq;
  let helloPending = false;
  let lastProgress = clock.now();
  let helloTimer: ReturnType<typeof setTimeout> | null = null;
  const upTopic = topics.up(siteId);

  const pump = () => {
    if (!link.connected || helloPending) return;
    const acked = outbox.ackedSeq;
    if (sentThrough < acked) sentThrough = acked;
    while (sentThrough - acked < window) {
      const batch = outbox.after(sentThrough, Math.min(64, window - (sentThrough - acked)));
      if (!batch.length) break;
      for (const e of batch) {
        if (!link.publish(upTopic, e.payload)) return;
        sentThrough = e.seq;
        sentAt.set(e.seq, clock.now());
        if (sentAt.size > 1024) sentAt.delete(sentAt.keys().next().value!);
      }
    }
  };
  outbox.onAppend = pump;

  const sentAt = new Map<number, number>();
  let clockEstimate: { offsetMs: number; rtt: number; at: number } | null = null;
  // Central's clock is the reference; an estimate from a round trip under 1 s within the
  // last 10 minutes is trusted when the offset it finds is under 2 s.
  const clockStatus = (): { offsetMs: number | null; trusted: boolean } =>
    deps.clockStatus?.() ??
    (clockEstimate
      ? { offsetMs: clockEstimate.offsetMs, trusted: clockEstimate.rtt < 1000 && clock.now() - clockEstimate.at < 600_000 && Math.abs(clockEstimate.offsetMs) < 2000 }
      : { offsetMs: null, trusted: false });
  let lastAckMs: number | null = null;
  const onAck = (payload: Buffer) => {
    const p = parseMessage(Ack, payload);
    if (!p.ok) return log.warn("ack ignored", { reason: p.reason });
    if (p.msg.ob !== outbox.id) return;
    // NTP-style estimate: central's time at the ack vs the midpoint of our send and receive.
    const t0 = sentAt.get(p.msg.upTo);
    if (t0 !== undefined && p.msg.centralAt !== undefined) {
      const t3 = clock.now();
      const rtt = t3 - t0;
      if (rtt >= 0 && rtt < 10_000 && (clockEstimate === null || rtt <= clockEstimate.rtt * 2 || t3 - clockEstimate.at > 300_000)) {
        clockEstimate = { offsetMs: Math.round(p.msg.centralAt - (t0 + t3) / 2), rtt, at: t3 };
      }
    }
    if (p.msg.upTo > outbox.ackedSeq) lastProgress = clock.now();
    lastAckMs = clock.now();
    outbox.ack(p.msg.upTo);
    if (p.msg.upTo > sentThrough) sentThrough = Math.min(p.msg.upTo, outbox.stats().lastSeq);
    if (helloPending) {
      helloPending = false;
      if (helloTimer) clearTimeout(helloTimer);
    } else if (p.msg.resend) {
      // Central (re)subscribed to the broker or found a gap: what we sent since its watermark may
      // not have reached it. From the oldest unacknowledged now, not at the ack timeout.
      log.info("central asks for a re-send; resending from the oldest unacknowledged", { acked: outbox.ackedSeq, sentThrough });
      sentThrough = outbox.ackedSeq;
      lastProgress = clock.now();
    }
    pump();
  };

  const link = new Link({
    url: deps.mqttUrl ?? deps.identity.mqttUrl,
    clientId: siteId,
    tls: { ca: deps.identity.caPem, cert: deps.identity.certPem, key: deps.identity.keyPem },
    log: log.child({ component: "edge.link" }),
    subscriptions: [topics.ack(siteId), topics.config(siteId), topics.command(siteId)],
    backoffMinMs: deps.backoff?.minMs,
    backoffMaxMs: deps.backoff?.maxMs,
    reach: deps.reach,
    onMessage(topic, payload) {
      if (topic === topics.ack(siteId)) onAck(payload);
      else if (topic === topics.config(siteId)) void config.handle(payload).catch((e) => log.error("config handling failed", { err: e as Error }));
      else if (topic === topics.command(siteId)) void commands.handle(payload).catch((e) => log.error("command handling failed", { err: e as Error }));
    },
    onConnect() {
      sentThrough = outbox.ackedSeq;
      helloPending = true;
      lastProgress = clock.now();
      const s = outbox.stats();
      link.publish(topics.hello(siteId), JSON.stringify({ v: 1, ob: outbox.id, firstSeq: s.firstSeq, lastSeq: s.lastSeq, software: deps.softwareVersion ?? "dev" }));
      // Central answers hello with its ack watermark; an old central that does not is not waited for long.
      helloTimer = setTimeout(() => {
        helloPending = false;
        pump();
      }, iv.helloTimeoutMs);
    },
    onDisconnect() {
      helloPending = false;
      if (helloTimer) clearTimeout(helloTimer);
      sentThrough = outbox.ackedSeq;
    },
  });

  // --- tree and health ------------------------------------------------------------------
  let lastTree = "";
  let lastStates = "";
  const tree = (): UpBody<"tree"> => ({
    cameras: deps
      .cameras()
      .filter((c) => shared(c.id))
      .map((c) => ({
        id: c.id,
        name: c.name,
        enabled: c.enabled,
        streams: c.streams.map((s) => ({ kind: s.kind, status: s.state, ...(s.codec ? { codec: s.codec } : {}), ...(s.width ? { width: s.width } : {}), ...(s.height ? { height: s.height } : {}) })),
      })),
  });
  const health = async (): Promise<UpBody<"health">> => {
    const u = await deps.store.volumeUsage(); // no per-camera GROUP BY every health interval
    const o = outbox.stats();
    const notAfter = deps.identity.notAfter;
    return {
      disk: { totalBytes: u.volumeTotalBytes, freeBytes: u.volumeFreeBytes, storeBytes: u.totalBytes },
      streams: deps
        .cameras()
        .filter((c) => shared(c.id))
        .flatMap((c) => c.streams.map((s) => ({ cameraId: c.id, stream: s.kind, state: s.state, ...(s.detail ? { detail: s.detail.slice(0, 500) } : {}), bitrateKbps: s.bitrateKbps, fps: s.fps }))),
      link: deps.link?.() ?? { type: "unknown", quality: null },
      clock: clockStatus(),
      cert: { notAfter: notAfter ? new Date(notAfter).toISOString() : null, daysLeft: notAfter ? Math.floor((notAfter - clock.now()) / 86_400_000) : null },
      software: { version: deps.softwareVersion ?? "dev" },
      outbox: { pending: o.pending, bytes: o.bytes, dropped: o.dropped },
      config: { appliedVersion: config.applied?.version ?? null },
    };
  };
  const sendHealth = async () => {
    await outbox.append("health", await health());
  };
  const treeTick = async () => {
    const t = tree();
    const h = JSON.stringify(t);
    if (h !== lastTree) {
      await outbox.append("tree", t);
      lastTree = h;
    }
    // A stream changing state is reported now, not at the next 30 s tick.
    const states = JSON.stringify(t.cameras.map((c) => c.streams.map((s) => s.status)));
    if (states !== lastStates) {
      if (lastStates) await sendHealth();
      lastStates = states;
    }
  };

  const timers: ReturnType<typeof setInterval>[] = [];
  // Declared before any timer or index observer can fire (a debounced sync ran while start-up still
  // awaited its first pass and hit this name before its declaration: a ReferenceError in a timer).
  let stopped = false;
  let healthTimer: ReturnType<typeof setInterval> | null = null;
  // Each periodic job runs at most once at a time (coalesced): under load they must not pile up.
  const safe = (what: string, fn: () => Promise<unknown>) => coalesced(serial, fn, (e) => log.error(`${what} failed`, { err: e as Error }));
  function restartHealthTimer() {
    if (healthTimer) clearInterval(healthTimer);
    healthTimer = setInterval(safe("health report", sendHealth), healthMs);
  }
  const runSync = safe("index sync", () => sync.tick());
  timers.push(setInterval(runSync, iv.syncMs));
  // Index sync on change (a commit, a closed gap, a lock), not by polling the index every 2 s:
  // commits of several streams within syncDebounceMs go out in one pass.
  let syncSoon: ReturnType<typeof setTimeout> | undefined;
  const syncOnChange = () => {
    syncSoon ??= setTimeout(() => {
      syncSoon = undefined;
      if (!stopped) runSync();
    }, iv.syncDebounceMs);
  };
  const unobserve = deps.store.observeIndex(syncOnChange);
  syncOnChange(); // what changed before the uplink started (recovery's crash gaps, an offline spell)
  if (trackSync) timers.push(setInterval(safe("track sync", () => trackSync.tick()), iv.syncMs));
  timers.push(setInterval(safe("index digest", () => sync.digest()), iv.digestMs));
  timers.push(setInterval(safe("device tree", treeTick), iv.treeMs));
  // Messages out and no ack since before an outage: the connection is stuck behind TCP's
  // backed-off retransmission timer; a fresh one gets through at once.
  /** Since when an ack has been awaited (0 = nothing is out). */
  const awaitingAckSince = () => (link.connected && sentThrough > outbox.ackedSeq ? Math.max(lastProgress, sentAt.get(outbox.ackedSeq + 1) ?? 0) : 0);
  const unreach = deps.reach?.onUp((u) => {
    const since = awaitingAckSince();
    if (u.outage && since && since < clock.now() - 1000) link.restart("no ack through a link outage");
  });
  timers.push(
    setInterval(() => {
      const since = awaitingAckSince();
      if (since && clock.now() - since > 2000) deps.reach?.suspect("mqtt: no ack for 2 s");
      // No ack progress while messages are out: resend from the oldest unacknowledged.
      if (link.connected && !helloPending && sentThrough > outbox.ackedSeq && clock.now() - lastProgress > iv.ackTimeoutMs) {
        log.info("no ack from central; resending from the oldest unacknowledged", { acked: outbox.ackedSeq, sentThrough });
        sentThrough = outbox.ackedSeq;
        lastProgress = clock.now();
        pump();
      }
    }, Math.max(100, Math.floor(iv.ackTimeoutMs / 4))),
  );
  restartHealthTimer();
  await serial.run(async () => {
    await treeTick();
    await sync.tick();
    await sendHealth();
  });
  link.start();
  log.info("uplink started", { site: siteId, shared: [...share], outbox: outbox.id });

  return {
    async event(e) {
      if (e.cameraId !== undefined && !shared(e.cameraId)) return false;
      await outbox.append("event", {
        eventId: e.eventId ?? crypto.randomUUID(),
        kind: e.kind,
        atMs: e.atMs ?? clock.now(),
        ...(e.cameraId !== undefined ? { cameraId: e.cameraId } : {}),
        ...(e.data ? { data: e.data } : {}),
      });
      return true;
    },
    async telemetry(t) {
      if (t.cameraId !== undefined && !shared(t.cameraId)) return false;
      await outbox.append("telemetry", { kind: t.kind, atMs: t.atMs ?? clock.now(), data: t.data, ...(t.cameraId !== undefined ? { cameraId: t.cameraId } : {}) });
      return true;
    },
    logForwarder(level = "warn") {
      const rank: Record<string, number> = { debug: 0, info: 1, warn: 2, error: 3 };
      return {
        write(rec) {
          if ((rank[rec.level] ?? 0) < rank[level]! || stopped) return;
          // The uplink's own records would feed back into the outbox that produced them.
          if (typeof rec.component === "string" && /^edge\.(uplink|outbox|link)/.test(rec.component)) return;
          // Log records may name any camera: forward only records about shared cameras or none.
          const cam = typeof rec.camera === "string" ? rec.camera : undefined;
          if (cam !== undefined && !shared(cam)) return;
          void outbox.append("telemetry", { kind: "log", atMs: clock.now(), data: rec, ...(cam ? { cameraId: cam } : {}) }).catch(() => undefined);
        },
      };
    },
    status() {
      const o = outbox.stats();
      return {
        connected: link.connected,
        connects: link.connects,
        outbox: { id: outbox.id, pending: o.pending, bytes: o.bytes, dropped: o.dropped, acked: outbox.ackedSeq, lastSeq: o.lastSeq },
        config: { appliedVersion: config.applied?.version ?? null, rejected: config.rejected },
        clock: clockStatus(),
        lastAckMs,
        lastError: link.lastError,
      };
    },
    syncNow: () =>
      serial.run(async () => {
        await treeTick();
        await sync.tick();
        await trackSync?.tick(true);
      }),
    trackStats: () => ({ bytes: trackSync?.bytesSent ?? 0, chunks: trackSync?.chunksSent ?? 0 }),
    digestNow: () => serial.run(() => sync.digest()),
    get appliedConfig() {
      return config.applied;
    },
    outbox,
    async stop() {
      if (stopped) return;
      stopped = true;
      unreach?.();
      unobserve();
      if (syncSoon) clearTimeout(syncSoon);
      for (const t of timers) clearInterval(t);
      if (healthTimer) clearInterval(healthTimer);
      if (helloTimer) clearTimeout(helloTimer);
      await serial.run(async () => undefined);
      await link.stop();
      await outbox.close();
    },
  };
}
