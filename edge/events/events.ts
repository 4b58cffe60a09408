/**
 * startEdgeEvents: every event the edge produces — ONVIF camera events, camera online/offline,
 * disk full — gets an id and the host time it was observed, is written to the local event
 * log, logged, and handed to the uplink's durable outbox (which drops events of unshared
 * cameras). One serial chain keeps the order of observation on disk and on the wire.
 */
import { randomUUID } from "node:crypto";
import { join } from "node:path";
import type { Hono, MiddlewareHandler } from "hono";
import { iso, type Clock } from "../../lib/clock.ts";
import { badRequest } from "../../lib/http/problem.ts";
import { parseQuery } from "../../lib/http/query.ts";
import type { Logger } from "../../lib/log/index.ts";
import type { Uplink } from "../uplink/index.ts";
import { EventLog, type EdgeEventRecord } from "./log.ts";
import { EventQuery } from "./schemas.ts";
import { OnvifEventListener, type ObservedEvent } from "./onvif.ts";
import { CameraStateWatcher, DiskWatcher, type CameraState, type DiskState } from "./state.ts";
// The streams' stall watchdogs tick on the same shared timer (1 s at the default stall timeout).
import { everyPeriod } from "../ingest/shared-timer.ts";

export interface EventCamera extends CameraState {
  /** ONVIF cameras get a PullPoint listener. */
  onvif?: { address: string; user?: string; password?: string };
}

export interface EdgeEventsDeps {
  dataDir: string;
  clock: Clock;
  log: Logger;
  /** The current uplink (absent when not enrolled; replaced on certificate rotation). */
  uplink: () => Uplink | undefined;
  /** Configured cameras with their ingest state, read on every poll. */
  cameras: () => EventCamera[];
  /** Store volume state; absent = no disk events. */
  disk?: () => Promise<DiskState>;
  /** Camera/disk state must hold this long to count; default 5 s. */
  holdMs?: number;
  /** Camera state poll; default 1 s. Disk poll; default 10 s. */
  pollMs?: number;
  diskPollMs?: number;
  onvif?: { renewMs?: number; backoff?: { minMs?: number; maxMs?: number }; timeoutMs?: number };
  logFile?: { maxBytes?: number; files?: number };
  /** A camera's ONVIF digital input that is a vehicle input (edge/vehicle) is handed over instead of recorded here; true = taken. */
  routeInput?: (cameraId: string, e: ObservedEvent) => boolean;
}

export interface NewEvent {
  kind: string;
  cameraId?: string;
  atMs?: number;
  data?: Record<string, unknown>;
}

export interface EdgeEvents {
  /** Records one event (local log, then uplink); resolves with it once both took it. */
  emit(e: NewEvent): Promise<EdgeEventRecord>;
  query(q?: { fromMs?: number; toMs?: number; cameraId?: string; limit?: number }): Promise<EdgeEventRecord[]>;
  /** ONVIF listeners by camera id (tests, status). */
  readonly listeners: ReadonlyMap<string, OnvifEventListener>;
  /** GET /api/v1/events?from=&to=&camera=&limit= behind `auth`. */
  mount(app: Hono<any>, auth: MiddlewareHandler<any>): void;
  stop(): Promise<void>;
}

