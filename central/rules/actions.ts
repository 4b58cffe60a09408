/**
 * What a fired rule does. Alarm, webhook and MQTT are done here; retrieval, live-stream switch
 * and evidence lock belong to other components, reached through hooks they register
 * (setRetrieval, setLiveMain, setEvidenceLock). Without a registered hook the action's outcome
 * says "unavailable" on the alarm — nothing is faked.
 */
import type { Logger } from "../../lib/log/index.ts";
import type { Clock } from "../../lib/clock.ts";
import type { RetrievalPriority } from "../rights/index.ts";
import type { EventRec } from "../events/index.ts";
import type { ActionOutcome, Alarms, Clip } from "../alarms/index.ts";
import type { Action, Rule } from "./schema.ts";

/** The transfer engine's entry point (issue 5): pull [fromMs, toMs) of a camera from its edge. */
export interface RetrievalRequest {
  cameraId: string;
  siteId: string | null;
  fromMs: number;
  toMs: number;
  priority: RetrievalPriority;
  /** Why: the rule, event and alarm (if one was raised) — for the retrieval's own record. */
  reason: { ruleId: string; eventId: string; alarmId: number | null };
}
export type RequestRetrieval = (r: RetrievalRequest) => Promise<{ retrievalId: string }>;

export interface LiveMainRequest {
  cameraId: string;
  siteId: string | null;
  untilMs: number;
  reason: { ruleId: string; eventId: string };
}
export interface EvidenceLockRequest {
  cameraId: string;
  siteId: string | null;
  fromMs: number;
  toMs: number;
  reason: string;
  by: string;
}

export interface ActionHooks {
  requestRetrieval?: RequestRetrieval;
  /** A camera of a site by its edge id, central id or name (a retrieve action's `camera`); null = no such camera. */
  resolveCamera?: (siteId: string, ref: string) => Promise<string | null>;
  switchLiveToMain?: (r: LiveMainRequest) => Promise<void> | void;
  lockEvidence?: (r: EvidenceLockRequest) => Promise<{ lockId: string }>;
}

export interface ActionDeps {
  alarms: Alarms;
  clock: Clock;
  log: Logger;
  publish: (topic: string, payload: string, qos: 0 | 1, retain: boolean) => Promise<void>;
  hooks: ActionHooks;
  /** Audit trail for actions done on a rule's behalf (retrievals, locks). */
  audit: (a: { action: "retrieval" | "evidence-lock"; cameraId: string; siteId: string | null; fromMs: number; toMs: number; outcome: "ok" | "error"; detail: Record<string, unknown> }) => void;
}

export class Actions {
  constructor(private readonly d: ActionDeps) {}

  private now = () => new Date(this.d.clock.now()).toISOString();

