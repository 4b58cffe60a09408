/**
 * Camera and disk state → events, debounced: a state must hold for `holdMs` before it counts,
 * and only a change of the counted state is reported (one event per transition), so a camera
 * that flaps faster than holdMs produces nothing. The event carries the time the state was
 * first observed, not the time it was confirmed.
 */
import type { Clock } from "../../lib/clock.ts";
import type { ObservedEvent } from "./onvif.ts";

export interface CameraState {
  id: string;
  enabled: boolean;
  /** Per-stream ingest state (edge/ingest StreamStatus) and, when unresolvable, the camera's error. */
  streams: { state: string; reason?: string; detail?: string }[];
  error?: { code: string; message: string };
}

type Observed = { state: "online" | "offline"; reason?: string; detail?: string };

/** Online while any stream records; offline once none does and ingest says why. */
export function observe(c: CameraState): Observed | null {
  if (!c.enabled) return null;
  if (c.streams.some((s) => s.state === "recording")) return { state: "online" };
  const bad = c.streams.find((s) => s.state === "backoff" || s.state === "stalled" || s.state === "failed");
  if (bad) return { state: "offline", reason: bad.reason ?? "camera-offline", ...(bad.detail ? { detail: bad.detail } : {}) };
  if (c.error) return { state: "offline", reason: c.error.code === "auth-failed" ? "auth-failed" : "camera-offline", detail: c.error.message };
  // connecting / stopped: no opinion yet.
  return null;
}

interface Track {
  reported: "online" | "offline" | undefined;
  candidate: Observed | undefined;
  since: number;
}

export class CameraStateWatcher {
  private tracks = new Map<string, Track>();

  constructor(private readonly o: { clock: Clock; holdMs: number; emit: (cameraId: string, e: ObservedEvent) => void }) {}

  /** Feed the current state of every camera (called on a timer). */
  tick(cameras: CameraState[]): void {
    const now = this.o.clock.now();
    for (const c of cameras) {
      const seen = observe(c);
      let t = this.tracks.get(c.id);
      if (!t) this.tracks.set(c.id, (t = { reported: undefined, candidate: undefined, since: now }));
      if (!seen) {
        t.candidate = undefined;
        continue;
      }
      if (t.candidate?.state !== seen.state) {
        t.candidate = seen;
        t.since = now;
      }
      if (now - t.since < this.o.holdMs || t.reported === seen.state) continue;
      const first = t.reported === undefined;
      t.reported = seen.state;
      // A camera coming up at start is the normal case, not news; one that is down at start is.
      if (first && seen.state === "online") continue;
      const cand = t.candidate!;
      this.o.emit(c.id, {
        kind: seen.state === "online" ? "camera.online" : "camera.offline",
        atMs: t.since,
        data: seen.state === "online" ? {} : { reason: cand.reason, ...(cand.detail ? { detail: cand.detail } : {}) },
      });
    }
  }
}

export interface DiskState {
  full: boolean;
  freeBytes: number;
  totalBytes: number;
}

/** `disk.full` when the store is out of room (held holdMs), `disk.ok` when it recovers. */
export class DiskWatcher {
  private reported = false;
  private candidate: boolean | undefined;
  private since = 0;

  constructor(private readonly o: { clock: Clock; holdMs: number; emit: (e: ObservedEvent) => void }) {}

  tick(d: DiskState): void {
    const now = this.o.clock.now();
    if (this.candidate !== d.full) {
      this.candidate = d.full;
      this.since = now;
    }
    if (now - this.since < this.o.holdMs || this.reported === d.full) return;
    this.reported = d.full;
    this.o.emit({ kind: d.full ? "disk.full" : "disk.ok", atMs: this.since, data: { freeBytes: d.freeBytes, totalBytes: d.totalBytes } });
  }
}
