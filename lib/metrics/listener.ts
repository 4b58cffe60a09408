/**
 * The scrape listener: GET /metrics on its own port, apart from the user API, so a Prometheus
 * server needs neither a user account nor a session. Off loopback it answers only over TLS and
 * only to the bearer token from metrics.tokenFile (checked in constant time).
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { readFile } from "node:fs/promises";
import type { Registry } from "prom-client";
import type { Logger } from "../log/index.ts";
import { localHost, urlHost } from "../http/https.ts";
import { isLoopbackHost, type MetricsConfig } from "./config.ts";

export interface MetricsListener {
  readonly url: string;
  close(): Promise<void>;
}

export interface MetricsListenerOptions {
  config: MetricsConfig & { port: number };
  registry: Registry;
  /** The process's own server certificate: used whenever the listener is reachable from other machines. */
  tls?: { cert: string; key: string };
  log: Logger;
}

const digest = (s: string) => createHash("sha256").update(s).digest();

export async function startMetricsListener(o: MetricsListenerOptions): Promise<MetricsListener> {
  const { config, registry, log } = o;
  const remote = !isLoopbackHost(config.host);
  if (remote && !o.tls) throw new Error("metrics off loopback needs TLS: this process serves no certificate (api.plainHttp?)");
  const token = config.tokenFile ? (await readFile(config.tokenFile, "utf8")).trim() : null;
  if (config.tokenFile && !token) throw new Error(`metrics.tokenFile ${config.tokenFile} is empty`);
  const want = token ? digest(token) : null;
  const server = Bun.serve({
    hostname: config.host,
    port: config.port,
    ...(remote ? { tls: o.tls } : {}),
    async fetch(req) {
      const path = new URL(req.url).pathname;
      if (req.method !== "GET" || path !== "/metrics") return new Response("Only GET /metrics is served here.\n", { status: 404, headers: { "content-type": "text/plain" } });
      if (want) {
        const m = /^Bearer (.+)$/.exec(req.headers.get("authorization") ?? "");
        if (!m || !timingSafeEqual(digest(m[1]!), want)) {
          log.warn("metrics scrape refused: missing or wrong bearer token", { from: server.requestIP(req)?.address ?? "unknown" });
          return new Response("A bearer token is required (metrics.tokenFile).\n", { status: 401, headers: { "content-type": "text/plain", "www-authenticate": 'Bearer realm="outpost-metrics"' } });
        }
      }
      try {
        return new Response(await registry.metrics(), { headers: { "content-type": registry.contentType, "cache-control": "no-store" } });
      } catch (e) {
        log.error("metrics scrape failed", { err: e as Error });
        return new Response("Metrics could not be collected; see the log.\n", { status: 500, headers: { "content-type": "text/plain" } });
      }
    },
  });
  const url = `${remote ? "https" : "http"}://${urlHost(localHost(config.host))}:${server.port}/metrics`;
  log.info("metrics listening", { url, token: !!want });
  return { url, close: async () => void server.stop(true) };
}
