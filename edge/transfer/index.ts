/**
 * edge/transfer/: the edge side of the transfer engine — long poll for work, prioritized and
 * pre-emptible uploads within the active link's profile (allowed classes, monthly budget,
 * rate cap), resume from central's committed offset, evidence locks made for central (kept
 * until central has the range), and the retention overlay for `central-only` (rolling
 * buffer). Talks to central only through federation/transfer over mTLS HTTPS (edge dials
 * out); reads the media store, never writes media. Must not import central/.
 *
 * Wiring: const t = await startEdgeTransfer({...}); startUplink({..., link: () => ({type: t.link, quality: null}),
 *   commands: t.commands}); retention: (cam) => t.retention(cam, base(cam));
 *   mountTransfers(app, auth, () => t.status()) for the local GET /api/v1/transfers.
 */
import type { MediaStore, RetentionPolicy } from "../../lib/store/index.ts";
import { effectivePolicy, type SitePolicy } from "../../federation/transfer/index.ts";
import { EdgeTransfer, type EdgeTransferDeps, type EdgeTransferStatus } from "./engine.ts";

export { EdgeTransfer, type EdgeTransferDeps, type EdgeTransferStatus };
export { TokenBucket } from "./bucket.ts";
export { mountTransfers, transfersView, TransfersOut } from "./routes.ts";

export interface EdgeTransferHandle {
  readonly engine: EdgeTransfer;
  readonly link: string;
  setLink(type: string): void;
  /** The vehicle's state changed (reported to central at once). */
  vehicleChanged(): void;
  status(): EdgeTransferStatus;
  /** Command handlers for the uplink (central → edge): evidence-lock, evidence-unlock, set-link. */
  commands: Record<string, (args: Record<string, unknown>) => Promise<unknown> | unknown>;
  /** `central-only` cameras keep only a rolling buffer (bufferHours, default 24 h). */
  retention(cameraId: string, base: RetentionPolicy): RetentionPolicy;
  stop(): Promise<void>;
}

export function lockCommands(store: MediaStore): EdgeTransferHandle["commands"] {
  return {
    "evidence-lock": async (a) => {
      const id = typeof a.id === "string" && /^lk-[A-Za-z0-9_-]{1,60}$/.test(a.id) ? a.id : null;
      if (!id || typeof a.cameraId !== "string" || typeof a.fromMs !== "number" || typeof a.toMs !== "number") throw new Error("evidence-lock needs id (lk-…), cameraId, fromMs and toMs");
      const existing = (await store.locks(a.cameraId)).find((l) => l.id === id);
      if (existing) return { lockId: id };
      await store.createLock({ id, cameraId: a.cameraId, startMs: a.fromMs, endMs: a.toMs, reason: typeof a.reason === "string" ? a.reason : "central evidence lock", createdBy: "central", ...(typeof a.expiresAtMs === "number" ? { expiresAtMs: a.expiresAtMs } : {}) });
      return { lockId: id };
    },
    "evidence-unlock": async (a) => {
      if (typeof a.id !== "string") throw new Error("evidence-unlock needs id");
      return { removed: await store.deleteLock(a.id) };
    },
  };
}

export async function startEdgeTransfer(d: EdgeTransferDeps): Promise<EdgeTransferHandle> {
  const engine = new EdgeTransfer(d);
  await engine.start();
  return {
    engine,
    get link() {
      return engine.link;
    },
    setLink: (t) => engine.setLink(t),
    vehicleChanged: () => engine.vehicleChanged(),
    status: () => engine.status(),
    commands: {
      ...lockCommands(d.store),
      "set-link": (a) => {
        if (typeof a.type !== "string" || !/^[a-z0-9-]{1,40}$/.test(a.type)) throw new Error("set-link needs type (e.g. cellular, wifi)");
        engine.setLink(a.type);
        return { link: engine.link };
      },
    },
    retention(cameraId, base) {
      const p: SitePolicy | null | undefined = d.policy();
      if (!effectivePolicy(p, cameraId).options.includes("central-only")) return base;
      const ms = (p?.bufferHours ?? 24) * 3_600_000;
      return { ...base, maxAgeMs: Math.min(base.maxAgeMs ?? Infinity, ms) };
    },
    stop: () => engine.stop(),
  };
}
