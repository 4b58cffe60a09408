/**
 * Gauges computed at scrape time from the process's own status (no second bookkeeping that could
 * drift from what /health says). Each collect replaces every sample, so a camera or site that is
 * gone stops being reported instead of freezing at its last value.
 */
import { Gauge, type Registry } from "prom-client";

export type Sample = readonly [labels: Record<string, string>, value: number];

export interface ScrapeGauge {
  name: string;
  help: string;
  labels?: readonly string[];
}

/** Registers gauges filled together by one `collect` (one status read per scrape, not one per gauge). */
export function scrapeGroup<K extends string>(registry: Registry, defs: Record<K, ScrapeGauge>, collect: () => Promise<Partial<Record<K, Sample[] | number | null>>>): void {
  const gauges = Object.fromEntries(Object.entries<ScrapeGauge>(defs).map(([k, d]) => [k, new Gauge({ name: d.name, help: d.help, labelNames: [...(d.labels ?? [])], registers: [registry] })])) as Record<K, Gauge>;
  const keys = Object.keys(defs) as K[];
  // prom-client calls collect() of each metric as it renders it; the first one of the group reads
  // the status for all, and the others of the same scrape (within a second) reuse that reading.
  let pending: Promise<void> | null = null;
  let readAt = 0;
  const fill = async () => {
    const values = await collect();
    for (const k of keys) {
      const g = gauges[k];
      g.reset();
      const v = values[k];
      if (v === null || v === undefined) continue;
      if (typeof v === "number") g.set(v);
      else for (const [labels, n] of v as Sample[]) if (Number.isFinite(n)) g.set(labels, n);
    }
  };
  for (const k of keys) {
    (gauges[k] as unknown as { collect: () => Promise<void> }).collect = async () => {
      if (!pending || performance.now() - readAt > 1000) {
        readAt = performance.now();
        pending = fill();
      }
      await pending;
    };
  }
}
