/**
 * edge/technician/: what the technician on site needs beyond the camera list, as one JSON block
 * of the edge's GET /api/v1/health (session only): storage with each camera's retention horizon
 * and oldest footage, the link to central (connected, last ack, outbox, certificate, why it last
 * failed, whether central refuses this edge), and the software version with the firmware slot.
 * Reads only; owns no state.
 */
import { readJsonFile } from "../../firmware/fsutil.ts";
import { firmwarePaths, slotVersion, type SlotState } from "../../firmware/slots.ts";
import { iso, type Clock } from "../../lib/clock.ts";
import type { RetentionPolicy } from "../../lib/store/index.ts";
import type { UplinkStatus } from "../uplink/index.ts";
import pkg from "../../package.json" with { type: "json" };

export interface TechnicianInputs {
  clock: Clock;
  dataDir: string;
  cameraIds: () => string[];
  store: {
    cameras(): Promise<{ cameraId: string; stream: string; firstMs: number; lastMs: number; bytes: number }[]>;
    usage(): Promise<{ totalBytes: number; volumeFreeBytes: number; volumeTotalBytes: number }>;
  };
  retention: (cameraId: string) => RetentionPolicy;
  /** Quota and free-space floor of the store (config storage.maxTotalBytes / minFreeBytes). */
  maxTotalBytes?: number;
  minFreeBytes: number;
  /** The enrollment, null when this edge is not enrolled. */
  identity: () => { siteId: string; notAfterMs?: number } | null;
  uplink: () => UplinkStatus | null;
}

// Central answers a refused certificate (revoked or superseded) with CONNACK "not authorized" (central/broker.ts); a bad network never does.
const REFUSED = /not authori[sz]ed/i;

export async function technicianView(i: TechnicianInputs) {
  const now = i.clock.now();
  const u = await i.store.usage();
  const held = await i.store.cameras();
  const cameras = i.cameraIds().map((id) => {
    const rows = held.filter((r) => r.cameraId === id);
    const p = i.retention(id);
    const oldest = rows.length ? Math.min(...rows.map((r) => r.firstMs)) : null;
    return {
      cameraId: id,
      bytes: rows.reduce((a, r) => a + r.bytes, 0),
      oldestFootage: oldest === null ? null : iso(oldest),
      newestFootage: rows.length ? iso(Math.max(...rows.map((r) => r.lastMs))) : null,
      // Retention horizon: footage older than this goes (age limit); null = kept until space runs out.
      retention: { maxAgeHours: p.maxAgeMs !== undefined ? p.maxAgeMs / 3_600_000 : null, maxBytes: p.maxBytes ?? null, horizon: p.maxAgeMs !== undefined ? iso(now - p.maxAgeMs) : null },
    };
  });
  const id = i.identity();
  const st = i.uplink();
  const refused = !!st && !st.connected && !!st.lastError && REFUSED.test(st.lastError.reason);
  return {
    storage: {
      volumes: [{ path: "data", totalBytes: u.volumeTotalBytes, freeBytes: u.volumeFreeBytes, storeBytes: u.totalBytes, maxTotalBytes: i.maxTotalBytes ?? null, minFreeBytes: i.minFreeBytes }],
      cameras,
    },
    central: id
      ? {
          enrolled: true,
          siteId: id.siteId,
          connected: st?.connected ?? false,
          connects: st?.connects ?? 0,
          lastAck: st?.lastAckMs ? iso(st.lastAckMs) : null,
          outbox: st ? { pending: st.outbox.pending, bytes: st.outbox.bytes, dropped: st.outbox.dropped } : null,
          certificate: { notAfter: id.notAfterMs ? iso(id.notAfterMs) : null, daysLeft: id.notAfterMs ? Math.floor((id.notAfterMs - now) / 86_400_000) : null },
          lastError: st?.lastError ? { reason: st.lastError.reason, at: iso(st.lastError.atMs) } : null,
          refused,
        }
      : { enrolled: false },
    software: { version: pkg.version, ...(await firmwareSlot(i.dataDir)) },
  };
}

/** The A/B slot state when this edge runs as an appliance (firmware/slots.ts); null otherwise. */
async function firmwareSlot(dataDir: string) {
  const p = firmwarePaths(dataDir);
  const s = await readJsonFile<SlotState>(p.state).catch(() => null);
  if (!s) return { firmware: null };
  return {
    firmware: {
      slot: s.current,
      slotVersion: await slotVersion(p, s.current),
      pending: s.pending,
      lastResult: s.lastResult ? { version: s.lastResult.version, outcome: s.lastResult.outcome, reason: s.lastResult.reason ?? null, at: s.lastResult.at } : null,
    },
  };
}
