/**
 * Metrics for the people who run Outpost: a Prometheus registry per edge or central (the demo
 * runs several in one process, so nothing global), gauges read from the process's own status at
 * scrape time, and the separate scrape listener. What each side reports lives beside it
 * (edge/metrics, central/metrics); this folder knows nothing of cameras or sites.
 */
import { Registry, collectDefaultMetrics } from "prom-client";

export { MetricsConfig, isLoopbackHost } from "./config.ts";
export { scrapeGroup, type Sample, type ScrapeGauge } from "./gauge.ts";
export { startMetricsListener, type MetricsListener, type MetricsListenerOptions } from "./listener.ts";
export { Registry };

/** A registry with the process metrics (CPU, memory, open files, event loop lag) already in it. */
export function newRegistry(labels: Record<string, string>): Registry {
  const r = new Registry();
  r.setDefaultLabels(labels);
  collectDefaultMetrics({ register: r });
  return r;
}
