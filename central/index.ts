/**
 * central/: the central site process. This file owns the skeleton — config, data dir, CA,
 * listeners (user API, enrollment, federation mTLS HTTPS, MQTT over mTLS), site registry,
 * revocation and the users module — and exports startCentral() for the CLI, the demo and
 * tests. It must not import edge/; edge-facing contracts live in federation/.
 */
import { mkdirPrivate } from "../lib/fsutil.ts";
import { promises as fs } from "node:fs";
import type { Hono } from "hono";
import type { Aedes } from "aedes";
import { systemClock, type Clock } from "../lib/clock.ts";
import { createLogger, type Logger } from "../lib/log/index.ts";
import { CentralConfig, type CentralConfigInput } from "./config.ts";
import { loadOrCreatePki } from "./ca.ts";
import { Db } from "./db.ts";
import { openCentralDatabase, type Database } from "./db/index.ts";
import { moveFromDuckdb } from "./db/from-duckdb.ts";
import { Registry, REGISTRY_TABLES_IN_DUCKDB, type SiteState } from "./registry.ts";
import { SessionTable, checkPeer } from "./peers.ts";
import { Trust, type RemotePresence, type SiteView } from "./trust.ts";
import { Users, USER_TABLES_IN_DUCKDB, type UserStreams } from "./users/index.ts";
import { listenTls, type TlsListener } from "./listener.ts";
import { startBroker, type MqttListener } from "./broker.ts";
import { enrollApp, federationApp, type FederationEnv } from "./federation-api.ts";
import { apiApp } from "./api.ts";
import type { ApiRouter } from "./openapi.ts";
import { FirmwareService } from "./firmware/index.ts";
import { Syslog } from "./syslog/index.ts";
import { startOperations, type Operations } from "./events/operations.ts";
import { OPERATIONS_TABLES_IN_DUCKDB } from "./events/from-duckdb.ts";
import path from "node:path";
import { dataPaths } from "./files.ts";
import { centralWeb } from "./web/index.ts";
import type { CreatedToken } from "./journal.ts";
import type { CertStatus } from "../federation/enrollment.ts";
import type { TLSSocket } from "node:tls";
import { websocket as honoWebsocket } from "hono/bun";
import { API_IDLE_TIMEOUT_S, readTlsFiles, warnPlainHttp, urlHost, localHost } from "../lib/http/https.ts";
import { HttpDrain } from "../lib/http/drain.ts";

export { CentralConfig, parseCentralConfig, type CentralConfigInput } from "./config.ts";
export type { FederationEnv } from "./federation-api.ts";
export type { ApiEnv } from "./api.ts";
export type { ApiRouter, RightsRule } from "./openapi.ts";
export type { PeerIdentity } from "./peers.ts";
export type { SiteView } from "./trust.ts";
export type { CreatedToken } from "./journal.ts";
export type { Operations } from "./events/operations.ts";

export interface StartCentralOptions {
  clock?: Clock;
  log?: Logger;
  /** Add edge-facing routes to the mTLS federation app (c.var.peer is the calling site). */
  federationRoutes?: (app: Hono<FederationEnv>) => void;
  /** Add user-facing routes through the router: each declares its rights rule (central/rights/rules.ts); `api.ops` reaches operations; `db` is central's database (central/db) for a module's own tables. */
  apiRoutes?: (api: ApiRouter, db: Database) => void;
  /** Extra fields merged into GET /api/v1/sites/{id} (central/sites: health, config, cameras). */
  siteDetails?: (siteId: string) => Promise<Record<string, unknown>>;
  /** Streams users hold open (live WebSockets, RTSP); the users module closes them when access ends. */
  streams?: UserStreams;
  /**
   * Builds the modules that need central's core (broker, registry, operations) once it exists
   * and before any edge or user can connect; their routes are mounted after the ones above.
   * This is how composeCentral builds in dependency order instead of attaching modules late.
   */
  modules?: (core: CentralCore) => Promise<CentralModules>;
  /** Central's database opened (and closed) by the caller: composeCentral opens it first, central's store keeps its index there. */
  database?: Database;
}

