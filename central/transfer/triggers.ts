/**
 * Transfers something else sets off: an edge event on an `on-event` camera queues a retrieval
 * around it (class `event`), and the rules' actions reach transfer through the hooks
 * registered here (retrieve, resolve a camera by name, lock evidence). Turns triggers into
 * retrievals and locks only: must not plan, settle jobs or keep state of its own.
 */
import { splitCentralCameraId } from "../../federation/protocol/index.ts";
import { effectivePolicy } from "../../federation/transfer/index.ts";
import type { ActionHooks, RetrievalRequest } from "../rules/index.ts";
import type { Sites } from "../sites/index.ts";
import { EngineError } from "./errors.ts";
import type { EvidenceLocks } from "./locks.ts";
import type { Retrievals } from "./retrievals.ts";
import type { SiteInputs } from "./site-inputs.ts";

/** A control-plane site event (central/sites/subscribers.ts). */
export interface SiteEventTrigger {
  siteId: string;
  cameraId: string | null;
  eventId: string;
  kind: string;
  atMs: number;
}

/** What a rule's retrieve action asks for (RetrievalRequest, with any priority name). */
export type RuleRetrieval = Omit<RetrievalRequest, "priority" | "reason"> & { priority: string; reason?: unknown };

export class Triggers {
  constructor(private readonly d: { sites: Sites; inputs: SiteInputs; retrievals: Retrievals; locks: EvidenceLocks }) {}

  /** Control-plane site events: `on-event` cameras get a retrieval around each matching event. */
  async onSiteEvent(e: SiteEventTrigger): Promise<void> {
    if (!e.cameraId || e.kind.startsWith("outpost.")) return;
    const parts = splitCentralCameraId(e.cameraId);
    if (!parts) return;
    const eff = effectivePolicy((await this.d.inputs.policy(e.siteId)).policy, parts.cameraId);
    if (!eff.options.includes("on-event") || !eff.event) return;
    if (eff.event.kinds && !eff.event.kinds.includes(e.kind)) return;
    await this.d.retrievals.createRetrieval({
      id: `ev-${e.siteId}-${e.eventId}`.replace(/[^A-Za-z0-9_.:-]/g, "_").slice(0, 120),
      siteId: e.siteId,
      cameraId: parts.cameraId,
      stream: eff.stream,
      fromMs: e.atMs - eff.event.preMs,
      toMs: e.atMs + eff.event.postMs,
      priority: "event",
      reason: { event: e.eventId, kind: e.kind },
      by: "policy:on-event",
    });
  }

  /** A rule's retrieve action (ops.hooks.requestRetrieval): the camera's policy stream, the rule's priority (unknown names: alarm). */
  async requestRetrieval(r: RuleRetrieval): Promise<{ retrievalId: string }> {
    const parts = r.cameraId.includes(".") ? { siteId: r.cameraId.slice(0, r.cameraId.indexOf(".")), cameraId: r.cameraId.slice(r.cameraId.indexOf(".") + 1) } : null;
    if (!parts) throw new EngineError(`No camera ${r.cameraId} (central camera ids are <site>.<camera>).`, "not-found");
    const prio = (["alarm", "request", "event", "scheduled", "backfill"] as const).find((p) => p === r.priority) ?? "alarm";
    const { policy } = await this.d.inputs.policy(parts.siteId);
    const v = await this.d.retrievals.createRetrieval({ siteId: parts.siteId, cameraId: parts.cameraId, stream: effectivePolicy(policy, parts.cameraId).stream, fromMs: r.fromMs, toMs: r.toMs, priority: prio, reason: r.reason ?? null, by: "rules" });
    return { retrievalId: v.id };
  }

  /** Registers the rules' transfer hooks: retrieve, resolve a camera, lock evidence. */
  registerRuleHooks(hooks: ActionHooks): void {
    hooks.requestRetrieval = (r) => this.requestRetrieval(r);
    // A rule's retrieve action may name a camera of the event's site (site-level events: geofences).
    hooks.resolveCamera = async (siteId, ref) => {
      const cams = (await this.d.sites.camerasOf(siteId)).filter((c) => !c.revoked);
      return (cams.find((c) => c.channel === ref || c.id === ref) ?? cams.find((c) => c.name === ref) ?? cams.find((c) => c.name.toLowerCase() === ref.toLowerCase()))?.id ?? null;
    };
    hooks.lockEvidence = async (r) => {
      const l = await this.d.locks.createLock({ cameraId: r.cameraId, fromMs: r.fromMs, toMs: r.toMs, reason: r.reason, by: r.by });
      return { lockId: l.id as string };
    };
  }
}
