/**
 * Central live recording per site owner: with several central nodes only the node owning a
 * site's partition records its continuous cameras (the epoch fence refuses other nodes' rows);
 * when the site moves, the old owner stops and the new one starts.
 */
import { describe, expect, test } from "bun:test";
import { Logger, MemorySink } from "../../lib/log/index.ts";
import type { SitePolicy } from "../../federation/transfer/index.ts";
import { LiveRecording } from "./live-recording.ts";

const policies: Record<string, SitePolicy> = { s1: { options: ["both"] } as SitePolicy, s2: { options: ["after-link-down"] } as SitePolicy, s3: { options: ["on-request"] } as SitePolicy };
const camerasBySite = async () => new Map(["s1", "s2", "s3"].map((s) => [s, ["cam1"]]));

function node(owned: Set<string>, o: { policyReads?: string[]; revoked?: Set<string>; bySite?: typeof camerasBySite } = {}) {
  const recording = new Set<string>();
  const lr = new LiveRecording({
    sites: { camerasBySite: o.bySite ?? camerasBySite, siteActive: (id) => !o.revoked?.has(id) },
    inputs: { policies: async (ids: readonly string[]) => (o.policyReads?.push(ids.join()), new Map(ids.map((id) => [id, policies[id] ?? ({ options: ["both"] } as SitePolicy)]))) },
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

  test("a tick looks at this node's sites only: their policies in one read, none of other nodes' or revoked sites", async () => {
    // 300 sites of 4 cameras; this node owns 100 of them, one revoked.
    const sites = Array.from({ length: 300 }, (_, i) => `site-${i}`);
    const owned = new Set(sites.filter((_, i) => i % 3 === 0));
    const policyReads: string[] = [];
    const bySite = async () => new Map(sites.map((s) => [s, ["cam1", "cam2", "cam3", "cam4"]]));
    const { lr, recording } = node(owned, { policyReads, revoked: new Set(["site-0"]), bySite });
    await lr.reconcile();
    expect(policyReads).toHaveLength(1); // before: a read per camera of every owned site
    expect(policyReads[0]!.split(",").sort()).toEqual([...owned].filter((s) => s !== "site-0").sort());
    expect(recording.size).toBe(4 * (owned.size - 1));
    expect(recording.has("site-3.cam2")).toBe(true);
    expect(recording.has("site-0.cam1")).toBe(false);
    expect(recording.has("site-1.cam1")).toBe(false);
  });
});