/** What central has before its federation and user listeners start (StartCentralOptions.modules). */
export interface CentralCore {
  config: CentralConfig;
  /** Central's DuckDB (what has not moved to central/db yet), for a module's own tables. */
  db: Db;
  /** Central's shared database (central/db): embedded PGlite under DATA/pg, or database.url. */
  database: Database;
  /** In-process MQTT broker (already listening). */
  broker: Aedes;
  /** CA bundle PEM (what edges pin). */
  caPem: string;
  firmware: FirmwareService;
  ops: Operations;
  sites(): SiteView[];
  site(id: string): SiteView | null;
  /** A site's state without building its view (site() adds certificate status and presence): asked per message and per camera row. */
  siteState(id: string): SiteState | undefined;
  /**
   * Site ids (only active sites with `active`): for work that runs per site every few seconds
   * (subscriptions, presence, upkeep). sites() builds each site's full view (certificate status,
   * presence); building 1,000 of them every 2 s was a cluster node's second-largest CPU cost.
   */
  siteIds(o?: { active?: boolean }): readonly string[];
  sessionCount(siteId?: string, kind?: "https" | "mqtt"): number;
}

/** Routes and details the modules built on the core add (same meaning as the options above). */
export interface CentralModules {
  federationRoutes?: (app: Hono<FederationEnv>) => void;
  apiRoutes?: (api: ApiRouter, db: Database) => void;
  siteDetails?: (siteId: string) => Promise<Record<string, unknown>>;
  /** Presence of sites this node does not own, from the shared table (central/cluster/presence.ts). */
  presence?: RemotePresence;
  /** Awaited before user API reads: the shared presence as fresh as its periodic read keeps it (read on demand). */
  presenceFresh?: () => Promise<void>;
}

export interface Central {
  config: CentralConfig;
  /** https://host:port of the user API (http:// only with api.plainHttp), no trailing slash. */
  apiUrl: string;
  /**
   * PEM a client needs to verify the user API: central's CA bundle when the API serves
   * central's own server certificate; null with api.tls (the admin's PKI) or api.plainHttp.
   */
  apiCaPem: string | null;
  /** Central's CA certificate file (what users import into browsers / pin in clients). */
  caFile: string;
  /** Certificate and key of user-facing TLS listeners (RTSPS): the api.tls files, else central's server certificate. */
  userTls: { cert: string; key: string };
  /** https:// URL edges pass to `outpost edge enroll --central`. */
  enrollUrl: string;
  federationUrl: string;
  /** mqtts://host:port */
  mqttUrl: string;
  /** CA bundle PEM (what edges pin). */
  caPem: string;
  caFingerprint: string;
  /** The admin password if this start created the admin user, else null (see adminPasswordFile). */
  initialAdminPassword: string | null;
  adminPasswordFile: string;
  /** In-process MQTT broker: central publishes with broker.publish (no ACL applies). */
  broker: Aedes;
  /** Firmware releases and staged campaigns (central/firmware; routes under /api/v1/firmware and /federation/v1/firmware). */
  firmware: FirmwareService;
  /** Users, rights, events (ingestEvent), rules (hooks), alarms, audit, system log (ingestEdgeLogs). */
  ops: Operations;
  /** Central's database (central/db): embedded PGlite under DATA/pg, or database.url. */
  database: Database;
  createEnrollmentToken(site: string, ttlHours?: number): Promise<CreatedToken>;
  revokeSite(id: string, reason?: string): Promise<SiteView>;
  sites(): SiteView[];
  site(id: string): SiteView | null;
  certificates(): CertStatus[];
  /** Open sessions (HTTPS + MQTT) of a site, or of all sites. */
  sessionCount(siteId?: string, kind?: "https" | "mqtt"): number;
  /**
   * Shutdown of the HTTP listeners (user API, federation, enrollment): after `begin()` new
   * requests get 503 with Retry-After; `settle()` waits for those inside. close() does both
   * first; composeCentral does them before it closes any module.
   */
  http: HttpDrain;
  close(): Promise<void>;
}

