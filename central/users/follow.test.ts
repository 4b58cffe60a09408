/**
 * Users across nodes: two Users instances on one real PostgreSQL 15 (two central nodes). A
 * login on A works on B (read through); a user disabled on A cannot sign in on B and B's
 * sessions of it end; a logout on A ends the session on B; a role narrowed on A narrows on B;
 * a session used only on A is not ended as idle by B (its last use is in the row), and is once
 * nobody used it for the idle period.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { ManualClock, systemClock } from "../../lib/clock.ts";
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

describe.skipIf(!!noServer)("session idle timeout across nodes (PostgreSQL 15)", () => {
  test("a session in use on A is not idled out by B; unused everywhere, B ends it", async () => {
    const IDLE = 60_000;
    const clock = new ManualClock(Date.UTC(2026, 11, 4, 9, 0, 0));
    const node = (db: Database) => new Users({ db, clock, log, sessionTtlMs: 3_600_000, sessionIdleMs: IDLE, sessionUseWriteMs: 5_000 });
    const a = node(dbA);
    const b = node(dbB);
    await a.init();
    await b.init();
    await a.createUser({ name: "idle-bob", password: "bob-password-1", roles: ["admin"] });
    await b.reload();
    const t = await a.login("idle-bob", "bob-password-1");
    if (t.kind !== "ok") throw new Error("login failed");
    expect((await b.authenticate(t.token))?.user).toBe("idle-bob"); // B holds the session now
    // Used on A only, every 20 s for 3 idle periods; both nodes sweep (A writes the use, throttled).
    for (let i = 0; i < 9; i++) {
      clock.advance(20_000);
      expect((await a.authenticate(t.token))?.user).toBe("idle-bob");
      await a.sweep();
      expect(await b.sweep()).toBe(0);
    }
    const [row] = await dbB.query<{ last_used_ms: number }>(`SELECT last_used_ms FROM sessions WHERE token_hash = $1`, [t.session.sessionId!]);
    expect(Number(row!.last_used_ms)).toBe(clock.now()); // A's last use, written by its sweep
    // Nobody uses it any more: B ends it one idle period after A's last use, not before.
    clock.advance(IDLE - 1_000);
    expect(await b.sweep()).toBe(0);
    clock.advance(2_000);
    expect(await b.sweep()).toBe(1);
    expect(await dbA.query(`SELECT 1 FROM sessions WHERE token_hash = $1`, [t.session.sessionId!])).toEqual([]);
  });
});