export async function startEdgeEvents(deps: EdgeEventsDeps): Promise<EdgeEvents> {
  const { clock } = deps;
  const log = deps.log;
  const file = await EventLog.open({ dir: join(deps.dataDir, "events"), ...deps.logFile });
  const fwdLog = log.child({ component: "edge.events.forward" });
  let chain: Promise<unknown> = Promise.resolve();
  let stopped = false;

  const emit = (e: NewEvent): Promise<EdgeEventRecord> => {
    const rec: EdgeEventRecord = { id: randomUUID(), kind: e.kind, ...(e.cameraId !== undefined ? { cameraId: e.cameraId } : {}), atMs: e.atMs ?? clock.now(), data: e.data ?? {} };
    const run = async () => {
      await file.append(rec);
      log.info("event", { event: rec.kind, id: rec.id, ...(rec.cameraId !== undefined ? { camera: rec.cameraId } : {}), at: iso(rec.atMs), ...rec.data });
      const up = deps.uplink();
      if (up && !stopped) {
        try {
          await up.event({ eventId: rec.id, kind: rec.kind, atMs: rec.atMs, ...(rec.cameraId !== undefined ? { cameraId: rec.cameraId } : {}), data: rec.data });
        } catch (err) {
          fwdLog.warn("event not queued for central", { id: rec.id, err: err as Error });
        }
      }
      return rec;
    };
    const p = chain.then(run);
    chain = p.catch(() => undefined);
    return p;
  };
  const fire = (e: NewEvent) => void emit(e).catch((err) => log.error("event not recorded", { event: e.kind, err: err as Error }));

  const listeners = new Map<string, OnvifEventListener>();
  for (const c of deps.cameras()) {
    if (!c.enabled || !c.onvif) continue;
    const l = new OnvifEventListener(
      { cameraId: c.id, ...c.onvif },
      {
        clock,
        log: log.child({ camera: c.id }),
        emit: (o: ObservedEvent) => (o.kind === "input" && deps.routeInput?.(c.id, o)) || fire({ ...o, cameraId: c.id }),
        ...(deps.onvif?.renewMs !== undefined ? { renewMs: deps.onvif.renewMs } : {}),
        ...(deps.onvif?.backoff ? { backoff: deps.onvif.backoff } : {}),
        ...(deps.onvif?.timeoutMs !== undefined ? { timeoutMs: deps.onvif.timeoutMs } : {}),
      },
    );
    listeners.set(c.id, l);
    l.start();
  }

  const holdMs = deps.holdMs ?? 5000;
  const cams = new CameraStateWatcher({ clock, holdMs, emit: (cameraId, o) => fire({ ...o, cameraId }) });
  // On the timer the streams' stall watchdogs share (same period): one wake-up a second for both, not two.
  const stopCamPoll = everyPeriod(deps.pollMs ?? 1000, () => {
    try {
      cams.tick(deps.cameras());
    } catch (e) {
      log.error("camera state check failed", { err: e as Error });
    }
  });
  const disk = new DiskWatcher({ clock, holdMs, emit: (o) => fire(o) });
  let diskBusy = false;
  const diskTimer = deps.disk
    ? setInterval(() => {
        if (diskBusy) return;
        diskBusy = true;
        deps.disk!()
          .then((d) => disk.tick(d))
          .catch((e) => log.warn("disk state check failed", { err: e as Error }))
          .finally(() => {
            diskBusy = false;
            // Events the full disk refused are held in memory; write them once there is room.
            if (file.heldCount) file.flush().catch((e) => log.warn("held events still not written", { err: e as Error }));
          });
      }, deps.diskPollMs ?? 10_000)
    : undefined;

  return {
    emit,
    query: (q) => file.query(q),
    listeners,
    mount(app, auth) {
      app.get("/api/v1/events", auth, async (c) => {
        const q = parseQuery(c, EventQuery);
        const fromMs = q.from !== undefined ? Date.parse(q.from) : undefined;
        const toMs = q.to !== undefined ? Date.parse(q.to) : undefined;
        if (fromMs !== undefined && toMs !== undefined && toMs <= fromMs) throw badRequest("to must be after from");
        const rows = await file.query({ ...(fromMs !== undefined ? { fromMs } : {}), ...(toMs !== undefined ? { toMs } : {}), ...(q.camera ? { cameraId: q.camera } : {}), limit: q.limit });
        return c.json({ events: rows.map((r) => ({ id: r.id, type: r.kind, cameraId: r.cameraId ?? null, time: iso(r.atMs), data: r.data })) });
      });
    },
    async stop() {
      stopped = true;
      stopCamPoll();
      if (diskTimer) clearInterval(diskTimer);
      await Promise.all([...listeners.values()].map((l) => l.stop()));
      await chain.catch(() => undefined);
    },
  };
}
