/**
 * The whole central site, composed: the skeleton (startCentral: CA, listeners, users, events,
 * audit, firmware, web) plus the control plane (central/sites), live relay and live recording
 * (central/live), RTSP out (central/live/rtsp) and the transfer engine (central/transfer), all
 * sharing one central MediaStore. `outpost central` and `outpost demo` run this; focused tests
 * may start the skeleton alone and wire only what they test.
 */
import { CentralRetention } from "./retention.ts";
import "reflect-metadata";
import { join } from "node:path";
import { systemClock, type Clock } from "../lib/clock.ts";
import { createLogger, type Logger } from "../lib/log/index.ts";
import { MediaStore } from "../lib/store/index.ts";
import { CentralConfig, startCentral, type Central, type CentralConfigInput } from "./index.ts";
import { createSites, type Sites, type SiteEvent } from "./sites/index.ts";
import { Geofences, mountFleetRoutes } from "./fleet/index.ts";
import { CentralLive, LiveRecorder, commandRequester } from "./live/index.ts";
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

export interface CentralSite {
  central: Central;
  sites: Sites;
  live: CentralLive;
  transfer: TransferModule;
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

export async function startCentralSite(input: CentralConfigInput | CentralConfig, o: { clock?: Clock; log?: Logger } = {}): Promise<CentralSite> {
  const cfg = CentralConfig.parse(input);
  const clock = o.clock ?? systemClock;
  const log = o.log ?? createLogger("central");
  const store = await MediaStore.open({
    root: join(cfg.dataDir, "store"),
    clock,
    log: log.child({ component: "central.store" }),
    ...(cfg.storage.maxTotalBytes !== undefined ? { maxTotalBytes: cfg.storage.maxTotalBytes } : {}),
    ...(cfg.storage.minFreeBytes !== undefined ? { minFreeBytes: cfg.storage.minFreeBytes } : {}),
  });
  // Central's own live recordings are chained and signed like an edge's (central/custody/own.ts).
  const custody = await attachCentralCustody(store, { dataDir: cfg.dataDir, clock, log: log.child({ component: "central.custody" }) });
  const closers: (() => Promise<void> | void)[] = [() => custody.close(), () => store.close()];
  const close = async () => {
    for (const c of closers.reverse()) await Promise.resolve(c()).catch((e) => log.warn("close failed", { err: e as Error }));
  };
  try {
    const caBundle = dataPaths(cfg.dataDir).caBundle;
    let caMaterial: Promise<CaMaterial> | undefined;
    // The CA bundle is created when central starts below; read it at each check (it can gain a CA).
    const transfer = await createTransfer({ dataDir: cfg.dataDir, store, clock, log: log.child({ component: "central.transfer" }), custodyCaPem: () => readFileSync(caBundle, "utf8") });
    closers.push(() => transfer.close());
    const preview = await createPreview({ dataDir: cfg.dataDir, clock, log: log.child({ component: "central.preview" }) });
    closers.push(() => preview.close());
    let sites: Sites | undefined;
    let central: Central | undefined;
    let credentials: StreamCredentials | undefined;
    let rtsp: RtspOut | undefined;
    let onvif: CentralOnvif | undefined;
    let metricsUrl: string | undefined;
    // Geofence entries/exits are site events like the edges' own (central/fleet).
    const geofences = new Geofences({ db: () => sites!.mirrorDb, emit: (e) => onSiteEvent(e), log: log.child({ component: "central.fleet" }) });
    const onSiteEvent = (e: SiteEvent) => {
      transfer.onSiteEvent(e);
      onvif?.onSiteEvent(e);
      // Edge events (motion, inputs, camera offline, …) join the one event model: rules, alarms.
      // e.cameraId is already central's `<site>.<camera>` (SiteEvent).
      if (e.kind === "outpost.log" && central) central.ops.ingestEdgeLogs(e.siteId, [e.data]);
      else if (!e.kind.startsWith("outpost.") && central)
        void central.ops
          .ingestEvent({ id: `${e.siteId}:${e.eventId}`, type: e.kind, time: new Date(e.atMs).toISOString(), source: "edge", siteId: e.siteId, cameraId: e.cameraId ?? undefined, data: (e as { data?: Record<string, unknown> }).data ?? {} } as never)
          .catch((err) => log.warn("edge event not ingested", { err: err as Error, event: e.eventId }));
    };
    const cp = createSites({
      dataDir: cfg.dataDir,
      log: log.child({ component: "central.sites" }),
      centralRanges: transfer.centralRanges,
      onSiteEvent,
    });
    closers.push(() => cp.close());
    // Live WebSockets and RTSP sessions per user: the users module closes them when access ends.
    const streams = new UserStreams();
    const live = new CentralLive({
      streams,
      mayView: (sub, siteId, camera) => !!central && central.ops.rights.has(sub, "view-live", { site: siteId, camera }),
      clock,
      log: log.child({ component: "central.live" }),
      requester: {
        request: async (siteId, req) => {
          if (!sites) throw new Error("control plane not attached yet");
          await commandRequester(sites).request(siteId, req);
        },
      },
      siteExists: (id) => central?.site(id)?.state === "active",
      cameraExists: async (siteId, cameraId) => !!sites && (await sites.cameras()).some((c) => c.siteId === siteId && c.channel === cameraId),
      linkOf: (siteId) => sites?.linkType(siteId),
    });
    closers.push(() => live.close());
    central = await startCentral(cfg, {
      clock,
      log,
      streams,
      federationRoutes: (app) => {
        transfer.federationRoutes(app);
        preview.federationRoutes(app);
        live.federationRoutes(app);
      },
      apiRoutes: (api, db) => {
        cp.apiRoutes(api);
        mountFleetRoutes(api, { sites: () => sites!, siteList: () => central?.sites() ?? [] });
        geofences.mount(api);
        transfer.apiRoutes(api);
        preview.apiRoutes(api, () => sites ?? null);
        live.apiRoutes(api);
        if (cfg.live.rtsp.enabled) {
          credentials = new StreamCredentials(db, clock, (u) => api.ops.users.subjectOf(u));
          credentials.apiRoutes(api, () => (rtsp ? `${rtsp.baseUrl}/<site>.<camera>/<main|sub>` : null));
        }
        const exportJobs = mountExports(api, {
          dataDir: cfg.dataDir,
          clock,
          log: log.child({ component: "central.exports" }),
          retrieval: (id) => transfer.engine.getRetrieval(id),
          retrieve: async (r) => {
            const v = await transfer.engine.createRetrieval({ ...r, reason: "export" });
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
              revoked: () => (central?.sites() ?? []).filter((s) => s.revokedAt && s.certificate).map((s) => ({ serial: s.certificate!.serial, revokedAtMs: Date.parse(s.revokedAt!), reason: "site revoked" })),
              clock,
            };
          },
        });
        closers.push(() => exportJobs.close());
        mountOnvifRoutes(api, { bridge: () => onvif, rights: () => central!.ops.rights, sites: async () => (sites ? (await sites.cameras()).filter((c) => !c.revoked) : []) });
      },
      siteDetails: async (id) => Object.assign({}, ...(await Promise.all([cp.siteDetails(id), transfer.siteDetails(id)]))) as Record<string, unknown>,
    });
    closers.splice(1, 0, () => central!.close());
    sites = await cp.attach(central);
    await geofences.init();
    sites.control.onTrack = (siteId, points) => geofences.onTrack(siteId, points);
    // Campaign stages reach edges over the control plane at once instead of at their next offer poll.
    const cpSites = sites;
    central.firmware.setNotifier(commandNotifier((siteId, name, args, ttlMs) => cpSites.command(siteId, name, args, ttlMs, "central.firmware"), log.child({ component: "central.firmware" })));
    closers.push(() => central!.firmware.setNotifier(undefined));
    const recorder = new LiveRecorder(live, store, log.child({ component: "central.live-recorder" }));
    closers.push(() => recorder.stopAll());
    transfer.attach({ sites, ops: central.ops, recordLive: (id, stream) => recorder.recordLive(id, stream) });
    if (cfg.live.rtsp.enabled) {
      const r = cfg.live.rtsp;
      await credentials!.init();
      rtsp = await startRtspOut({
        live,
        // With the ONVIF bridge on, RTSP out also takes each user's ONVIF password (central/onvif/credentials.ts).
        users: { verify: (u, p, c) => (onvif ? onvif.credentials.verify(u, p, c) : central!.ops.users.verify(u, p, c)) },
        rights: central.ops.rights,
        streams,
        credentials: credentials!,
        audit: (a) => void central!.ops.recordAudit(a as never),
        host: r.host,
        tls: { ...central.userTls, port: r.tlsPort, minVersion: cfg.tls.minVersion },
        ...(r.plain !== "off" ? { port: r.port, plainPasswords: r.plain } : {}),
        // Recorded footage for ONVIF replay (and any RTSP player): central's store; edge-only ranges are retrieved first.
        replay: new ReplaySource({
          source: store,
          edgeHolds: async (id, stream, f, t) => {
            const i = id.indexOf(".");
            return (await cpSites.timeline(id.slice(0, i), id.slice(i + 1), stream, f, t)).ranges.some((r) => r.held === "edge");
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
      const cpSitesForOnvif = sites;
      onvif = await startCentralOnvif({
        dataDir: cfg.dataDir,
        host: cfg.onvif.host,
        port: cfg.onvif.port,
        ...(cfg.onvif.discovery.enabled ? { discoveryPort: cfg.onvif.discovery.port } : {}),
        users: central.ops.users,
        rights: central.ops.rights,
        alarms: central.ops.alarms,
        audit: (a) => void central!.ops.recordAudit(a as never),
        cameras: async () => (await cpSitesForOnvif.cameras()).filter((c) => !c.revoked).map((c) => ({ id: c.id, siteId: c.siteId, channel: c.channel, name: c.name, streams: c.streams })),
        timeline: (s, c, st, f, t) => cpSitesForOnvif.timeline(s, c, st, f, t),
        rtsp,
        store,
        log: log.child({ component: "central.onvif" }),
        clock,
      });
      closers.push(() => onvif!.close());
    }
    if (cfg.metrics.port !== null) {
      const cpSitesForMetrics = sites;
      const registry = centralMetrics({
        name: cfg.name,
        clock,
        sites: () => central!.sites(),
        controlPlane: () => (cpSitesForMetrics.control ? { stats: cpSitesForMetrics.control.stats, backlog: cpSitesForMetrics.control.backlog } : null),
        liveFeeds: () => live.stats(),
        retrievals: () => transfer.engine.retrievalCounts(),
        goodput: (id) => transfer.engine.goodputOf(id),
        linkType: (id) => cpSitesForMetrics.linkType(id),
        receiver: () => transfer.receiver.stats,
      });
      const metrics = await startMetricsListener({ config: { ...cfg.metrics, port: cfg.metrics.port }, registry, tls: central.userTls, log: log.child({ component: "central.metrics" }) });
      closers.push(() => metrics.close());
      metricsUrl = metrics.url;
    }
    const c = central;
    const retention = new CentralRetention({ store, config: cfg.retention, siteName: (id) => c.site(id)?.name, audit: (a) => c.ops.recordAudit(a), log: log.child({ component: "central.retention" }) });
    retention.start(cfg.storage.retentionIntervalMs);
    closers.push(() => retention.stop());
    log.info("central site ready", { api: central.apiUrl, rtsp: rtsp ? rtsp.baseUrl : "off", onvif: onvif ? onvif.url : "off" });
    return { central, sites, live, transfer, preview, store, retention, ...(rtsp ? { rtsp } : {}), ...(onvif ? { onvif } : {}), ...(metricsUrl ? { metricsUrl } : {}), close };
  } catch (e) {
    await close();
    throw e;
  }
}
