/**
 * Central for transfer system tests, in its own process (so a test can kill -9 it): the
 * composed central site (composeCentral, the product's wiring) with the tests' short timings.
 * Prints `READY {json}` (urls, ports, admin password) on stdout.
 * Usage: bun transfer-central.ts '{"dataDir":…,"chunkSize":…}'
 */
import "reflect-metadata";
import { startCentralSite } from "../../central/main.ts";
import { testStorageIndex } from "../../central/testkit.ts";
import { Logger, MemorySink, createLogger } from "../../lib/log/index.ts";

/** live: central records live for the continuous options (the test edges then serve live uplinks). */
/** host: central's federation and MQTT listeners on this address (a test's veth) instead of loopback. */
const o = JSON.parse(process.argv[2]!) as { dataDir: string; chunkSize?: number; settleMs?: number; deadlineMarginMs?: number; live?: boolean; liveLeaseMs?: number; host?: string };
const log = process.env.CENTRAL_LOG ? createLogger("central") : new Logger({ component: "central", sink: new MemorySink(), level: "error" });
const site = await startCentralSite(
  {
    dataDir: o.dataDir,
    api: { port: 0, plainHttp: true },
    enroll: { port: 0 },
    federation: { port: 0, ...(o.host ? { host: o.host } : {}) },
    mqtt: { port: 0, ...(o.host ? { host: o.host } : {}) },
    live: { rtsp: { enabled: false } },
    storage: testStorageIndex(),
    ...(o.host ? { tls: { serverNames: [o.host, "127.0.0.1", "localhost"] } } : {}),
  },
  {
    log,
    // The test edges (tests/lib/transfer-edge.ts) are a bare store without a custody recorder.
    transfer: { chunkSize: o.chunkSize, settleMs: o.settleMs ?? 5000, deadlineMarginMs: o.deadlineMarginMs, tickMs: 300, verifyCustody: false, recordLive: !!o.live },
    ...(o.liveLeaseMs ? { live: { leaseMs: o.liveLeaseMs } } : {}),
  },
);
const central = site.central;
const password = (await Bun.file(central.adminPasswordFile).text()).trim();
process.stdout.write(
  `READY ${JSON.stringify({ apiUrl: central.apiUrl, enrollUrl: central.enrollUrl, federationPort: Number(new URL(central.federationUrl).port), mqttPort: Number(new URL(central.mqttUrl).port), password })}\n`,
);
const stop = async () => {
  await site.close();
  process.exit(0);
};
process.on("SIGTERM", () => void stop());
process.on("SIGINT", () => void stop());