  /**
   * Run a fired rule's actions. The alarm id is reserved first so every action can name it;
   * outcomes known at once go into the alarm's insert, later ones update it.
   */
  run(rule: Rule, e: EventRec): void {
    const outcomes: ActionOutcome[] = rule.actions.map((a) => ({ kind: a.kind, state: "pending", detail: "", at: this.now() }));
    const alarmAction = rule.actions.find((a) => a.kind === "alarm");
    const alarmId = alarmAction ? this.d.alarms.reserveId() : null;
    // A burst used the reserved ids up: run once the next ones arrive (a few ms), nothing is lost.
    if (alarmAction && alarmId === null) {
      void this.d.alarms
        .idsReady()
        .then(() => this.run(rule, e))
        .catch((err) => this.d.log.error("could not reserve an alarm id; the rule's actions did not run", { rule: rule.id, event: e.id, err: err as Error }));
      return;
    }
    let clip: Clip | null = null;
    const retrieve = rule.actions.find((a) => a.kind === "retrieve");
    if (alarmAction && retrieve && (e.cameraId || (retrieve.camera && e.siteId))) {
      const hook = !!this.d.hooks.requestRetrieval;
      const from = new Date(e.timeMs - retrieve.preSeconds * 1000).toISOString();
      const to = new Date(e.timeMs + retrieve.postSeconds * 1000).toISOString();
      clip = { state: hook ? "requested" : "unavailable", retrievalId: null, from, to, url: null, detail: hook ? "asking the transfer engine" : NO_TRANSFER };
    }
    let raised = false;
    rule.actions.forEach((a, i) => {
      if (a.kind === "alarm") {
        outcomes[i] = { kind: "alarm", state: "done", detail: `alarm ${alarmId} raised`, at: this.now() };
        return;
      }
      const set = (state: ActionOutcome["state"], detail: string) => {
        const o = { kind: a.kind, state, detail, at: this.now() };
        outcomes[i] = o;
        if (raised && alarmId !== null) void this.d.alarms.setAction(alarmId, i, o).catch((err) => this.d.log.error("could not record an action outcome on an alarm", { alarm: alarmId, err: err as Error }));
        if (state === "failed") this.d.log.warn("rule action failed", { rule: rule.id, event: e.id, action: a.kind, detail });
      };
      this.start(a, rule, e, alarmId, clip, set);
    });
    if (alarmAction && alarmId !== null) {
      this.d.alarms.raise(
        {
          priority: alarmAction.priority,
          title: alarmAction.title ?? `${rule.name}: ${e.type}${e.cameraId ? ` on ${e.cameraId}` : e.siteId ? ` at ${e.siteId}` : ""}`,
          instructions: alarmAction.instructions,
          siteId: e.siteId,
          cameraId: e.cameraId,
          eventId: e.id,
          eventType: e.type,
          eventTimeMs: e.timeMs,
          late: e.late,
          ruleId: rule.id,
        },
        outcomes,
        clip,
        alarmId,
      );
    }
    raised = true;
  }

  private start(a: Action, rule: Rule, e: EventRec, alarmId: number | null, clip: Clip | null, set: (s: ActionOutcome["state"], d: string) => void): void {
    const needCamera = (): string | null => {
      if (!e.cameraId) set("skipped", "the event names no camera");
      return e.cameraId;
    };
    switch (a.kind) {
      case "alarm":
        return;
      case "retrieve": {
        const hook = this.d.hooks.requestRetrieval;
        if (!a.camera && !needCamera()) return;
        if (!hook) return set("unavailable", NO_TRANSFER);
        const fromMs = e.timeMs - a.preSeconds * 1000;
        const toMs = e.timeMs + a.postSeconds * 1000;
        let cam = e.cameraId ?? "";
        set("pending", "asking the transfer engine");
        this.cameraFor(a.camera, e)
          .then((c) => hook({ cameraId: (cam = c), siteId: e.siteId, fromMs, toMs, priority: a.priority, reason: { ruleId: rule.id, eventId: e.id, alarmId } }))
          .then(
          async ({ retrievalId }) => {
            set("requested", `retrieval ${retrievalId}`);
            this.d.audit({ action: "retrieval", cameraId: cam, siteId: e.siteId, fromMs, toMs, outcome: "ok", detail: { rule: rule.id, event: e.id, retrievalId, priority: a.priority } });
            if (alarmId !== null && clip) await this.setClipRetrieval(alarmId, clip, retrievalId);
          },
          (err: Error) => {
            set("failed", err.message);
            this.d.audit({ action: "retrieval", cameraId: cam || (a.camera ?? ""), siteId: e.siteId, fromMs, toMs, outcome: "error", detail: { rule: rule.id, event: e.id, error: err.message } });
          },
        );
        return;
      }
      case "live-main": {
        const cam = needCamera();
        if (!cam) return;
        const hook = this.d.hooks.switchLiveToMain;
        if (!hook) return set("unavailable", "no live relay is registered; the stream was not switched");
        const untilMs = this.d.clock.now() + a.seconds * 1000;
        Promise.resolve()
          .then(() => hook({ cameraId: cam, siteId: e.siteId, untilMs, reason: { ruleId: rule.id, eventId: e.id } }))
          .then(
            () => set("done", `live stream switched to main until ${new Date(untilMs).toISOString()}`),
            (err: Error) => set("failed", err.message),
          );
        return;
      }
      case "evidence-lock": {
        const cam = needCamera();
        if (!cam) return;
        const hook = this.d.hooks.lockEvidence;
        if (!hook) return set("unavailable", "no evidence-lock service is registered; nothing was locked");
        const fromMs = e.timeMs - a.preSeconds * 1000;
        const toMs = e.timeMs + a.postSeconds * 1000;
        hook({ cameraId: cam, siteId: e.siteId, fromMs, toMs, reason: a.reason ?? `rule ${rule.id}, event ${e.id}`, by: `rule:${rule.id}` }).then(
          ({ lockId }) => {
            set("done", `lock ${lockId}`);
            this.d.audit({ action: "evidence-lock", cameraId: cam, siteId: e.siteId, fromMs, toMs, outcome: "ok", detail: { rule: rule.id, event: e.id, lockId } });
          },
          (err: Error) => set("failed", err.message),
        );
        return;
      }
      case "webhook": {
        set("pending", "posting");
        void this.webhook(a, rule, e, alarmId).then(
          (n) => set("done", `delivered (attempt ${n})`),
          (err: Error) => set("failed", err.message),
        );
        return;
      }
      case "mqtt": {
        this.d.publish(a.topic, JSON.stringify(payload(rule, e, alarmId)), a.qos, a.retain).then(
          () => set("done", `published to ${a.topic}`),
          (err: Error) => set("failed", err.message),
        );
        return;
      }
    }
  }