/** How long shutdown waits for requests already inside a handler before closing databases (ms). */
export const SHUTDOWN_SETTLE_MS = 5000;

export async function startCentral(input: CentralConfigInput | CentralConfig, opts: StartCentralOptions = {}): Promise<Central> {
  const cfg = CentralConfig.parse(input);
  const clock = opts.clock ?? systemClock;
  let log = opts.log ?? createLogger("central");
  await mkdirPrivate(cfg.dataDir);
  const paths = dataPaths(cfg.dataDir);

  const pki = await loadOrCreatePki(cfg, clock, log.child({ component: "central.pki" }));
  const db = await Db.open(paths.db);
  const http = new HttpDrain();
  const draining = () => http.draining;
  const cleanups: (() => Promise<void> | void)[] = [() => db.close()];
  try {
    // Shared state moves here module by module (docs/design/central-cluster.md); users first.
    const database = opts.database ?? (await openCentralDatabase(cfg.database, cfg.dataDir, log.child({ component: "central.db" })));
    if (!opts.database) cleanups.push(() => database.close());
    for (const tables of [USER_TABLES_IN_DUCKDB, REGISTRY_TABLES_IN_DUCKDB, ...OPERATIONS_TABLES_IN_DUCKDB]) await moveFromDuckdb(db, database, tables, log.child({ component: "central.db" }));
    // Warnings and errors of every component below also go to the queryable system log.
    const syslog = new Syslog({ db: database, clock, retentionDays: cfg.operations.syslogRetentionDays });
    await syslog.init();
    cleanups.push(() => syslog.close());
    log = log.tee(syslog);
    const registry = new Registry(database);
    await registry.init();
    const firmware = await FirmwareService.open({ dataDir: cfg.dataDir, sites: () => registry.list().map((s) => s.id), clock, log: log.child({ component: "central.firmware" }) });
    const lc = cfg.operations.login;
    const throttle = { maxFailures: lc.maxFailures, windowMs: lc.windowMinutes * 60_000, lockMs: lc.lockMinutes * 60_000, addressMaxFailures: lc.addressMaxFailures, userBurst: lc.userBurst, userRefillMs: lc.userRefillSeconds * 1000 };
    const users = new Users({ db: database, clock, log: log.child({ component: "central.users" }), sessionTtlMs: cfg.api.sessionTtlHours * 3_600_000, sessionIdleMs: cfg.api.sessionIdleMinutes * 60_000, throttle, streams: opts.streams });
    await users.init();
    const admin = await users.ensureAdmin(paths.adminPassword, cfg.operations.adminPassword);

    const sessions = new SessionTable();
    let mqtt: MqttListener | null = null;
    const trust = new Trust(cfg, pki, registry, sessions, clock, log.child({ component: "central.trust" }), (siteId) => {
      // aedes may hold a client object briefly after its socket died; close it too.
      const broker = mqtt?.broker as unknown as { clients?: Record<string, { close(): void }> } | undefined;
      broker?.clients?.[siteId]?.close();
    });
    await trust.applyAllRevocations();
    // Other nodes on the same database enroll, rotate and revoke too (docs/design/central-cluster.md).
    const following = { intervalMs: cfg.cluster.heartbeatMs, onError: (e: Error) => log.warn("cannot re-read shared state", { error: e.message }) };
    cleanups.push(await registry.follow({ ...following, onCut: (siteId) => trust.cutElsewhere(siteId) }));
    cleanups.push(await users.follow(following));

    const trustedSubjects = new Set(pki.bundle.map((c) => c.subject));
    const check = (s: TLSSocket) => checkPeer(s, registry, trustedSubjects, clock.now());
    const seen = (siteId: string) => registry.touch(siteId, new Date(clock.now()).toISOString());
    const host0 = cfg.tls.serverNames[0]!;

    const enroll = await listenTls({
      host: cfg.enroll.host,
      port: cfg.enroll.port,
      key: pki.serverKeyPem,
      cert: pki.serverCertPem,
      minVersion: cfg.tls.minVersion,
      fetch: http.wrap(enrollApp(trust, log.child({ component: "central.enroll" }), draining).fetch),
    });
    cleanups.push(() => enroll.close());
    mqtt = await startBroker({
      host: cfg.mqtt.host,
      port: cfg.mqtt.port,
      key: pki.serverKeyPem,
      cert: pki.serverCertPem,
      clientCa: pki.bundlePem,
      minVersion: cfg.tls.minVersion,
      check,
      sessions,
      log: log.child({ component: "central.mqtt" }),
      onSeen: seen,
    });
    cleanups.push(() => mqtt!.close());

    const enrollUrl = cfg.enroll.publicUrl ?? `https://${urlHost(host0)}:${enroll.port}`;
    trust.mqttUrl = cfg.mqtt.publicUrl ?? cfg.mqtt.url ?? `mqtts://${urlHost(host0)}:${mqtt.port}`;

    const broker = mqtt.broker;
    const ops = await startOperations({
      database,
      clock,
      log: log.child({ component: "central.ops" }),
      users,
      syslog,
      config: cfg.operations,
      auditHeadFile: path.join(cfg.dataDir, "audit-head.json"),
      publish: (topic, payload, qos, retain) =>
        new Promise((resolve, reject) =>
          broker.publish({ cmd: "publish", topic, payload: Buffer.from(payload), qos, retain, dup: false } as Parameters<Aedes["publish"]>[0], (e) => (e ? reject(e) : resolve())),
        ),
    });
    cleanups.push(() => ops.close());
    const siteView = (id: string) => {
      const r = registry.get(id);
      return r ? trust.siteView(r) : null;
    };
    const siteViews = () => registry.list().map((r) => trust.siteView(r));
    const sessionCount = (siteId?: string, kind?: "https" | "mqtt") => sessions.count(siteId, kind);
    const modules = (await opts.modules?.({ config: cfg, db, database, broker, caPem: pki.bundlePem, firmware, ops, sites: siteViews, site: siteView, siteState: (id) => registry.get(id)?.state, siteIds: (o) => registry.ids(o), sessionCount })) ?? {};
    trust.presence = modules.presence;
    const fedLog = log.child({ component: "central.federation" });
    const fed: TlsListener = await listenTls({
      host: cfg.federation.host,
      port: cfg.federation.port,
      key: pki.serverKeyPem,
      cert: pki.serverCertPem,
      clientCa: pki.bundlePem,
      minVersion: cfg.tls.minVersion,
      fetch: http.wrap(
        federationApp(
          trust,
          check,
          fedLog,
          (app) => {
            firmware.federationRoutes(app);
            opts.federationRoutes?.(app);
            modules.federationRoutes?.(app);
          },
          draining,
        ).fetch,
      ),
      onSecure: (socket) => {
        const r = check(socket);
        if (!r.ok) {
          fedLog.info("federation connection refused", { reason: r.reason });
          return false;
        }
        const untrack = sessions.add("https", r.peer, () => socket.destroy());
        socket.once("close", untrack);
        seen(r.peer.siteId);
        return true;
      },
    });
    cleanups.push(() => fed.close());
    trust.federationUrl = cfg.federation.publicUrl ?? `https://${urlHost(host0)}:${fed.port}`;
    const web = await centralWeb(database, clock);

    const app = apiApp({
      ops,
      users,
      trust,
      clock,
      log: log.child({ component: "central.api" }),
      draining,
      sessionTtlMs: cfg.api.sessionTtlHours * 3_600_000,
      allowedOrigins: cfg.api.allowedOrigins,
      ...(modules.presenceFresh ? { presenceFresh: modules.presenceFresh } : {}),
      urls: () => ({ enrollUrl, federationUrl: trust.federationUrl, mqttUrl: trust.mqttUrl }),
      mount: (api) => {
        firmware.apiRoutes(api);
        opts.apiRoutes?.(api, database);
        modules.apiRoutes?.(api, database);
        // last: its page fallback answers every GET outside /api/
        web(api);
      },
      siteDetails: opts.siteDetails && modules.siteDetails ? async (id) => ({ ...(await opts.siteDetails!(id)), ...(await modules.siteDetails!(id)) }) : (opts.siteDetails ?? modules.siteDetails),
    });
    // HTTPS by default (docs/design/trust.md, "User-facing HTTPS"): central's own server
    // certificate, or the admin's files. HTTP/1.1 only: Bun.serve has no HTTP/2, and the web
    // client shares one event stream across tabs instead (web/shared-stream.ts).
    const userTls = cfg.api.tls ? await readTlsFiles(cfg.api.tls) : { cert: pki.serverCertPem, key: pki.serverKeyPem };
    const apiTls = cfg.api.plainHttp ? null : userTls;
    // websocket: hono/bun's generic handler, for routes mounted with upgradeWebSocket (live view).
    // An export (evidence package) or a playback window is answered only when it is built: Bun's
    // default 10 s idle timeout reset those requests on a busy host, so the user got nothing.
    const api = Bun.serve({ hostname: cfg.api.host, port: cfg.api.port, fetch: http.wrap(app.fetch), websocket: honoWebsocket, idleTimeout: API_IDLE_TIMEOUT_S, ...(apiTls ? { tls: apiTls } : {}) });
    cleanups.push(() => api.stop(true));

    let polling = false;
    const timer = setInterval(() => {
      if (polling) return;
      polling = true;
      trust
        .poll()
        .catch((e) => log.error("revocation poll failed", { err: e as Error }))
        .finally(() => (polling = false));
    }, cfg.revocationPollMs);
    cleanups.push(() => clearInterval(timer));
    // Expired and idle sessions end on time, with the live streams they opened (not only at their next request).
    const sweeper = setInterval(() => void users.sweep().catch((e) => log.warn("session sweep failed", { err: e as Error })), 1000);
    cleanups.push(() => clearInterval(sweeper));

    const apiUrl = `${apiTls ? "https" : "http"}://${urlHost(localHost(cfg.api.host))}:${api.port}`;
    if (!apiTls) warnPlainHttp(log, "central's user API", apiUrl);
    log.info("central started", { apiUrl, enrollUrl, federationUrl: trust.federationUrl, mqttUrl: trust.mqttUrl, dataDir: cfg.dataDir });
    let closed = false;
    return {
      config: cfg,
      apiUrl,
      apiCaPem: apiTls && !cfg.api.tls ? pki.bundlePem : null,
      caFile: paths.caCert,
      userTls,
      enrollUrl,
      federationUrl: trust.federationUrl,
      mqttUrl: trust.mqttUrl,
      caPem: pki.bundlePem,
      caFingerprint: pki.caFingerprint,
      initialAdminPassword: admin.password ?? null,
      adminPasswordFile: paths.adminPassword,
      broker: mqtt.broker,
      firmware,
      ops,
      database,
      createEnrollmentToken: (site, ttlHours) => trust.createEnrollmentToken(site, ttlHours),
      revokeSite: async (id, reason) => trust.siteView(await trust.revokeSite(id, reason ?? null)),
      sites: siteViews,
      site: siteView,
      certificates: () => trust.certificates(),
      sessionCount,
      http,
      async close() {
        if (closed) return;
        closed = true;
        http.begin();
        await http.settle(SHUTDOWN_SETTLE_MS);
        await runCleanups(cleanups);
      },
    };
  } catch (e) {
    await runCleanups(cleanups);
    throw e;
  }
}

async function runCleanups(fns: (() => Promise<void> | void)[]): Promise<void> {
  for (const f of fns.reverse()) {
    try {
      await f();
    } catch {
      // best effort on shutdown
    }
  }
}
