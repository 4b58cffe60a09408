/**
 * central/transfer/: the central side of the transfer engine. Owns policies' effect at central
 * (the policy itself is data in the site's desired config), what each site should send and
 * when, retrievals, the upload receiver on the federation mTLS listener, link budgets,
 * overwrite deadlines and footage.at-risk events, cross-site evidence locks, central live
 * recording for the continuous options, event-triggered transfers, live within the link
 * budget, depot offload, and central playback over its MediaStore. Does not decide what
 * central holds (central/holdings does, for everyone), must not import edge/, reads what edges
 * hold from the edge-index mirror (central/mirror), sends commands through central/sites and
 * raises events through ops (central/events). Design: docs/design/transfer.md ("Code map").
 *
 * One concern per file; engine.ts only composes them (see its header for the list). Around it:
 * receiver.ts (uploads), routes.ts (HTTP), live-budget.ts, offload.ts, progressive.ts,
 * best-stream.ts, usage.ts, counters.ts (bytes added across nodes), commits.ts (the commit log),
 * db.ts (where the state lives; migration 0006 of central/db).
 *
 * Wiring (composeCentral does this, after the control plane and live exist):
 *   const tr = await createTransfer({ dataDir, database, store, sites: cp.sites, mirror, ops: core.ops, recordLive });
 *   siteEvents.subscribe(tr.onSiteEvent); then mount tr.federationRoutes and tr.apiRoutes.
 */
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import type { Hono } from "hono";
import { systemClock, type Clock } from "../../lib/clock.ts";
import { createLogger, type Logger } from "../../lib/log/index.ts";
import { MediaStore } from "../../lib/store/index.ts";
import { DEFAULT_CHUNK_SIZE } from "../../federation/transfer/index.ts";
import type { ApiRouter } from "../openapi.ts";
import type { FederationEnv } from "../federation-api.ts";
import type { Operations } from "../events/operations.ts";
import type { Sites } from "../sites/index.ts";
import type { EdgeIndexReader } from "../mirror/index.ts";
import { CUSTODY_TABLES_IN_DUCKDB, ImportVerifier } from "../custody/index.ts";
import type { Database } from "../db/index.ts";
import { moveFromDuckdb } from "../db/from-duckdb.ts";
import { centralRanges } from "../holdings/index.ts";
import { moveTransferFromDuckdb, openTransferDb } from "./db.ts";
import { Engine } from "./engine.ts";
import { EngineError } from "./errors.ts";
import type { RecordLive } from "./live-recording.ts";
import { LiveBudget, mountLiveBudget } from "./live-budget.ts";
import { Receiver } from "./receiver.ts";
import type { CentralMedia } from "../media/index.ts";
import type { RetrievalView } from "./retrievals.ts";
import { mountApi, mountFederation } from "./routes.ts";
import type { RuleRetrieval, SiteEventTrigger } from "./triggers.ts";
import type { SiteOwnership } from "./ownership.ts";

export { Engine, EngineError, Receiver, type RetrievalView };

export interface TransferOptions {
  /** Central's data dir: partial uploads (and custody's DuckDB) in <dataDir>/transfer/, media in `store` or <dataDir>/store. */
  dataDir: string;
  /** Central's database (central/db): the transfer state every node shares (0006) and custody's verdicts and proofs (0005). */
  database: Database;
  /** Central's MediaStore (shared with live recording); opened here when absent. */
  store?: MediaStore;
  /** storage.index database: uploads commit through central/media over the store's rows. */
  media?: Pick<CentralMedia, "commit">;
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
  recordLive?: RecordLive;
  /** Which sites' jobs this node works on: central/cluster's leases (default: every site). */
  ownership?: SiteOwnership;
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
  // transfer.duckdb only matters in an upgraded installation: its transfer and custody tables
  // of before are copied into the database once.
  const duck = await openTransferDb(join(dir, "transfer.duckdb"));
  const db = o.database;
  await moveTransferFromDuckdb(duck, db, clock.now(), log.child({ component: "central.db" }));
  const ownStore = !o.store;
  const store = o.store ?? (await MediaStore.open({ root: join(o.dataDir, "store"), clock, log: log.child({ component: "central.store" }) }));
  const sites = o.sites;
  const ops = o.ops;
  // An installation that kept custody in transfer.duckdb: its verdicts and proofs move once.
  await moveFromDuckdb(duck, db, CUSTODY_TABLES_IN_DUCKDB, log.child({ component: "central.custody" }));
  const custody = o.custodyCaPem ? new ImportVerifier({ db, caPem: o.custodyCaPem, clock, log: log.child({ component: "central.custody" }) }) : undefined;
  const engine = new Engine({
    db,
    store,
    clock,
    log,
    chunkSize: o.chunkSize ?? DEFAULT_CHUNK_SIZE,
    partialDir: join(dir, "partial"),
    ...(custody ? { custody } : {}),
    ...(o.media ? { media: o.media } : {}),
    sites,
    mirror: o.mirror,
    deadlineMarginMs: o.deadlineMarginMs,
    settleMs: o.settleMs,
    recordLive: o.recordLive,
    ...(o.ownership ? { ownership: o.ownership } : {}),
    ...(ops ? { raiseEvent: (e) => ops.ingestEvent(e), attachClip: (id, clip) => ops.alarms.attachClip(id, clip) } : {}),
  });
  const receiver = engine.receiver;
  const liveBudget = new LiveBudget({ db, clock, policy: (id) => engine.inputs.policy(id), linkOf: (id) => sites.linkType(id) });
  await engine.offload.load();
  // Before any upload is received: segments imported by a node stopped before their commit row (file index).
  await receiver.completePendingCommits();
  // The rules' retrieve, resolve-camera and lock-evidence actions (triggers.ts).
  if (ops) engine.triggers.registerRuleHooks(ops.hooks);
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
      mountApi(api, { engine, store, sites, clock });
      mountLiveBudget(api, { budget: liveBudget, siteExists: (id) => sites.siteExists(id), clock });
    },
    centralRanges: (id, stream, from, to) => centralRanges(store, id, stream, from, to),
    onSiteEvent: (e) => void engine.triggers.onSiteEvent(e).catch((err) => log.error("on-event policy failed", { err: err as Error, event: e.eventId })),
    requestRetrieval: (r) => engine.triggers.requestRetrieval(r),
    siteDetails: async (id) => ({ transfer: await engine.budget.siteTransfer(id) }),
    async close() {
      if (closed) return;
      closed = true;
      await engine.stop();
      await liveBudget.stop();
      if (ownStore) await store.close();
      await duck.close();
    },
  };
}
