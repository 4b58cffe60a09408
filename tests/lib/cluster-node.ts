/**
 * One central node in its own process (tests/lib/cluster.ts `spawn`), so a test can kill it with
 * -9: the product's wiring (startCentralSite → composeCentral) on the configuration and the
 * JSON-able overrides the test passes. Prints `READY {json}` (API and enrollment URLs, federation port,
 * internal URL, the admin password if this start made the admin) on stdout; SIGTERM closes it.
 * Usage: bun cluster-node.ts '{"name":…,"config":{…},"overrides":{…}}'
 */
import "reflect-metadata";
import { startCentralSite, type CentralOverrides } from "../../central/main.ts";
import type { CentralConfigInput } from "../../central/index.ts";
import { Logger, MemorySink, createLogger } from "../../lib/log/index.ts";

const o = JSON.parse(process.argv[2]!) as { name: string; config: CentralConfigInput; overrides: CentralOverrides };
const log = process.env.CLUSTER_TEST_LOG ? createLogger(o.name) : new Logger({ component: o.name, sink: new MemorySink(), level: "error" });
const site = await startCentralSite(o.config, { ...o.overrides, log });
const rows = await site.central.database.query<{ internal_url: string | null }>(`SELECT internal_url FROM central_nodes WHERE node_id = $1`, [o.name]);
process.stdout.write(
  `READY ${JSON.stringify({ apiUrl: site.central.apiUrl, enrollUrl: site.central.enrollUrl, mqttPort: Number(new URL(site.central.mqttUrl).port), federationPort: Number(new URL(site.central.federationUrl).port), internalUrl: rows[0]?.internal_url ?? null, password: site.central.initialAdminPassword })}\n`,
);
const stop = async () => {
  await site.close();
  process.exit(0);
};
process.on("SIGTERM", () => void stop());
process.on("SIGINT", () => void stop());
