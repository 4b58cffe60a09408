/**
 * Lease rounds never wait for a pooled connection (issue 17): on a PostgreSQL server startCluster
 * runs the rounds on a connection of their own, so a round completes while every connection of
 * the node's pool is held by other work (before, the renewal queued behind it and the leases
 * could run out). On PGlite (one connection) the rounds share the database, as before.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { promises as fs } from "node:fs";
import os from "node:os";
import path from "node:path";
import { migrateUp } from "../db/migrate.ts";
import { openServer } from "../db/server.ts";
import { postgresUnavailable, startPostgres, testEmbedded, type TestPostgres } from "../db/testkit.ts";
import { ClusterConfig } from "./config.ts";
import { startCluster } from "./index.ts";

const POOL = 10; // openServer's default pool
const noServer = postgresUnavailable();
let pg: TestPostgres | null = null;
let tmp = "";

beforeAll(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), "outpost-leaseconn-"));
  if (!noServer) pg = await startPostgres();
});
afterAll(async () => {
  await pg?.stop();
  await fs.rm(tmp, { recursive: true, force: true });
});

// Rounds by hand: the timer's first round is a heartbeat away.
const config = ClusterConfig.parse({ nodeId: "node-a", heartbeatMs: 60_000, leaseMs: 120_000 });

test.skipIf(!!noServer)("a lease round completes while every pooled connection of the node is busy (server)", async () => {
  const db = await openServer(await pg!.createDatabase());
  await migrateUp(db);
  const cluster = await startCluster({ db, config, dataDir: tmp });
  let release!: () => void;
  let released = false;
  const gate = new Promise<void>((r) => (release = r));
  // Not a timing assertion: only so that a round stuck behind the pool (the defect) ends the test with a wrong result instead of hanging it.
  const unstick = setTimeout(() => ((released = true), release()), 30_000);
  try {
    let started = 0;
    let allStarted!: () => void;
    const busy = new Promise<void>((r) => (allStarted = r));
    const held = Array.from({ length: POOL }, () =>
      db.transaction(async (tx) => {
        await tx.query(`SELECT 1`);
        if (++started === POOL) allStarted();
        await gate;
      }),
    );
    await busy;
    let probed = false;
    const probe = db.query(`SELECT 1 AS one`).then(() => (probed = true)); // waits for a pooled connection
    await cluster.leases.round();
    expect(released).toBe(false); // the round did not need the pool
    expect(probed).toBe(false); // the pool was full throughout
    expect(cluster.leases.ownsAll()).toBe(true);
    const side = await db.ownConnection(); // the renewed leases as the table says (the pool is still full)
    expect(await side.query(`SELECT count(*)::int AS n FROM partitions WHERE node_id = $1 AND lease_until_ms > $2`, ["node-a", Date.now()])).toEqual([{ n: 256 }]);
    await side.close();
    release();
    await Promise.all([...held, probe]);
  } finally {
    clearTimeout(unstick);
    release();
    await cluster.close();
    await db.close();
  }
}, 60_000);

test("on PGlite the rounds share the one connection, and closing the cluster leaves the database open", async () => {
  const db = await testEmbedded(path.join(tmp, "pglite"));
  await migrateUp(db);
  const cluster = await startCluster({ db, config, dataDir: tmp });
  await cluster.leases.round();
  expect(cluster.leases.ownsAll()).toBe(true);
  await cluster.close();
  expect(await db.query(`SELECT count(*)::int AS n FROM partitions WHERE node_id IS NULL`)).toEqual([{ n: 256 }]); // given back on close
  await db.close();
});
