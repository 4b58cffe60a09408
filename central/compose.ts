/**
 * composeCentral: the whole central site, built in one place — the skeleton (startCentral: CA,
 * listeners, users, events, audit, firmware, web) plus the control plane (central/sites), live
 * relay and live recording (central/live), RTSP out (central/live/rtsp) and the transfer engine
 * (central/transfer), all sharing one central MediaStore. central/main.ts (`outpost central`,
 * `outpost demo`) and the test harnesses call it; tests change parts through CentralOverrides.
 *
 * Built in dependency order, each part given what it needs when it is made (no late attach):
 * the data dir's lock (lib/lock) → database → cluster leases (central/cluster: which sites this node handles, all of them when
 * alone; the fence) → store (+ central's custody; its retention scope and live-recording fence
 * are the leases') → startCentral's core (registry, broker, operations) → edge-index mirror
 * (central/mirror, in the database) → the control plane's subscriptions and the control plane
 * (central/sites, writes the mirror)
 * → live → transfer (reads the mirror, what central holds from central/holdings) → fleet →
 * routes, then the listeners → RTSP out → ONVIF → metrics → retention. Edge events reach
 * their consumers through one SiteEvents list created before all of them.
 */
import { CentralRetention, ownedCameras } from "./retention.ts";
import "reflect-metadata";
import { join } from "node:path";
import { systemClock, type Clock } from "../lib/clock.ts";
import { createLogger, type Logger } from "../lib/log/index.ts";
import { MediaStore, type StreamKind } from "../lib/store/index.ts";
import { startHoldingDataDir } from "../lib/lock/index.ts";
import { openCentralDatabase } from "./db/index.ts";
import { CentralMedia, MediaUpkeep, PgStoreIndex, importLegacyStore, leaseFence, type SegmentFence } from "./media/index.ts";
import { FsBlobStore } from "../lib/blob/index.ts";
import { SHUTDOWN_SETTLE_MS, startCentral, type Central, type CentralConfig, type CentralCore, type CentralModules } from "./index.ts";
import { openSites, type Sites } from "./sites/index.ts";
import { centralRanges } from "./holdings/index.ts";
import { EdgeIndex } from "./mirror/index.ts";
import { SiteEvents } from "./sites/subscribers.ts";
import { FleetStore, Geofences, TrackIndex, mountFleetMapRoutes, mountFleetRoutes } from "./fleet/index.ts";
import { CentralLive, LiveRecorder, commandRequester, type CentralLiveOptions } from "./live/index.ts";
import type { LiveRequest } from "../federation/live/control.ts";
import { ReplaySource, startRtspOut, StreamCredentials, type RtspOut } from "./live/rtsp/index.ts";
import { readFileSync } from "node:fs";
import { dataPaths } from "./files.ts";
import { attachCentralCustody } from "./custody/own.ts";
import { mountExports } from "./custody/routes.ts";
import { loadCa, type CaMaterial } from "../federation/pki.ts";
import { createTransfer, type TransferModule } from "./transfer/index.ts";
import { createPreview, type PreviewModule } from "./preview/index.ts";
import { commandNotifier } from "./firmware/index.ts";
import { UserStreams } from "./users/index.ts";
import { startMetricsListener } from "../lib/metrics/index.ts";
import { centralMetrics } from "./metrics/index.ts";
import { mountOnvifRoutes, startCentralOnvif, type CentralOnvif } from "./onvif/index.ts";
import { SharedPresence, otherNodesAlive, ownedSites, persistedNodeId, siteTopics, startCluster, type Cluster, type OwnedSiteTopics } from "./cluster/index.ts";
import { centralMqttIdentity, type SiteHealth } from "./sites/index.ts";
import { LiveUplinks, liveCluster, nodeIdentity, startRelayListener } from "./live/relay/index.ts";
import { hostname } from "node:os";

