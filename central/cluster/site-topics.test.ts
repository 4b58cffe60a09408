/**
 * The control-plane topics a node subscribes follow its partitions, on a real (in-process)
 * aedes broker and leases in embedded PGlite: the wildcard while it holds all 256, exactly its
 * own sites' topics once a second node takes half, and the wildcard again when that node is
 * gone. A message of a site it does not own is not delivered to it.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { promises as fs } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Aedes } from "aedes";
import { ManualClock } from "../../lib/clock.ts";
import { topics } from "../../federation/protocol/index.ts";
import { migrateUp, type Database } from "../db/index.ts";
import { testEmbedded } from "../db/testkit.ts";
import { aedesBus } from "../sites/index.ts";
import { Leases } from "./leases.ts";
import { partitionOf } from "./partition.ts";
import { OwnedSiteTopics } from "./site-topics.ts";

let tmp: string;
let db: Database;
let broker: Aedes;

beforeAll(async () => {
  tmp = await fs.mkdtemp(path.join(tmpdir(), "outpost-sitetopics-"));
  db = await testEmbedded(path.join(tmp, "pg"));
  await migrateUp(db);
  broker = await Aedes.createBroker();
});
afterAll(async () => {
  await new Promise<void>((r) => broker.close(() => r()));
  await db.close();
  await fs.rm(tmp, { recursive: true, force: true });
});

const publish = (topic: string) => new Promise<void>((r, j) => broker.publish({ cmd: "publish", topic, payload: Buffer.from("{}"), qos: 1, retain: false, dup: false } as never, (e) => (e ? j(e) : r())));

test("subscriptions follow ownership: wildcard alone, own sites only beside another node, wildcard again after it died", async () => {
  const clock = new ManualClock(Date.UTC(2026, 11, 4));
  // Two sites on either side of the split (node a keeps partitions 0–127 when b joins).
  const sites: string[] = [];
  for (let i = 0; sites.length < 2; i++) {
    const id = `bus-${i}`;
    if (sites.length === 0 ? partitionOf(id) < 128 : partitionOf(id) >= 128) sites.push(id);
  }
  const [mine, theirs] = sites as [string, string];
  const a = new Leases({ db, nodeId: "a", clock, heartbeatMs: 5000, leaseMs: 15000 });
  const b = new Leases({ db, nodeId: "b", clock, heartbeatMs: 5000, leaseMs: 15000 });
  const owned = new OwnedSiteTopics({ leases: a, sites: () => sites });
  const received: string[] = [];
  await a.start({ timers: false });
  await owned.subscribe(aedesBus(broker), (kind, topic) => received.push(`${kind} ${topic}`));
  expect(owned.topics()).toEqual([topics.allHello, topics.allUp].sort());

  await b.start({ timers: false });
  clock.advance(5000);
  await a.round(); // gives back 128–255
  await owned.sync();
  expect(owned.topics()).toEqual([topics.hello(mine), topics.up(mine)].sort());
  expect(owned.owns(mine)).toBe(true);
  expect(owned.owns(theirs)).toBe(false);
  await publish(topics.up(mine));
  await publish(topics.up(theirs));
  await publish(topics.hello(theirs));
  await publish(topics.hello(mine));
  expect(received).toEqual([`up ${topics.up(mine)}`, `hello ${topics.hello(mine)}`]);

  b.halt(); // b dies; a takes everything after b's heartbeat and leases ran out
  clock.advance(15_001);
  await a.round();
  await owned.sync();
  expect(a.ownsAll()).toBe(true);
  expect(owned.topics()).toEqual([topics.allHello, topics.allUp].sort());
  received.length = 0;
  await publish(topics.up(theirs));
  expect(received).toEqual([`up ${topics.up(theirs)}`]);
  owned.close();
  a.halt();
});
