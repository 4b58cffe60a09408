/**
 * CommitIntents on both drivers: what cut() lists is exactly what take() deletes (one
 * definition of a cut intent), for every kind of writer — this process, this node's earlier
 * process, a live node, a node whose heartbeat lapsed, a node central_nodes does not know.
 */
import { describe, expect, test } from "bun:test";
import { driversInTempDir, migratedDbForDescribe } from "../database-testkit.ts";
import { CommitIntents } from "./intents.ts";

const { drivers } = driversInTempDir("intents");
const NOW = 1_764_800_000_000;
const LEASE_MS = 3000;

for (const d of drivers) {
  describe.skipIf(d.skip)(`commit intents: ${d.name}`, () => {
    const db = migratedDbForDescribe(d);

    test("cut() lists exactly the intents take() deletes: this node's earlier process and lapsed nodes, never this process, a live node or an unknown one", async () => {
      const node = (id: string, heartbeatMs: number) =>
        db().run(`INSERT INTO central_nodes (node_id, api_url, started_ms, heartbeat_ms) VALUES ($1, $2, $3, $4)`, [id, null, NOW - 60_000, heartbeatMs]);
      await node("me", NOW);
      await node("live", NOW - LEASE_MS + 1);
      await node("lapsed", NOW - LEASE_MS - 1);
      await node("at-the-edge", NOW - LEASE_MS);
      const me = new CommitIntents(db(), "me", "this-process");
      const writers = {
        mine: me,
        "mine-earlier": new CommitIntents(db(), "me", "earlier-process"),
        live: new CommitIntents(db(), "live"),
        lapsed: new CommitIntents(db(), "lapsed"),
        "at-the-edge": new CommitIntents(db(), "at-the-edge"),
        unknown: new CommitIntents(db(), "unknown"),
      };
      for (const [name, w] of Object.entries(writers)) await w.record(`media/bus-1.cam1/main/d/${name}.mp4`, "bus-1", NOW);
      const deadBeforeMs = NOW - LEASE_MS;
      const cut = await me.cut(deadBeforeMs);
      expect(cut).toEqual([
        { blobKey: "media/bus-1.cam1/main/d/lapsed.mp4", siteId: "bus-1", mine: false },
        { blobKey: "media/bus-1.cam1/main/d/mine-earlier.mp4", siteId: "bus-1", mine: true },
      ]);
      const taken: string[] = [];
      for (const name of Object.keys(writers)) if (await me.take(`media/bus-1.cam1/main/d/${name}.mp4`, deadBeforeMs)) taken.push(`media/bus-1.cam1/main/d/${name}.mp4`);
      expect(taken.sort()).toEqual(cut.map((c) => c.blobKey));
      const left = await db().query<{ blob_key: string }>(`SELECT blob_key FROM media_intents ORDER BY blob_key`);
      expect(left.map((r) => r.blob_key)).toEqual(["at-the-edge", "live", "mine", "unknown"].map((n) => `media/bus-1.cam1/main/d/${n}.mp4`));
    });
  });
}
