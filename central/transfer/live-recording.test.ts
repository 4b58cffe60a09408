/**
 * Central live recording per site owner: with several central nodes only the node owning a
 * site's partition records its continuous cameras (the epoch fence refuses other nodes' rows);
 * when the site moves, the old owner stops and the new one starts.
 */
import { describe, expect, test } from "bun:test";
import { Logger, MemorySink } from "../../lib/log/index.ts";
import type { SitePolicy } from "../../federation/transfer/index.ts";
import type { CentralCamera } from "../sites/index.ts";
import { LiveRecording } from "./live-recording.ts";

const cam = (siteId: string): CentralCamera => ({ id: `${siteId}.cam1`, siteId, channel: "cam1", name: "cam1", enabled: true, online: true, revoked: false, streams: [], updatedAt: "" });
const policies: Record<string, SitePolicy> = { s1: { options: ["both"] } as SitePolicy, s2: { options: ["after-link-down"] } as SitePolicy, s3: { options: ["on-request"] } as SitePolicy };

function node(owned: Set<string>) {
  const recording = new Set<string>();
  const lr = new LiveRecording({
    sites: { cameras: async () => ["s1", "s2", "s3"].map(cam) },
    inputs: { policy: async (siteId: string) => ({ policy: policies[siteId]!, sinceMs: 0 }) },
    log: new Logger({ component: "test", sink: new MemorySink(), level: "error" }),
    recordLive: (id) => {
      recording.add(id);
      return async () => void recording.delete(id);
    },
    owns: (siteId) => owned.has(siteId),
  });
  return { lr, recording };
}

describe("LiveRecording on several central nodes", () => {
  test("only the site's owner records its continuous cameras; a move stops the old owner and starts the new", async () => {
    const ownedA = new Set(["s1", "s3"]);
    const ownedB = new Set(["s2"]);
    const a = node(ownedA);
    const b = node(ownedB);
    await a.lr.reconcile();
    await b.lr.reconcile();
    expect([...a.recording]).toEqual(["s1.cam1"]); // s3 is on-request: not recorded live
    expect([...b.recording]).toEqual(["s2.cam1"]);
    // a dies or gives s1 up; b claims it
    ownedA.delete("s1");
    ownedB.add("s1");
    await a.lr.reconcile();
    await b.lr.reconcile();
    expect([...a.recording]).toEqual([]);
    expect([...b.recording].sort()).toEqual(["s1.cam1", "s2.cam1"]);
  });
});