export interface CentralSite {
  central: Central;
  sites: Sites;
  live: CentralLive;
  /** Records live into `store` (transfer's continuous options use it). */
  recorder: LiveRecorder;
  /** Users' open live streams (WebSockets, RTSP sessions), closed when access ends. */
  streams: UserStreams;
  transfer: TransferModule;
  /** The edge-index mirror (central/mirror). */
  mirror: EdgeIndex;
  /** This node's partitions and leases (central/cluster): a single node owns all 256; the control plane's subscriptions. */
  cluster: Cluster & { readonly topics: OwnedSiteTopics };
  /** Every edge event, for any subscriber (central/sites/subscribers.ts). */
  siteEvents: SiteEvents;
  /** Previews of edge footage (thumbnails, activity index; central/preview). */
  preview: PreviewModule;
  store: MediaStore;
  /** Retention of central's own store (also runs every storage.retentionIntervalMs). */
  retention: CentralRetention;
  rtsp?: RtspOut;
  onvif?: CentralOnvif;
  /** The Prometheus scrape URL, when metrics.port is set. */
  metricsUrl?: string;
  close(): Promise<void>;
}

/** What a test (or a future cluster node) may replace; the product passes none. */
export interface CentralOverrides {
  clock?: Clock;
  log?: Logger;
  /** Central store's segment length (tests compress time; the product uses the store's default). */
  store?: { segmentDurationMs?: number };
  transfer?: {
    chunkSize?: number;
    tickMs?: number;
    settleMs?: number;
    deadlineMarginMs?: number;
    /** false: accept uploads without a custody proof (test edges that are a bare store, no custody recorder). */
    verifyCustody?: boolean;
    /** false: the continuous options do not record live at central (transfer tests without a live path). */
    recordLive?: boolean;
  };
  /** Live relay timings and hooks (spread over the composed options). */
  live?: Partial<Omit<CentralLiveOptions, "requester" | "clock" | "log" | "streams">>;
  /** Sees every live request central sends to an edge (tests count them). */
  onLiveRequest?: (siteId: string, req: LiveRequest) => void;
  /** Lease time (central/cluster); default real time, whatever `clock` is (a test clock jumping ahead must not expire leases). */
  cluster?: { clock?: Clock };
  /** The control plane's external broker, known only once central's CA exists (tests against Mosquitto). */
  controlPlaneMqtt?: (core: CentralCore) => Promise<{ mqttUrl: string; mqttClient: { certPem: string; keyPem: string; clientId?: string } }>;
}

/**
 * Builds and starts the whole central site from a parsed config. The product (central/main.ts)
 * and every test harness call this, so they run one wiring; tests override parts, not the wiring.
 */
export async function composeCentral(cfg: CentralConfig, o: CentralOverrides = {}): Promise<CentralSite> {
  // Before anything in the data dir is opened: a second central on it is refused here, not
  // after it has written the embedded database beside the first (lib/lock). Cluster nodes
  // share the store (storage.path), never a data dir: the store is not what is locked.
  return startHoldingDataDir(cfg.dataDir, "central", "close", () => composeLocked(cfg, o));
}

