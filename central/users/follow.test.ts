/**
 * Users across nodes: two Users instances on one real PostgreSQL 15 (two central nodes). A
 * login on A works on B (read through); a user disabled on A cannot sign in on B and B's
 * sessions of it end; a logout on A ends the session on B; a role narrowed on A narrows on B.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { systemClock } from "../../lib/clock.ts";
import { Logger, MemorySink } from "../../lib/log/index.ts";
import type { Database } from "../db/index.ts";
import { postgresUnavailable, twoNodesOnServer } from "../db/testkit.ts";
import { Users } from "./index.ts";

const noServer = postgresUnavailable();
let dbA: Database;
let dbB: Database;
let stopNodes: (() => Promise<void>) | undefined;
const log = new Logger({ component: "test", sink: new MemorySink(), level: "info" });
beforeAll(async () => {
  if (noServer) return;
  const nodes = await twoNodesOnServer();
  [dbA, dbB, stopNodes] = [nodes.a, nodes.b, nodes.stop];
});
afterAll(() => stopNodes?.());

async function until(what: string, cond: () => Promise<boolean> | boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`not within ${ms} ms: ${what}`);
    await Bun.sleep(20);
  }
}

describe.skipIf(!!noServer)("users on two nodes (PostgreSQL 15)", () => {
  test("login on A works on B; disable, logout and a narrowed role on A take effect on B", async () => {
    const node = (db: Database) => new Users({ db, clock: systemClock, log, sessionTtlMs: 3_600_000 });
    const a = node(dbA);
    const b = node(dbB);
    await a.init();
    await b.init();
    // Only the notification can make B quick here (the safety net is 10 minutes).
    const stopB = await b.follow({ intervalMs: 600_000, onError: (e) => console.error(e) });

    await a.putRole({ name: "viewer", description: "", grants: [{ rights: ["view-live"], scope: "*" }] });
    await a.createUser({ name: "ann", password: "ann-password-1", roles: ["viewer"] });
    await until("B knows the user A created", () => b.user("ann") !== null);
    expect((await b.login("ann", "ann-password-1")).kind).toBe("ok");

    const onA = await a.login("ann", "ann-password-1");
    if (onA.kind !== "ok") throw new Error("login failed");
    expect((await b.authenticate(onA.token))?.user).toBe("ann"); // read through

    await a.putRole({ name: "viewer", description: "", grants: [] });
    await until("B narrows the role", async () => (await b.authenticate(onA.token))?.grants.length === 0);

    await a.logout(onA.token);
    await until("B ends the session A ended", async () => (await b.authenticate(onA.token)) === null);

    const second = await b.login("ann", "ann-password-1");
    if (second.kind !== "ok") throw new Error("login failed");
    await a.updateUser("ann", { disabled: true });
    await until("B refuses the user A disabled", async () => (await b.verify("ann", "ann-password-1", "10.0.0.9")).kind === "denied");
    expect(await b.authenticate(second.token)).toBeNull();
    await stopB();
  });
});
