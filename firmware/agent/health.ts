/**
 * The trial health check: a probe is asked repeatedly until it passes or the deadline comes.
 * "Healthy" for an edge = every enabled camera stream recording, and central reachable if it
 * was reachable before the switch (a release that breaks the uplink must not be committed).
 */
import type { Clock } from "../../lib/clock.ts";

export type HealthResult = { ok: true } | { ok: false; reason: string };
export type HealthProbe = () => Promise<HealthResult>;

export async function waitHealthy(probe: HealthProbe, o: { timeoutMs: number; intervalMs?: number; clock: Clock }): Promise<HealthResult> {
  const deadline = o.clock.now() + o.timeoutMs;
  let last: HealthResult = { ok: false, reason: "health check never ran" };
  for (;;) {
    try {
      last = await probe();
    } catch (e) {
      last = { ok: false, reason: `health probe failed: ${(e as Error).message}` };
    }
    if (last.ok) return last;
    if (o.clock.now() >= deadline) return { ok: false, reason: `not healthy within ${Math.round(o.timeoutMs / 1000)} s: ${last.reason}` };
    await Bun.sleep(o.intervalMs ?? 500);
  }
}

/** Minimal view of edge/main.ts's Edge.status() that the probe needs. */
export interface EdgeStatusView {
  cameras: { id: string; enabled: boolean; streams: { stream: string; state: string; reason?: string }[] }[];
}

export function streamsProbe(status: () => EdgeStatusView): HealthProbe {
  return async () => {
    const bad: string[] = [];
    for (const c of status().cameras) {
      if (!c.enabled) continue;
      for (const s of c.streams) if (s.state !== "recording") bad.push(`${c.id}/${s.stream} ${s.state}${s.reason ? ` (${s.reason})` : ""}`);
    }
    return bad.length ? { ok: false, reason: `streams not recording: ${bad.join(", ")}` } : { ok: true };
  };
}

export function allOf(...probes: HealthProbe[]): HealthProbe {
  return async () => {
    for (const p of probes) {
      const r = await p();
      if (!r.ok) return r;
    }
    return { ok: true };
  };
}
