/**
 * Central live recording for the continuous options (after-link-down, both, central-only):
 * every engine tick starts central's live recorder (central/live LiveRecorder.recordLive) for
 * each camera stream whose policy is continuous and stops the ones whose policy no longer is.
 * In a cluster only the site's partition owner records (the others stop when it moves).
 * Owns only those recordings: must not plan backfill (planner.ts) nor decide what central
 * holds (central/holdings).
 */
import type { Logger } from "../../lib/log/index.ts";
import type { StreamKind } from "../../lib/store/index.ts";
import { centralCameraId } from "../../federation/protocol/index.ts";
import { effectivePolicy } from "../../federation/transfer/index.ts";
import type { Sites } from "../sites/index.ts";
import type { SiteInputs } from "./site-inputs.ts";

/** The options that keep central's copy continuous: central records live and backfills the rest. */
export const CONTINUOUS = ["after-link-down", "both", "central-only"] as const;

/** Starts central's live recording of a camera stream; the function it returns stops it. */
export type RecordLive = (centralCameraId: string, stream: StreamKind) => () => Promise<void>;

export class LiveRecording {
  private live = new Map<string, () => Promise<void>>();

  constructor(
    private readonly d: {
      sites: Pick<Sites, "camerasBySite" | "siteActive">;
      inputs: Pick<SiteInputs, "policies">;
      log: Logger;
      recordLive?: RecordLive;
      /**
       * The sites this node records (central/cluster: the partition owner's, whose segment rows the
       * epoch fence accepts); absent = all. Another node's recording would pull a relay and write
       * files whose rows are refused.
       */
      owns?: (siteId: string) => boolean;
    },
  ) {}

  /** Recordings match the policies now (called every tick). */
  async reconcile(): Promise<void> {
    const rec = this.d.recordLive;
    const s = this.d.sites;
    if (!rec) return;
    const want = new Map<string, { cameraId: string; stream: StreamKind }>();
    // This node's sites only, and their policies in one read: every tick, on every node.
    const mine = [...(await s.camerasBySite())].filter(([siteId]) => (!this.d.owns || this.d.owns(siteId)) && s.siteActive(siteId));
    const policies = await this.d.inputs.policies(mine.map(([siteId]) => siteId));
    for (const [siteId, channels] of mine) {
      const policy = policies.get(siteId) ?? null;
      for (const channel of channels) {
        const eff = effectivePolicy(policy, channel);
        const cameraId = centralCameraId(siteId, channel);
        if (eff.options.some((o) => (CONTINUOUS as readonly string[]).includes(o))) want.set(`${cameraId}/${eff.stream}`, { cameraId, stream: eff.stream });
      }
    }
    for (const [k, w] of want) {
      if (this.live.has(k)) continue;
      try {
        this.live.set(k, rec(w.cameraId, w.stream));
      } catch (e) {
        this.d.log.error("could not start live recording at central", { key: k, err: e as Error });
      }
    }
    for (const [k, stop] of this.live) {
      if (want.has(k)) continue;
      this.live.delete(k);
      await stop().catch(() => undefined);
    }
  }

  async stopAll(): Promise<void> {
    for (const s of this.live.values()) await s().catch(() => undefined);
    this.live.clear();
  }
}
