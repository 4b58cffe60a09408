/**
 * The one list of site-event subscribers. Created before the modules that consume edge events
 * (transfer's on-event policies, rules and alarms through operations, the ONVIF bridge, fleet
 * geofences), so each subscribes when it is built and the control plane only emits: nothing
 * has to be joined afterwards. A subscriber that throws is logged and the others still run.
 */
import type { Logger } from "../../lib/log/index.ts";
import type { SiteEvent } from "./control.ts";

export type SiteEventSubscriber = (e: SiteEvent) => void;

export class SiteEvents {
  private readonly subscribers = new Set<SiteEventSubscriber>();

  constructor(private readonly log?: Logger) {}

  /** Returns the unsubscribe function. */
  subscribe(fn: SiteEventSubscriber): () => void {
    this.subscribers.add(fn);
    return () => this.subscribers.delete(fn);
  }

  /** Hands `e` to every subscriber (the control plane's onSiteEvent). */
  readonly emit = (e: SiteEvent): void => {
    for (const fn of this.subscribers) {
      try {
        fn(e);
      } catch (err) {
        this.log?.error("site event subscriber failed", { err: err as Error, site: e.siteId, event: e.eventId });
      }
    }
  };
}
