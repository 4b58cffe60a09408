/**
 * Central for transfer system tests, in its own process (so a test can kill -9 it): startCentral
 * with the control plane (central/sites) and the transfer engine wired the way the product
 * wires them. Prints `READY {json}` (urls, ports, admin password) on stdout.
 * Usage: bun transfer-central.ts '{"dataDir":…,"chunkSize":…}'
 */
import "reflect-metadata";
import { startCentral } from "../../central/index.ts";
import { createSites } from "../../central/sites/index.ts";
import { createTransfer } from "../../central/transfer/index.ts";
import { Logger, MemorySink, createLogger } from "../../lib/log/index.ts";
import { systemClock } from "../../lib/clock.ts";
import { CentralLive, LiveRecorder, commandRequester } from "../../central/live/index.ts";
import type { Sites } from "../../central/sites/index.ts";

/** live: also the live relay and recording from live (central/main.ts's wiring) for the continuous options. */
/** host: central's federation and MQTT listeners on this address (a test's veth) instead of loopback. */
const o = JSON.parse(process.argv[2]!) as { dataDir: string; chunkSize?: number; settleMs?: number; deadlineMarginMs?: number; live?: boolean; liveLeaseMs?: number; host?: string };
const quiet = (component: string) => (process.env.CENTRAL_LOG ? createLogger(component) : new Logger({ component, sink: new MemorySink(), level: "error" }));
const tr = await createTransfer({ dataDir: o.dataDir, log: quiet("central.transfer"), chunkSize: o.chunkSize, settleMs: o.settleMs ?? 5000, deadlineMarginMs: o.deadlineMarginMs, tickMs: 300 });
let sitesRef: Sites | undefined;
const live = o.live
  ? new CentralLive({
      clock: systemClock,
      log: quiet("central.live"),
      ...(o.liveLeaseMs ? { leaseMs: o.liveLeaseMs } : {}),
      // Live within the link budget, as central/main.ts wires it.
      gate: (siteId) => tr.liveBudget.gate(siteId),
      onBytes: (siteId, n) => tr.liveBudget.add(siteId, n),
      requester: {
        request: async (siteId, req) => {
          if (!sitesRef) throw new Error("control plane not attached yet");
          await commandRequester(sitesRef).request(siteId, req);
        },
      },
    })
  : null;
const cp = createSites({ dataDir: o.dataDir, log: quiet("central.sites"), centralRanges: tr.centralRanges, onSiteEvent: tr.onSiteEvent });
const central = await startCentral(
  {
    dataDir: o.dataDir,
    api: { port: 0, plainHttp: true },
    enroll: { port: 0 },
    federation: { port: 0, ...(o.host ? { host: o.host } : {}) },
    mqtt: { port: 0, ...(o.host ? { host: o.host } : {}) },
    ...(o.host ? { tls: { serverNames: [o.host, "127.0.0.1", "localhost"] } } : {}),
  } as never,
  {
    log: quiet("central"),
    federationRoutes: (app) => {
      tr.federationRoutes(app);
      live?.federationRoutes(app);
    },
    apiRoutes: (api) => {
      tr.apiRoutes(api);
      cp.apiRoutes(api);
      live?.apiRoutes(api);
    },
    siteDetails: async (id) => ({ ...(await cp.siteDetails(id)), ...(await tr.siteDetails(id)) }),
  },
);
const sites = await cp.attach(central);
sitesRef = sites;
const recorder = live ? new LiveRecorder(live, tr.store, quiet("central.live-recorder")) : null;
tr.attach({ sites, ops: central.ops, ...(recorder ? { recordLive: (id: string, stream: "main" | "sub") => recorder.recordLive(id, stream) } : {}) });
const password = (await Bun.file(central.adminPasswordFile).text()).trim();
process.stdout.write(
  `READY ${JSON.stringify({ apiUrl: central.apiUrl, enrollUrl: central.enrollUrl, federationPort: Number(new URL(central.federationUrl).port), mqttPort: Number(new URL(central.mqttUrl).port), password })}\n`,
);
const stop = async () => {
  await recorder?.stopAll();
  live?.close();
  await tr.close();
  await cp.close();
  await central.close();
  process.exit(0);
};
process.on("SIGTERM", () => void stop());
process.on("SIGINT", () => void stop());
