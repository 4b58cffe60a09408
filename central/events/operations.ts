/**
 * Central operations wiring (the "event server"): builds rights, audit, system log, events,
 * API keys, rules, actions and alarms over central's database (central/db), connects events → rules →
 * actions → alarms, and mounts their HTTP routes. startCentral calls startOperations once;
 * other components reach these services through `Central.ops` (ingestEvent, ingestEdgeLogs,
 * hooks, audit, rights).
 */
import type { Clock } from "../../lib/clock.ts";
import type { Logger } from "../../lib/log/index.ts";
import type { Database } from "../db/index.ts";
import { OpenApiRegistry, type ApiRouter } from "../openapi.ts";
import { Rights } from "../rights/index.ts";
import { splitCentralCameraId } from "../../federation/protocol/index.ts";
import type { Users } from "../users/index.ts";
import { Audit, type AuditInput } from "../audit/index.ts";
import type { Syslog } from "../syslog/index.ts";
import { Events, type EventInput, type IngestResult } from "./index.ts";
import { ApiKeys } from "./keys.ts";
import { Rules } from "../rules/index.ts";
import type { OperationsConfig } from "./config.ts";

export { OperationsConfig } from "./config.ts";
import { Actions, type ActionHooks } from "../rules/actions.ts";
import { Alarms } from "../alarms/index.ts";
import { mountUserRoutes } from "../users/routes.ts";
import { mountEventRoutes } from "./routes.ts";
import { mountRuleRoutes } from "../rules/routes.ts";
import { mountAlarmRoutes } from "../alarms/routes.ts";
import { mountAuditRoutes } from "../audit/routes.ts";
import { mountSyslogRoutes } from "../syslog/routes.ts";

export interface OpsContext {
  users: Users;
  rights: Rights;
  audit: Audit;
  syslog: Syslog;
  events: Events;
  apiKeys: ApiKeys;
  rules: Rules;
  alarms: Alarms;
  clock: Clock;
  log: Logger;
  openapi: OpenApiRegistry;
}

export interface Operations extends OpsContext {
  /** Hooks other components register: requestRetrieval (issue 5), switchLiveToMain, lockEvidence. */
  hooks: ActionHooks;
  /** The one way events enter central (control plane, system components). Resolves when stored. */
  ingestEvent(e: EventInput): Promise<IngestResult>;
  /** Warnings/errors an edge sent through its outbox. */
  ingestEdgeLogs(siteId: string, records: unknown[]): { stored: number; rejected: number };
  recordAudit(a: AuditInput): void;
  mount(api: ApiRouter): void;
  close(): Promise<void>;
}

export interface OperationsOptions {
  /** Central's database (central/db): every operations table (migration 0004) and API keys. */
  database: Database;
  clock: Clock;
  log: Logger;
  users: Users;
  syslog: Syslog;
  config: OperationsConfig;
  auditHeadFile: string;
  publish: (topic: string, payload: string, qos: 0 | 1, retain: boolean) => Promise<void>;
}

export async function startOperations(o: OperationsOptions): Promise<Operations> {
  const rights = new Rights(() => o.users.cameraGroups());
  // Central camera ids are <site>.<camera>: the site of any camera is known without the mirror.
  rights.setCameraDirectory({ siteOf: (camera) => splitCentralCameraId(camera)?.siteId ?? null });
  const audit = new Audit({ db: o.database, clock: o.clock, log: o.log.child({ component: "central.audit" }), headFile: o.auditHeadFile });
  await audit.init();
  const alarms = new Alarms(o.database, o.clock);
  await alarms.init();
  const hooks: ActionHooks = {};
  const actions = new Actions({
    alarms,
    clock: o.clock,
    log: o.log.child({ component: "central.rules" }),
    publish: o.publish,
    hooks,
    audit: (a) => audit.record({ user: "system", action: a.action, siteId: a.siteId, cameraId: a.cameraId, fromMs: a.fromMs, toMs: a.toMs, outcome: a.outcome, detail: a.detail }),
  });
  const rules = new Rules(o.database, actions);
  await rules.init({ rules: o.config.rules as never, timeProfiles: o.config.timeProfiles });
  const events = new Events({ db: o.database, clock: o.clock, lateAfterMs: o.config.lateAfterSeconds * 1000, siteOf: (c) => rights.siteOf(c), onEvent: (e) => rules.onEvent(e) });
  await events.init();
  const apiKeys = new ApiKeys(o.database, o.clock);
  await apiKeys.init();
  const openapi = new OpenApiRegistry();
  const ctx: OpsContext = { users: o.users, rights, audit, syslog: o.syslog, events, apiKeys, rules, alarms, clock: o.clock, log: o.log, openapi };
  return {
    ...ctx,
    hooks,
    ingestEvent: (e) => events.ingest(e),
    ingestEdgeLogs: (siteId, records) => o.syslog.ingestEdgeLogs(siteId, records),
    recordAudit: (a) => audit.record(a),
    mount(api) {
      mountUserRoutes(api, ctx);
      mountEventRoutes(api, ctx);
      mountRuleRoutes(api, ctx);
      mountAlarmRoutes(api, ctx);
      mountAuditRoutes(api, ctx);
      mountSyslogRoutes(api, ctx);
    },
    async close() {
      await events.close();
      await rules.close();
      await alarms.close();
      await audit.close();
    },
  };
}
