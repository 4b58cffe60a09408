/**
 * central/sites/: the central side of the control plane — ack + dedup of edge messages (in
 * order per edge), writing the edge-index mirror (central/mirror) per camera and the device
 * tree, desired config with versions (retained delivery; desired vs applied), health time
 * series, commands, and the API routes over them. Talks to edges only through federation/protocol over a Bus (embedded aedes or an
 * external broker). Must not import edge/ and does not own trust (central/trust.ts) or
 * users/alarms: events leave through the onSiteEvent callback.
 *
 * Use (composeCentral does this): inside startCentral's `modules` hook, with central's core,
 * const cp = await openSites({ mirror, central: core, onSiteEvent, centralRanges }), then
 * return { apiRoutes: cp.apiRoutes, siteDetails: cp.siteDetails }.
 */
import type { Aedes } from "aedes";
import { systemClock, type Clock } from "../../lib/clock.ts";
import { createLogger, type Logger } from "../../lib/log/index.ts";
import type { ApiRouter } from "../openapi.ts";
import type { EdgeIndex } from "../mirror/index.ts";
import { Sites, type CentralCamera, type SiteHealth } from "./sites.ts";
import { mountSiteRoutes, mergeHoldings, mergeRanges, type Range, type Held } from "./api.ts";
import { aedesBus, externalBus, type Bus } from "./bus.ts";
import type { SiteEvent, SiteOwnership } from "./control.ts";

export { centralMqttIdentity, CENTRAL_MQTT_ID } from "./identity.ts";
export { SiteEvents, type SiteEventSubscriber } from "./subscribers.ts";
export { Sites, mergeHoldings, mergeRanges, aedesBus, externalBus, type Bus, type SiteEvent, type SiteOwnership, type CentralCamera, type SiteHealth, type Range, type Held };

export interface OpenSitesOptions {
  /** The edge-index mirror (central/mirror, DATA/sites.duckdb) this control plane writes; its opener closes it. */
  mirror: EdgeIndex;
  /** The started central's core: registry (site states), embedded broker, CA, sessions. */
  central: CentralLike;
  clock?: Clock;
  log?: Logger;
  /** Where edge events go (composeCentral: the SiteEvents subscriber list). */
  onSiteEvent?: (e: SiteEvent) => void;
  /** What central itself holds of a camera stream, for the merged timeline (central/holdings). */
  centralRanges?: (centralCameraId: string, stream: string, fromMs: number, toMs: number) => Promise<Range[]>;
  healthRetentionMs?: number;
  /** External broker (mqtts://…); default: the embedded aedes broker. Needs `mqttClient` (a cert from the central CA whose CN the broker's ACL allows outpost/v1/sites/#). */
  mqttUrl?: string;
  mqttClient?: { certPem: string; keyPem: string; clientId?: string };
  /** The sites this node handles and the topics it subscribes (central/cluster); absent = every site. */
  ownership?: SiteOwnership;
  /** ControlOptions.batchLingerMs (central/sites/control.ts). */
  batchLingerMs?: number;
  /** Presence of a site another node owns (central/cluster/presence.ts). */
  remotePresence?: (siteId: string) => { online: boolean } | undefined;
  /** Health reports of sites another node owns (central/cluster/presence.ts). */
  remoteHealth?: { all: () => [string, SiteHealth][]; of: (siteId: string) => SiteHealth | undefined };
}

/** What the control plane needs from central's core (a subset of CentralCore). */
export interface CentralLike {
  broker: Aedes;
  caPem: string;
  site(id: string): { state: string } | null;
  /** The state alone (cheaper than site(id)); absent: site(id).state is asked. */
  siteState?(id: string): string | undefined;
  sessionCount(siteId?: string, kind?: "https" | "mqtt"): number;
}

export interface SitesModule {
  readonly sites: Sites;
  apiRoutes: (api: ApiRouter) => void;
  siteDetails: (siteId: string) => Promise<Record<string, unknown>>;
  close(): Promise<void>;
}

/** Opens the mirror and connects the control plane to the broker: ready to use when it resolves. */
export async function openSites(o: OpenSitesOptions): Promise<SitesModule> {
  const clock = o.clock ?? systemClock;
  const log = o.log ?? createLogger("central.sites");
  const { central, mqttUrl, mqttClient } = o;
  // Per message and per camera row: the registry's state, not the site's whole view, where central has it.
  const state = (id: string) => (central.siteState ? central.siteState(id) : central.site(id)?.state);
  const active = (id: string) => state(id) === "active";
  const external = !!mqttUrl;
  const sites = new Sites({
    mirror: o.mirror,
    clock,
    log,
    siteExists: active,
    siteKnown: (id) => state(id) !== undefined,
    isOnline: external ? undefined : (id) => central.sessionCount(id, "mqtt") > 0,
    onSiteEvent: o.onSiteEvent,
    centralRanges: o.centralRanges,
    healthRetentionMs: o.healthRetentionMs,
    ownership: o.ownership,
    batchLingerMs: o.batchLingerMs,
    remotePresence: o.remotePresence,
    remoteHealth: o.remoteHealth,
  });
  try {
    let bus: Bus;
    if (mqttUrl) {
      if (!mqttClient) throw new Error("an external MQTT broker needs a client certificate for central (mqttClient)");
      bus = await externalBus({ url: mqttUrl, ca: central.caPem, cert: mqttClient.certPem, key: mqttClient.keyPem, clientId: mqttClient.clientId, log });
    } else bus = aedesBus(central.broker);
    await sites.start(bus);
  } catch (e) {
    await sites.close().catch(() => undefined);
    throw e;
  }
  log.info("control plane started", { broker: mqttUrl ?? "embedded" });
  return {
    sites,
    apiRoutes: (api) => mountSiteRoutes(api, sites),
    siteDetails: (id) => sites.siteDetails(id),
    close: () => sites.close(),
  };
}
