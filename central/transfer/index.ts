/**
 * central/transfer/: the central side of the transfer engine — policies (stored in the site's
 * desired config), job planning from the index mirror, retrievals API, the upload receiver on
 * the federation mTLS listener, budgets per site, overwrite deadlines and at-risk alarms,
 * cross-site evidence locks, central's copy in its MediaStore, merged timeline holdings and
 * central playback. Must not import edge/; reads what edges hold from the edge-index mirror
 * (central/mirror), sends commands through central/sites and raises events through ops (central/events). Design: docs/design/transfer.md.
 *
 * Wiring (composeCentral does this, after the control plane and live exist):
 *   const tr = await createTransfer({ dataDir, store, sites: cp.sites, mirror, ops: core.ops, recordLive });
 *   siteEvents.subscribe(tr.onSiteEvent); then mount tr.federationRoutes and tr.apiRoutes.
 */
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import type { Hono } from "hono";
import { systemClock, type Clock } from "../../lib/clock.ts";
import { createLogger, type Logger } from "../../lib/log/index.ts";
import { MediaStore, type StreamKind } from "../../lib/store/index.ts";
import { DEFAULT_CHUNK_SIZE, effectivePolicy } from "../../federation/transfer/index.ts";
import type { ApiRouter } from "../openapi.ts";
import type { FederationEnv } from "../federation-api.ts";
import type { Operations } from "../events/operations.ts";
import type { Sites } from "../sites/index.ts";
import type { EdgeIndexReader } from "../mirror/index.ts";
import type { Db } from "../db.ts";
import { openTransferDb } from "./db.ts";
import { Receiver } from "./receiver.ts";
import { ImportVerifier } from "../custody/index.ts";
import { Engine, EngineError, type RetrievalView } from "./engine.ts";
import { mountApi, mountFederation } from "./routes.ts";
import type { RuleRetrieval, SiteEventTrigger } from "./triggers.ts";
import { LiveBudget, mountLiveBudget } from "./live-budget.ts";

export { Engine, EngineError, Receiver, type RetrievalView };

export interface TransferOptions {
  /** Central's data dir: state in <dataDir>/transfer/, media in `store` or <dataDir>/store. */
  dataDir: string;
  /** Central's MediaStore (shared with live recording); opened here when absent. */
  store?: MediaStore;
  clock?: Clock;
  log?: Logger;
  chunkSize?: number;
  tickMs?: number;
  deadlineMarginMs?: number;
  settleMs?: number;
  /** Central's CA bundle (PEM): when given, every upload's custody proof is verified against it (central/custody). */
  custodyCaPem?: () => string;
  /** The control plane: cameras, policies (desired config), commands, link state. */
  sites: Sites;
  /** The edges' index as central mirrors it (central/mirror). */
  mirror: EdgeIndexReader;
  /** Operations: at-risk/lost events, alarm clips; the rules' retrieval and evidence-lock hooks are set here. */
  ops?: Operations;
  /** Central live recording for the continuous options (central/live LiveRecorder.recordLive). */
  recordLive?: (centralCameraId: string, stream: StreamKind) => () => Promise<void>;
}

export interface TransferModule {
  readonly engine: Engine;
  readonly receiver: Receiver;
  readonly store: MediaStore;
  /** Live within the link budget (gate for CentralLive, live byte counts, admin override). */
  readonly liveBudget: LiveBudget;
  /** Custody verification of uploads (when custodyCaPem was given). */
  readonly custody?: ImportVerifier;
  federationRoutes(app: Hono<FederationEnv>): void;
  apiRoutes(api: ApiRouter): void;
  /** What central holds, for the merged timeline. */
  centralRanges(centralCameraId: string, stream: string, fromMs: number, toMs: number): Promise<{ startMs: number; endMs: number }[]>;
  /** A site-event subscriber (central/sites/subscribers.ts): on-event policies. Never throws. */
  onSiteEvent(e: SiteEventTrigger): void;
  /** For ops.hooks.requestRetrieval (rules). */
  requestRetrieval(r: RuleRetrieval): Promise<{ retrievalId: string }>;
  siteDetails(siteId: string): Promise<Record<string, unknown>>;
  close(): Promise<void>;
}

export async function createTransfer(o: TransferOptions): Promise<TransferModule> {
  const clock = o.clock ?? systemClock;
  const log = o.log ?? createLogger("central.transfer");
  const dir = join(o.dataDir, "transfer");
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const db: Db = await openTransferDb(join(dir, "transfer.duckdb"));
  const ownStore = !o.store;
  const store = o.store ?? (await MediaStore.open({ root: join(o.dataDir, "store"), clock, log: log.child({ component: "central.store" }) }));
  const sites = o.sites;
  let ops: Operations | null = o.ops ?? null;
  const custody = o.custodyCaPem ? new ImportVerifier({ db, caPem: o.custodyCaPem, clock, log: log.child({ component: "central.custody" }) }) : undefined;
  const receiver = new Receiver({ dir: join(dir, "partial"), store, db, clock, log, ...(custody ? { custody } : {}) });
  const engine = new Engine({
    db,
    store,
    receiver,
    clock,
    log,
    chunkSize: o.chunkSize ?? DEFAULT_CHUNK_SIZE,
    sites,
    mirror: o.mirror,
    deadlineMarginMs: o.deadlineMarginMs,
    settleMs: o.settleMs,
    recordLive: o.recordLive,
    raiseEvent: (e) => (ops ? ops.ingestEvent(e) : Promise.resolve()),
    attachClip: (id, clip) => (ops ? ops.alarms.attachClip(id, clip as never) : Promise.resolve()),
  });
  const liveBudget = new LiveBudget({ db, clock, policy: (id) => engine.inputs.policy(id), linkOf: (id) => sites.linkType(id) });
  await engine.offload.load();
  // The rules' retrieve, resolve-camera and lock-evidence actions (triggers.ts).
  if (o.ops) engine.triggers.registerRuleHooks(o.ops.hooks);
  engine.start(o.tickMs ?? 1000);
  liveBudget.start();
  let closed = false;
  return {
    engine,
    receiver,
    store,
    liveBudget,
    ...(custody ? { custody } : {}),
    federationRoutes: (app) => mountFederation(app, engine, receiver),
    apiRoutes: (api) => {
      ops = api.ops;
      mountApi(api, { engine, store, sites, clock });
      mountLiveBudget(api, { budget: liveBudget, siteExists: (id) => sites.siteExists(id), clock });
    },
    centralRanges: (id, stream, from, to) => engine.centralRanges(id, stream, from, to),
    onSiteEvent: (e) => void engine.triggers.onSiteEvent(e).catch((err) => log.error("on-event policy failed", { err: err as Error, event: e.eventId })),
    requestRetrieval: (r) => engine.triggers.requestRetrieval(r),
    siteDetails: async (id) => ({ transfer: await engine.budget.siteTransfer(id) }),
    async close() {
      if (closed) return;
      closed = true;
      await engine.stop();
      await liveBudget.stop();
      if (ownStore) await store.close();
      await db.close();
    },
  };
}
