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

const o = JSON.parse(process.argv[2]!) as { dataDir: string; chunkSize?: number; settleMs?: number; deadlineMarginMs?: number };
const quiet = (component: string) => (process.env.CENTRAL_LOG ? createLogger(component) : new Logger({ component, sink: new MemorySink(), level: "error" }));
const tr = await createTransfer({ dataDir: o.dataDir, log: quiet("central.transfer"), chunkSize: o.chunkSize, settleMs: o.settleMs ?? 5000, deadlineMarginMs: o.deadlineMarginMs, tickMs: 300 });
const cp = createSites({ dataDir: o.dataDir, log: quiet("central.sites"), centralRanges: tr.centralRanges, onSiteEvent: tr.onSiteEvent });
const central = await startCentral(
  { dataDir: o.dataDir, api: { port: 0, plainHttp: true }, enroll: { port: 0 }, federation: { port: 0 }, mqtt: { port: 0 } },
  {
    log: quiet("central"),
    federationRoutes: tr.federationRoutes,
    apiRoutes: (api) => {
      tr.apiRoutes(api);
      cp.apiRoutes(api);
    },
    siteDetails: async (id) => ({ ...(await cp.siteDetails(id)), ...(await tr.siteDetails(id)) }),
  },
);
const sites = await cp.attach(central);
tr.attach({ sites, ops: central.ops });
const password = (await Bun.file(central.adminPasswordFile).text()).trim();
process.stdout.write(
  `READY ${JSON.stringify({ apiUrl: central.apiUrl, enrollUrl: central.enrollUrl, federationPort: Number(new URL(central.federationUrl).port), mqttPort: Number(new URL(central.mqttUrl).port), password })}\n`,
);
const stop = async () => {
  await tr.close();
  await cp.close();
  await central.close();
  process.exit(0);
};
process.on("SIGTERM", () => void stop());
process.on("SIGINT", () => void stop());
