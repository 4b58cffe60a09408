/**
 * Login throttling, idle sessions and audited refusals at central, over real HTTP from
 * distinct loopback addresses (127.0.0.x, so per-address accounting is real) with a real
 * DuckDB file and an injected clock.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import http from "node:http";
import { promises as fs } from "node:fs";
import os from "node:os";
import path from "node:path";
import { startCentral, type Central } from "../index.ts";
import { Logger, MemorySink } from "../../lib/log/index.ts";
import { ManualClock } from "../../lib/clock.ts";
import { sha256 } from "./index.ts";

const clock = new ManualClock(Date.now());
let root: string;
let central: Central;
let adminPw: string;

/** One HTTP request from a chosen local address (node:http localAddress). */
function from(address: string, method: string, p: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: any }> {
  const u = new URL(central.apiUrl);
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : JSON.stringify(body);
    const req = http.request({ host: u.hostname, port: Number(u.port), path: p, method, localAddress: address, agent: false, headers: { ...(data ? { "content-type": "application/json", "content-length": String(Buffer.byteLength(data)) } : {}), ...headers } }, (res) => {
      let text = "";
      res.on("data", (d) => (text += d));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text ? JSON.parse(text) : null }));
    });
    req.on("error", reject);
    req.end(data);
  });
}
const login = (address: string, user: string, password: string) => from(address, "POST", "/api/v1/login", { user, password });

beforeAll(async () => {
  root = await fs.mkdtemp(path.join(os.tmpdir(), "outpost-users-"));
  central = await startCentral(
    { dataDir: path.join(root, "central"), api: { port: 0, sessionIdleMinutes: 1, plainHttp: true }, enroll: { port: 0 }, federation: { port: 0 }, mqtt: { port: 0 } },
    { log: new Logger({ component: "test", sink: new MemorySink() }), clock },
  );
  adminPw = central.initialAdminPassword!;
}, 60_000);

afterAll(async () => {
  await central?.close();
  if (root) await fs.rm(root, { recursive: true, force: true });
});

describe("login throttling", () => {
  test("15 parallel wrong logins from one address: at most 5 are checked, the rest are 429 at once", async () => {
    const rs = await Promise.all(Array.from({ length: 15 }, () => login("127.0.0.2", "admin", "wrong-password")));
    const counts = { 401: rs.filter((r) => r.status === 401).length, 429: rs.filter((r) => r.status === 429).length };
    console.log("15 parallel wrong logins:", JSON.stringify(counts));
    expect(counts[401]).toBe(5);
    expect(counts[429]).toBe(10);
    // the right password from the attacker's address is refused too: that pair is locked
    expect((await login("127.0.0.2", "admin", adminPw)).status).toBe(429);
  }, 60_000);

  test("the real admin from another address logs in while the attacker keeps hammering", async () => {
    const hammer = Promise.all(Array.from({ length: 20 }, () => login("127.0.0.2", "admin", "still-wrong")));
    const real = await login("127.0.0.3", "admin", adminPw);
    expect(real.status).toBe(200);
    expect((await hammer).every((r) => r.status === 429)).toBe(true);
  }, 60_000);

  test("attackers on many addresses drain the per-user budget; then only clean addresses are checked", async () => {
    const u = central.ops.users;
    await u.createUser({ name: "victim", password: "victim-password", roles: [] });
    // 20 (userBurst) failures spread over 5 addresses, 4 each (below the per-pair limit of 5)
    for (let a = 10; a < 15; a++) for (let i = 0; i < 4; i++) expect((await login(`127.0.1.${a}`, "victim", "guess")).status).toBe(401);
    expect((await login("127.0.1.10", "victim", "guess")).status).toBe(429); // has failures, budget empty
    expect((await login("127.0.1.99", "victim", "victim-password")).status).toBe(200); // clean address
  }, 60_000);

  test("a refused request (401, 403) is audited as access-denied, repeats coalesced", async () => {
    for (let i = 0; i < 3; i++) expect((await from("127.0.0.4", "GET", "/api/v1/users")).status).toBe(401);
    await central.ops.users.createUser({ name: "plain", password: "plain-password", roles: [] });
    const t = (await login("127.0.0.4", "plain", "plain-password")).body.token as string;
    expect((await from("127.0.0.4", "GET", "/api/v1/users", undefined, { authorization: `Bearer ${t}` })).status).toBe(403);
    await central.ops.audit.flush();
    const list = (await central.ops.audit.query({ action: "access-denied", limit: 100 })).records as unknown as { user: string; subject: string; detail: { status: number; client: string } }[];
    const anon = list.filter((r) => r.user === "anonymous" && r.subject === "GET /api/v1/users" && r.detail.client === "127.0.0.4");
    expect(anon.length).toBe(1);
    expect(anon[0]!.detail.status).toBe(401);
    expect(list.some((r) => r.user === "plain" && r.detail.status === 403)).toBe(true);
  }, 30_000);
});

describe("sessions", () => {
  test("a session unused for sessionIdleMinutes ends; use restarts the idle clock", async () => {
    const t = (await login("127.0.0.5", "admin", adminPw)).body.token as string;
    const me = async () => (await from("127.0.0.5", "GET", "/api/v1/me", undefined, { authorization: `Bearer ${t}` })).status;
    clock.advance(59_000);
    expect(await me()).toBe(200);
    clock.advance(59_000);
    expect(await me()).toBe(200);
    clock.advance(60_000);
    expect(await me()).toBe(401);
  });

  test("the sweep ends idle sessions and their streams; a session with a stream open is not idle", async () => {
    const users = central.ops.users;
    const watching = (await login("127.0.0.5", "admin", adminPw)).body.token as string;
    const idle = (await login("127.0.0.5", "admin", adminPw)).body.token as string;
    const closed: string[] = [];
    const release = users.streams.hold({ user: "admin", sessionId: sha256(watching), allowed: () => true, close: (r) => closed.push(r) });
    clock.advance(61_000);
    await users.sweep(); // central also sweeps every second; either one ends it
    expect(await users.authenticate(idle)).toBeNull();
    expect(await users.authenticate(watching)).not.toBeNull();
    expect(closed).toEqual([]);
    release();
    clock.advance(61_000);
    users.streams.hold({ user: "admin", sessionId: sha256(watching), allowed: () => true, close: (r) => closed.push(r) });
    clock.advance(13 * 3_600_000); // past the absolute expiry: the stream goes too
    await users.sweep();
    expect(closed).toEqual(["session expired"]);
    expect(users.streams.count("admin")).toBe(0);
  });
});