async function composeLocked(cfg: CentralConfig, o: CentralOverrides): Promise<CentralSite> {
  const clock = o.clock ?? systemClock;
  const log = o.log ?? createLogger("central");
  // Created before every module that consumes edge events: each subscribes as it is built.
  const siteEvents = new SiteEvents(log.child({ component: "central.site-events" }));
  // Central's database first: with storage.index "database" the store keeps its segment index
  // there (central/media), so every central node sees the same rows; an older installation's
  // DuckDB store index is copied in once when it is switched on.
  const database = await openCentralDatabase(cfg.database, cfg.dataDir, log.child({ component: "central.db" }));
  const storeRoot = cfg.storage.path ?? join(cfg.dataDir, "store");
  const inDatabase = cfg.storage.index === "database";
  let cluster: Cluster;
  let othersAlive = false;
  let store: MediaStore;
  try {
    if (inDatabase) await importLegacyStore(database, storeRoot, log.child({ component: "central.store" }), clock.now());
    // Another node alive on the shared store: a file without a row may be its segment in the
    // making, so recovery at start leaves every site alone (asked before this node's first round).
    othersAlive = inDatabase && (await otherNodesAlive(database, cfg.cluster.nodeId ?? persistedNodeId(cfg.dataDir), (o.cluster?.clock ?? systemClock).now()));
    // Which sites this node handles (all of them when alone, the default; its partitions' in a
    // cluster), known before the store: it is given the ownership and the fence as it is made.
    cluster = await startCluster({ db: database, config: cfg.cluster, dataDir: cfg.dataDir, ...(o.cluster?.clock ? { clock: o.cluster.clock } : {}), log: log.child({ component: "central.cluster" }) });
  } catch (e) {
    await database.close().catch(() => undefined);
    throw e;
  }
  const owns = (siteId: string) => cluster.leases.owns(siteId);
  // Database mode: central/media's commit (the transfer receiver's) and upkeep over the same
  // directory and rows; its commits in flight are named by this node's id (central/media/intents.ts).
  const media = inDatabase ? new CentralMedia({ db: database, blobs: new FsBlobStore(storeRoot, { writer: cluster.nodeId }), clock, nodeId: cluster.nodeId, log: log.child({ component: "central.media" }) }) : null;
  try {
    // With the index in the database several nodes may share the store: each node's retention
    // deletes only the sites whose partition it owns, and the live recorder's rows are fenced by
    // the site's partition epoch.
    const fence: SegmentFence = leaseFence(cluster.leases);
    store = await MediaStore.open({
      root: storeRoot,
      clock,
      log: log.child({ component: "central.store" }),
      ...(inDatabase ? { index: async () => new PgStoreIndex(database, () => clock.now(), () => fence), retentionScope: ownedCameras(owns) } : {}),
      ...(othersAlive ? { recoveryScope: () => false } : {}),
      ...(cfg.storage.maxTotalBytes !== undefined ? { maxTotalBytes: cfg.storage.maxTotalBytes } : {}),
      ...(cfg.storage.minFreeBytes !== undefined ? { minFreeBytes: cfg.storage.minFreeBytes } : {}),
      ...(o.store?.segmentDurationMs !== undefined ? { segmentDurationMs: o.store.segmentDurationMs } : {}),
    });
  } catch (e) {
    await cluster.close().catch(() => undefined);
    await database.close().catch(() => undefined);
    throw e;
  }
  // Central's own live recordings are chained and signed like an edge's (central/custody/own.ts).
  const custody = await attachCentralCustody(store, { dataDir: cfg.dataDir, clock, log: log.child({ component: "central.custody" }) });
  // Closed in reverse: the modules, the store, central, custody, then the cluster (a graceful close gives the partitions back) and the database.
  const closers: (() => Promise<void> | void)[] = [() => database.close(), () => cluster.close(), () => custody.close(), () => store.close()];
  /** Set once central's listeners exist: stop taking requests and let those inside finish. */
  let quiesce: (() => Promise<void>) | undefined;
  const close = async () => {
    // Before any module or database closes: a request arriving now would meet a closed database
    // (a 500, "connection disconnected"), so it gets 503 + Retry-After instead (lib/http/drain.ts).
    await quiesce?.();
    for (const c of closers.reverse()) await Promise.resolve(c()).catch((e) => log.warn("close failed", { err: e as Error }));
  };
  try {
    const caBundle = dataPaths(cfg.dataDir).caBundle;
    let caMaterial: Promise<CaMaterial> | undefined;
    const t = o.transfer ?? {};
    // Live WebSockets and RTSP sessions per user: the users module closes them when access ends.
    const streams = new UserStreams();
    // Built once central's core (registry, broker, operations) exists, before any edge or user
    // can connect, each after what it needs: control plane → live → transfer → the rest.
    let preview!: PreviewModule;
    let built: { mirror: EdgeIndex; sites: Sites; live: CentralLive; recorder: LiveRecorder; transfer: TransferModule; topics: OwnedSiteTopics; credentials: () => StreamCredentials | undefined; presenceFresh: () => Promise<void> } | undefined;
    const buildModules = async (core: CentralCore): Promise<CentralModules> => {
      // The edge-index mirror (in central's database; the fleet's tracks in sites.duckdb): written by the control plane, read by transfer and the timeline.
      const mirror = await EdgeIndex.open(core.database, join(cfg.dataDir, "sites.duckdb"), log.child({ component: "central.mirror" }));
      closers.push(() => mirror.close());
      // Previews edges send (central/preview): the index in the database, the files under DATA/preview.
      preview = await createPreview({ dataDir: cfg.dataDir, database: core.database, clock, log: log.child({ component: "central.preview" }) });
      closers.push(() => preview.close());
      // The control plane's subscriptions: the owned partitions' active sites (every site when alone).
      const topics = siteTopics(cluster, () => core.siteIds({ active: true }), log.child({ component: "central.cluster" }));
      closers.push(() => topics.close());
      // Shared store: each site's partition owner recovers what a stopped node left and sweeps blobs without rows (central/media/upkeep.ts).
      if (media) {
        const upkeep = new MediaUpkeep({ store, media, leases: cluster.leases, sites: () => core.siteIds(), quietMs: cluster.leases.leaseMs, log: log.child({ component: "central.store" }) });
        upkeep.start(othersAlive ? cluster.leases.owned().keys() : []);
        closers.push(() => upkeep.close());
      }
      // mqtt.url: the external broker every node of a cluster shares. One client id per node: two
      // clients with one id would take each other's session over.
      const externalMqtt = o.controlPlaneMqtt
        ? await o.controlPlaneMqtt(core)
        : cfg.mqtt.url
          ? { mqttUrl: cfg.mqtt.url, mqttClient: { ...(await centralMqttIdentity(cfg.dataDir)), clientId: `central-${cluster.nodeId}` } }
          : {};
      // Shared presence (site_presence): this node writes its own sites' state, and answers for
      // sites another node owns from the table (read once per interval, not per request).
      let presence: SharedPresence | undefined;
      const cp = await openSites({
        ownership: topics,
        // On a PostgreSQL server (where nodes share the sites, each hearing its part) a short queue waits
        // 25 ms for more: ~2× fewer transactions per message (bench/controlplane.bench.ts --part cluster).
        batchLingerMs: cfg.database.url ? 25 : 0,
        remotePresence: (id) => presence?.remote(id),
        // Health reports the owners carried to site_presence: every node lists every site's health.
        remoteHealth: { all: () => (presence?.remoteHealthAll() ?? []) as [string, SiteHealth][], of: (id) => presence?.remoteHealth(id) as SiteHealth | undefined },
        mirror,
        central: core,
        log: log.child({ component: "central.sites" }),
        // What central holds comes from its store (central/holdings), not from transfer.
        centralRanges: (id, stream, f, to) => centralRanges(store, id, stream, f, to),
        onSiteEvent: siteEvents.emit,
        ...externalMqtt,
      });
      closers.push(() => cp.close());
      const sites = cp.sites;
      // The camera list's fallback for a missed NOTIFY: checked once a heartbeat while other nodes own sites, re-read if cp_cameras changed.
      closers.push(cluster.leases.onRound(() => {
        if (!cluster.leases.ownsAll()) void sites.camerasMaybeChanged().catch((e) => log.warn("camera list check failed", { err: e as Error }));
      }));
      // Presence flushes every 2 s for the sites of this node's partitions: only those, not the registry's every site.
      const presenceSites = ownedSites(cluster.leases, () => core.siteIds({ active: true }));
      closers.push(() => presenceSites.close());
      presence = new SharedPresence({
        db: core.database,
        nodeId: cluster.nodeId,
        owns: (id) => cluster.leases.owns(id),
        ownsAll: () => cluster.leases.ownsAll(),
        sites: presenceSites.ids,
        local: (id) => ({ online: core.sessionCount(id) > 0 || sites.localOnline(id), lastSeenMs: sites.control.lastSeen.get(id) ?? null }),
        health: (id) => sites.control.latestHealth.get(id),
        // Taken over: the previous owner's last sighting counts as this node's (with an external broker the edge stayed connected).
        adopt: (id, ms) => {
          if ((sites.control.lastSeen.get(id) ?? 0) < ms) sites.control.lastSeen.set(id, ms);
        },
        leaseMs: cluster.leases.leaseMs,
        intervalMs: Math.min(2_000, cluster.leases.heartbeatMs),
        throttleMs: cluster.leases.heartbeatMs,
        // Health shared every 3 heartbeats (15 s by default; an edge reports every 30 s).
        healthShareMs: 3 * cluster.leases.heartbeatMs,
        ...(o.cluster?.clock ? { clock: o.cluster.clock } : {}),
        log: log.child({ component: "central.presence" }),
      });
      await presence.start();
      const presenceOf = presence;
      closers.push(() => presenceOf.close());
      // Live across nodes (cluster.internalListen): uplinks registered in live_uplinks, relayed
      // between nodes over the internal mTLS listener. A single node has neither.
      const internal = cfg.cluster.internalListen;
      let relaying: Pick<CentralLiveOptions, "cluster"> = {};
      let nodeTls: Awaited<ReturnType<typeof nodeIdentity>> | undefined;
      if (internal) {
        const uplinks = new LiveUplinks({ db: core.database, nodeId: cluster.nodeId, leaseMs: cluster.leases.leaseMs, ...(o.cluster?.clock ? { clock: o.cluster.clock } : {}) });
        await uplinks.clearOwn(); // a previous run under this node id left them; its uplinks ended with it
        const purge = () => void uplinks.purge().catch((e) => log.warn("live uplink purge failed", { err: e as Error }));
        closers.push(cluster.leases.onRound(purge));
        nodeTls = await nodeIdentity(cfg.dataDir, cluster.nodeId);
        relaying = { cluster: liveCluster({ uplinks, tls: nodeTls, log: log.child({ component: "central.live.relay" }), unreachableMs: cluster.leases.leaseMs }) };
      }
      const live = new CentralLive({
        streams,
        mayView: (sub, siteId, camera) => core.ops.rights.has(sub, "view-live", { site: siteId, camera }),
        clock,
        log: log.child({ component: "central.live" }),
        requester: {
          request: async (siteId, req) => {
            o.onLiveRequest?.(siteId, req);
            await commandRequester(sites).request(siteId, req);
          },
        },
        siteExists: (id) => core.site(id)?.state === "active",
        cameraExists: async (siteId, cameraId) => (await sites.camerasOf(siteId)).some((c) => c.channel === cameraId),
        linkOf: (siteId) => sites.linkType(siteId),
        // Live within the link budget (central/transfer/live-budget.ts).
        gate: (siteId) => transfer.liveBudget.gate(siteId),
        onBytes: (siteId, n) => transfer.liveBudget.add(siteId, n),
        ...relaying,
        ...o.live,
      });
      closers.push(() => live.close());
      if (internal && nodeTls) {
        const relayListener = await startRelayListener({ live, tls: nodeTls, host: internal.host, port: internal.port, minVersion: cfg.tls.minVersion, log: log.child({ component: "central.live.relay" }) });
        closers.push(() => relayListener.close());
        const host = internal.host === "0.0.0.0" || internal.host === "::" ? hostname() : internal.host;
        cluster.leases.setInternalUrl(cfg.cluster.internalUrl ?? `https://${host.includes(":") ? `[${host}]` : host}:${relayListener.port}`);
        await cluster.leases.round(); // published now, not at the next heartbeat
      }
      const recorder = new LiveRecorder(live, store, log.child({ component: "central.live-recorder" }));
      closers.push(() => recorder.stopAll());
      const transfer = await createTransfer({
        dataDir: cfg.dataDir,
        database: core.database,
        // The retrieval worker runs for the sites this node's partitions hold; a claim takes their jobs over.
        ownership: cluster.leases,
        store,
        ...(media ? { media } : {}),
        clock,
        log: log.child({ component: "central.transfer" }),
        // The CA bundle is created when central starts; read it at each check (it can gain a CA).
        ...(t.verifyCustody === false ? {} : { custodyCaPem: () => readFileSync(caBundle, "utf8") }),
        chunkSize: t.chunkSize,
        tickMs: t.tickMs,
        settleMs: t.settleMs,
        deadlineMarginMs: t.deadlineMarginMs,
        sites,
        mirror,
        ops: core.ops,
        ...(t.recordLive === false ? {} : { recordLive: (id: string, stream: StreamKind) => recorder.recordLive(id, stream) }),
      });
      closers.push(() => transfer.close());
      // Geofence entries/exits are site events like the edges' own (central/fleet).
      const geofences = new Geofences({ db: () => mirror.fleet, emit: siteEvents.emit, log: log.child({ component: "central.fleet" }) });
      await geofences.init();
      // Each stored track chunk: geofence entries/exits, and its pieces into the search index.
      const trackIndex = new TrackIndex({ db: () => mirror.fleet, log: log.child({ component: "central.fleet" }), now: () => clock.now() });
      await trackIndex.init();
      trackIndex.start();
      closers.push(() => trackIndex.stop());
      sites.control.onTrack = async (siteId, points) => void (await Promise.all([geofences.onTrack(siteId, points), trackIndex.add(siteId, points)]));
      siteEvents.subscribe((e) => transfer.onSiteEvent(e));
      siteEvents.subscribe((e) => onvif?.onSiteEvent(e));
      // Edge events (motion, inputs, camera offline, …) join the one event model: rules, alarms.
      // e.cameraId is already central's `<site>.<camera>` (SiteEvent).
      siteEvents.subscribe((e) => {
        if (e.kind === "outpost.log") core.ops.ingestEdgeLogs(e.siteId, [e.data]);
        else if (!e.kind.startsWith("outpost."))
          void core.ops
            .ingestEvent({ id: `${e.siteId}:${e.eventId}`, type: e.kind, time: new Date(e.atMs).toISOString(), source: "edge", siteId: e.siteId, cameraId: e.cameraId ?? undefined, data: e.data ?? {} } as never)
            .catch((err) => log.warn("edge event not ingested", { err: err as Error, event: e.eventId }));
      });
      // Campaign stages reach edges over the control plane at once instead of at their next offer poll.
      core.firmware.setNotifier(commandNotifier((siteId, name, args, ttlMs) => sites.command(siteId, name, args, ttlMs, "central.firmware"), log.child({ component: "central.firmware" })));
      closers.push(() => core.firmware.setNotifier(undefined));
      let credentials: StreamCredentials | undefined;
      const modules: CentralModules = {
        federationRoutes: (app) => {
          transfer.federationRoutes(app);
          preview.federationRoutes(app);
          live.federationRoutes(app);
        },
        apiRoutes: (api, db) => {
          cp.apiRoutes(api);
          mountFleetRoutes(api, { sites: () => sites, siteList: () => core.sites(), lastOffloadMs: (id) => transfer.engine.offload.lastOffloadedMs(id) });
          mountFleetMapRoutes(api, { sites: () => sites, map: cfg.web.map });
          geofences.mount(api);
          transfer.apiRoutes(api);
          preview.apiRoutes(api, () => sites);
          live.apiRoutes(api);
          if (cfg.live.rtsp.enabled) {
            credentials = new StreamCredentials(db, clock, (u) => api.ops.users.subjectOf(u));
            credentials.apiRoutes(api, () => (rtsp ? `${rtsp.baseUrl}/<site>.<camera>/<main|sub>` : null));
          }
          const exportJobs = mountExports(api, {
            dataDir: cfg.dataDir,
            clock,
            log: log.child({ component: "central.exports" }),
            retrieval: (id) => transfer.engine.retrievals.getRetrieval(id),
            retrieve: async (r) => {
              const v = await transfer.engine.retrievals.createRetrieval({ ...r, reason: "export" });
              return { id: v.id, state: v.state, progress: v.progress, etaSeconds: v.etaSeconds };
            },
            deps: async () => {
              const p = dataPaths(cfg.dataDir);
              const ca = await (caMaterial ??= loadCa(readFileSync(p.caCert, "utf8"), readFileSync(p.caKey, "utf8")));
              return {
                store,
                verifier: transfer.custody!,
                own: custody,
                caPem: readFileSync(p.caBundle, "utf8"),
                caKey: ca.key,
                // Central revokes sites: the revoked site's current certificate, from its revocation time.
                revoked: () => core.sites().filter((s) => s.revokedAt && s.certificate).map((s) => ({ serial: s.certificate!.serial, revokedAtMs: Date.parse(s.revokedAt!), reason: "site revoked" })),
                clock,
                track: (siteId, f, t) => new FleetStore(() => mirror.fleet).around(siteId, f, t),
              };
            },
          });
          closers.push(() => exportJobs.close());
          mountOnvifRoutes(api, { bridge: () => onvif, rights: () => core.ops.rights, sites: async () => (await sites.cameras()).filter((c) => !c.revoked) });
        },
        siteDetails: async (id) => ({ ...(await cp.siteDetails(id)), ...(await transfer.siteDetails(id)) }),
        presence: (id) => presenceOf.remote(id),
        presenceFresh: () => presenceOf.fresh(),
      };
      built = { mirror, sites, live, recorder, transfer, topics, credentials: () => credentials, presenceFresh: () => presenceOf.fresh() };
      return modules;
    };
    let rtsp: RtspOut | undefined;
    let onvif: CentralOnvif | undefined;
    let metricsUrl: string | undefined;
    const central = await startCentral(cfg, { clock, log, streams, modules: buildModules, database });
    // Closers run in reverse: central closes after the store and before custody, as before; the database last.
    closers.splice(3, 0, () => central.close());
    const { mirror, sites, live, recorder, transfer, topics } = built!;
    cluster.leases.setApiUrl(central.apiUrl);
    quiesce = async () => {
      central.http.begin();
      transfer.engine.endLongPolls();
      await central.http.settle(SHUTDOWN_SETTLE_MS);
    };
    const credentials = built!.credentials();
    if (cfg.live.rtsp.enabled) {
      const r = cfg.live.rtsp;
      await credentials!.init();
      rtsp = await startRtspOut({
        live,
        // With the ONVIF bridge on, RTSP out also takes each user's ONVIF password (central/onvif/credentials.ts).
        users: { verify: (u, p, c) => (onvif ? onvif.credentials.verify(u, p, c) : central.ops.users.verify(u, p, c)) },
        rights: central.ops.rights,
        streams,
        credentials: credentials!,
        audit: (a) => void central.ops.recordAudit(a as never),
        host: r.host,
        tls: { ...central.userTls, port: r.tlsPort, minVersion: cfg.tls.minVersion },
        ...(r.plain !== "off" ? { port: r.port, plainPasswords: r.plain } : {}),
        // Recorded footage for ONVIF replay (and any RTSP player): central's store; edge-only ranges are retrieved first.
        replay: new ReplaySource({
          source: store,
          edgeHolds: async (id, stream, f, t) => {
            const i = id.indexOf(".");
            return (await sites.timeline(id.slice(0, i), id.slice(i + 1), stream, f, t)).ranges.some((r) => r.held === "edge");
          },
          retrieve: async (id, _stream, f, t) => (await transfer.requestRetrieval({ cameraId: id, siteId: id.slice(0, id.indexOf(".")), fromMs: f, toMs: t, priority: "request", reason: { kind: "onvif-replay" } })).retrievalId,
          clock,
          log: log.child({ component: "central.rtsp.replay" }),
        }),
        log: log.child({ component: "central.rtsp" }),
      });
      closers.push(() => rtsp!.close());
      if (r.plain !== "off")
        log.warn(`plain RTSP out is on (live.rtsp.plain: ${r.plain}): ${r.plain === "account-passwords" ? "account passwords" : "stream credentials"} and video cross the network in clear; players should use rtsps://`, { port: rtsp.port });
    }
    if (cfg.onvif.enabled) {
      if (!rtsp) throw new Error("onvif.enabled needs live.rtsp.enabled: ONVIF stream and replay URIs point at RTSP out");
      onvif = await startCentralOnvif({
        dataDir: cfg.dataDir,
        host: cfg.onvif.host,
        port: cfg.onvif.port,
        ...(cfg.onvif.discovery.enabled ? { discoveryPort: cfg.onvif.discovery.port } : {}),
        users: central.ops.users,
        rights: central.ops.rights,
        alarms: central.ops.alarms,
        audit: (a) => void central.ops.recordAudit(a as never),
        cameras: async () => (await sites.cameras()).filter((c) => !c.revoked).map((c) => ({ id: c.id, siteId: c.siteId, channel: c.channel, name: c.name, streams: c.streams })),
        cameraSites: () => sites.cameraSiteIds(),
        timeline: (s, c, st, f, t) => sites.timeline(s, c, st, f, t),
        rtsp,
        store,
        log: log.child({ component: "central.onvif" }),
        clock,
      });
      closers.push(() => onvif!.close());
    }
    if (cfg.metrics.port !== null) {
      const registry = centralMetrics({
        name: cfg.name,
        clock,
        sites: () => central.sites(),
        presenceFresh: built!.presenceFresh,
        controlPlane: () => (sites.control ? { stats: sites.control.stats, backlog: sites.control.backlog } : null),
        liveFeeds: () => live.stats(),
        retrievals: () => transfer.engine.retrievals.retrievalCounts(),
        goodput: (id) => transfer.engine.meter.goodputOf(id),
        linkType: (id) => sites.linkType(id),
        receiver: () => transfer.receiver.stats,
      });
      const metrics = await startMetricsListener({ config: { ...cfg.metrics, port: cfg.metrics.port }, registry, tls: central.userTls, log: log.child({ component: "central.metrics" }) });
      closers.push(() => metrics.close());
      metricsUrl = metrics.url;
    }
    const retention = new CentralRetention({ store, config: cfg.retention, siteName: (id) => central.site(id)?.name, audit: (a) => central.ops.recordAudit(a), log: log.child({ component: "central.retention" }), previews: (policyOf) => preview.prune(policyOf, () => sites.mirrorDb), ...(inDatabase ? { owns } : {}) });
    retention.start(cfg.storage.retentionIntervalMs);
    closers.push(() => retention.stop());
    log.info("central site ready", { api: central.apiUrl, rtsp: rtsp ? rtsp.baseUrl : "off", onvif: onvif ? onvif.url : "off" });
    return { central, sites, mirror, cluster: { ...cluster, topics }, siteEvents, live, recorder, streams, transfer, preview, store, retention, ...(rtsp ? { rtsp } : {}), ...(onvif ? { onvif } : {}), ...(metricsUrl ? { metricsUrl } : {}), close };
  } catch (e) {
    await close();
    throw e;
  }
}