  /** The camera a retrieve action means: the one it names on the event's site, else the event's own. */
  private async cameraFor(ref: string | undefined, e: EventRec): Promise<string> {
    if (!ref) return e.cameraId!;
    if (!e.siteId) throw new Error(`the event names no site, so camera "${ref}" cannot be found`);
    const resolve = this.d.hooks.resolveCamera;
    if (!resolve) throw new Error("no camera directory is registered at central; nothing was retrieved");
    const id = await resolve(e.siteId, ref);
    if (!id) throw new Error(`site ${e.siteId} has no camera "${ref}" (by id or name); nothing was retrieved`);
    return id;
  }

  private async setClipRetrieval(alarmId: number, clip: Clip, retrievalId: string): Promise<void> {
    await this.d.alarms.setClip(alarmId, { ...clip, retrievalId, state: "requested", detail: `retrieval ${retrievalId} requested; the clip is attached when it completes` });
  }

  /** POST with retries (exponential back-off from 200 ms); resolves with the attempt number that succeeded. */
  private async webhook(a: Extract<Action, { kind: "webhook" }>, rule: Rule, e: EventRec, alarmId: number | null): Promise<number> {
    const body = JSON.stringify(payload(rule, e, alarmId));
    let last = "";
    for (let attempt = 1; attempt <= a.retries + 1; attempt++) {
      try {
        const res = await fetch(a.url, { method: "POST", headers: { "content-type": "application/json", "user-agent": "outpost-central", ...a.headers }, body, signal: AbortSignal.timeout(a.timeoutMs) });
        await res.arrayBuffer().catch(() => undefined);
        if (res.ok) return attempt;
        last = `HTTP ${res.status}`;
      } catch (err) {
        last = (err as Error).message;
      }
      if (attempt <= a.retries) await Bun.sleep(200 * 2 ** (attempt - 1));
    }
    throw new Error(`webhook ${redactQuery(a.url)} failed after ${a.retries + 1} attempts: ${last}`);
  }
}

const NO_TRANSFER = "retrieval is not available yet: no transfer engine is registered at central; no clip was requested";

function payload(rule: Rule, e: EventRec, alarmId: number | null) {
  const { timeMs: _t, arrivedMs: _a, ...event } = e;
  return { rule: { id: rule.id, name: rule.name }, alarmId, event };
}

function redactQuery(u: string): string {
  const i = u.indexOf("?");
  return i < 0 ? u : u.slice(0, i) + "?…";
}
