/**
 * The `metrics` section shared by the edge's and central's configuration: where the scrape
 * endpoint listens and what a scraper must present.
 */
import { z } from "zod";

/** Addresses only this machine can reach: no token and no TLS needed there. */
export function isLoopbackHost(host: string): boolean {
  return host === "localhost" || host === "::1" || /^127\.\d+\.\d+\.\d+$/.test(host);
}

export const MetricsConfig = z
  .strictObject({
    /** Port of the separate scrape listener; null (default) = no listener. An endpoint is opened on purpose. */
    port: z.number().int().min(0).max(65535).nullable().default(null),
    /** Loopback by default: Prometheus on the same host, or a node exporter-style agent. */
    host: z.string().min(1).default("127.0.0.1"),
    /** File holding the bearer token scrapers send (Prometheus `authorization: credentials_file`). Required off loopback. */
    tokenFile: z.string().min(1).optional(),
  })
  .refine((m) => m.port === null || isLoopbackHost(m.host) || !!m.tokenFile, {
    message: "metrics.host is reachable from other machines: set metrics.tokenFile (the bearer token scrapers must send)",
  })
  .prefault({});

export type MetricsConfig = z.infer<typeof MetricsConfig>;
