/**
 * central/sites/: the central side of the control plane — ack + dedup of edge messages (in
 * order per edge), index mirror per camera, device tree mirror, desired config with versions
 * (retained delivery; desired vs applied), health time series, commands, and the API routes
 * over them. Talks to edges only through federation/protocol over a Bus (embedded aedes or an
 * external broker). Must not import edge/ and does not own trust (central/trust.ts) or
 * users/alarms: events leave through the onSiteEvent callback.
 *
 * Use: const cp = createSites({dataDir, ...}); const central = await startCentral(cfg,
 * { apiRoutes: cp.apiRoutes, siteDetails: cp.siteDetails }); await cp.attach(central);
 */
import { join } from "node:path";
import type { Aedes } from "aedes";
import { systemClock, type Clock } from "../../lib/clock.ts";
import { createLogger, type Logger } from "../../lib/log/index.ts";
import type { ApiRouter } from "../openapi.ts";
import type { Db } from "../db.ts";
import { openMirror } from "./mirror.ts";
import { Sites, type CentralCamera } from "./sites.ts";
import { mountSiteRoutes, mergeHoldings, mergeRanges, type Range, type Held } from "./api.ts";
import { aedesBus, externalBus, type Bus } from "./bus.ts";
import type { SiteEvent } from "./control.ts";

export { centralMqttIdentity, CENTRAL_MQTT_ID } from "./identity.ts";
export { Sites, mergeHoldings, mergeRanges, aedesBus, externalBus, type Bus, type SiteEvent, type CentralCamera, type Range, type Held };

export interface CreateSitesOptions {
  /** central's data dir; the mirror lives in <dataDir>/sites.duckdb. */
  dataDir: string;
  clock?: Clock;
  log?: Logger;
  onSiteEvent?: (e: SiteEvent) => void;
  centralRanges?: (centralCameraId: string, stream: string, fromMs: number, toMs: number) => Promise<Range[]>;
  healthRetentionMs?: number;
  /** External broker (mqtts://…); default: the embedded aedes broker. Needs `mqttClient` (a cert from the central CA whose CN the broker's ACL allows outpost/v1/sites/#). */
  mqttUrl?: string;
  mqttClient?: { certPem: string; keyPem: string; clientId?: string };
}

/** What attach() needs from a started central (a subset of Central). */
export interface CentralLike {
  broker: Aedes;
  caPem: string;
  site(id: string): { state: string } | null;
  sessionCount(siteId?: string, kind?: "https" | "mqtt"): number;
}

export interface SitesModule {
  apiRoutes: (api: ApiRouter) => void;
  siteDetails: (siteId: string) => Promise<Record<string, unknown>>;
  /** `external` overrides mqttUrl/mqttClient given at creation (their cert needs central's CA, which exists only now). */
  attach(central: CentralLike, external?: { mqttUrl: string; mqttClient: { certPem: string; keyPem: string; clientId?: string } }): Promise<Sites>;
  readonly sites: Sites | null;
  close(): Promise<void>;
}

export function createSites(o: CreateSitesOptions): SitesModule {
  const clock = o.clock ?? systemClock;
  const log = o.log ?? createLogger("central.sites");
  let sites: Sites | null = null;
  let db: Db | null = null;
  const need = () => {
    if (!sites) throw new Error("control plane not attached yet");
    return sites;
  };
  return {
    apiRoutes: (api) => {
      // Routes resolve `sites` lazily: they are mounted before the broker exists.
      const proxy = new Proxy({} as Sites, { get: (_t, k) => { const s = need(); const v = (s as unknown as Record<string | symbol, unknown>)[k]; return typeof v === "function" ? (v as (...a: unknown[]) => unknown).bind(s) : v; } });
      mountSiteRoutes(api, proxy);
    },
    siteDetails: async (id) => (sites ? await sites.siteDetails(id) : {}),
    async attach(central, ext) {
      const mqttUrl = ext?.mqttUrl ?? o.mqttUrl;
      const mqttClient = ext?.mqttClient ?? o.mqttClient;
      db = await openMirror(join(o.dataDir, "sites.duckdb"));
      const active = (id: string) => central.site(id)?.state === "active";
      const external = !!mqttUrl;
      sites = new Sites({
        db,
        clock,
        log,
        siteExists: active,
        siteKnown: (id) => !!central.site(id),
        isOnline: external ? undefined : (id) => central.sessionCount(id, "mqtt") > 0,
        onSiteEvent: o.onSiteEvent,
        centralRanges: o.centralRanges,
        healthRetentionMs: o.healthRetentionMs,
      });
      let bus: Bus;
      if (mqttUrl) {
        if (!mqttClient) throw new Error("an external MQTT broker needs a client certificate for central (mqttClient)");
        bus = await externalBus({ url: mqttUrl, ca: central.caPem, cert: mqttClient.certPem, key: mqttClient.keyPem, clientId: mqttClient.clientId, log });
      } else bus = aedesBus(central.broker);
      await sites.attach(bus);
      log.info("control plane attached", { broker: mqttUrl ?? "embedded" });
      return sites;
    },
    get sites() {
      return sites;
    },
    async close() {
      await sites?.close();
      await db?.close();
    },
  };
}
