/**
 * Users and the site registry in central's database (central/db), end to end through
 * startCentral: an installation that kept them in central.duckdb keeps its accounts,
 * passwords, sessions, roles, keys, stream credentials, views and sites on its first start with
 * the database (moved once); and with
 * database.url set, central runs on a real PostgreSQL server and a restart keeps everything.
 */
import { describe, expect, test } from "bun:test";
import { promises as fs } from "node:fs";
import path from "node:path";
import { startCentral, type Central } from "../index.ts";
import { hashPassword } from "../../lib/auth/index.ts";
import { sha256 } from "./index.ts";
import { centralDbTest, noPostgres, oldCentralDuckdb, postgresForDescribe } from "../database-testkit.ts";

const { root, log, cfg, moved } = centralDbTest("usersdb");

async function login(c: Central, user: string, password: string): Promise<{ status: number; token?: string }> {
  const r = await fetch(`${c.apiUrl}/api/v1/login`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ user, password }) });
  const body = (await r.json()) as { token?: string };
  return { status: r.status, ...(body.token ? { token: body.token } : {}) };
}
const me = (c: Central, token: string) => fetch(`${c.apiUrl}/api/v1/me`, { headers: { authorization: `Bearer ${token}` } }).then((r) => r.status);

describe("upgrade from central.duckdb", () => {
  test("the first start moves the user and registry tables into the database once; logins, sessions, roles, keys, views and sites carry over", async () => {
    const dataDir = path.join(root(), "upgraded");
    const at = "2026-01-01T00:00:00.000Z";
    const token = "an-old-session-token-from-before";
    const key = "opk_abc12345_old-integration-key";
    // central.duckdb as the previous version left it (its statements, its columns).
    await oldCentralDuckdb(dataDir, async (duck) => {
      await duck.run(`CREATE TABLE users (name VARCHAR PRIMARY KEY, password_hash VARCHAR NOT NULL, role VARCHAR NOT NULL, created_at VARCHAR NOT NULL, roles VARCHAR, disabled BOOLEAN DEFAULT false)`);
      await duck.run(`CREATE TABLE sessions (token_hash VARCHAR PRIMARY KEY, user_name VARCHAR NOT NULL, expires_at VARCHAR NOT NULL)`);
      await duck.run(`CREATE TABLE roles (name VARCHAR PRIMARY KEY, json VARCHAR NOT NULL)`);
      await duck.run(`CREATE TABLE camera_groups (name VARCHAR PRIMARY KEY, json VARCHAR NOT NULL)`);
      await duck.run(`CREATE TABLE api_keys (id VARCHAR PRIMARY KEY, key_hash VARCHAR NOT NULL, name VARCHAR NOT NULL, site_id VARCHAR, created_by VARCHAR NOT NULL, created_at VARCHAR NOT NULL)`);
      await duck.run(`CREATE TABLE web_views (user_name VARCHAR, name VARCHAR, body VARCHAR, updated_ms BIGINT, PRIMARY KEY (user_name, name))`);
      await duck.run(`INSERT INTO users VALUES ($1, $2, $3, $4, $5, false)`, ["admin", await hashPassword("old-admin-password"), "admin", at, JSON.stringify(["admin"])]);
      // A user from before roles/disabled existed: those columns are NULL.
      await duck.run(`INSERT INTO users VALUES ($1, $2, $3, $4, NULL, NULL)`, ["olduser", await hashPassword("old-user-password"), "gate", at]);
      await duck.run(`INSERT INTO roles VALUES ($1, $2)`, ["gate", JSON.stringify({ name: "gate", description: "gate cameras", grants: [{ rights: ["view-live"], scope: "group:gates", maxPriority: "alarm" }] })]);
      await duck.run(`INSERT INTO camera_groups VALUES ($1, $2)`, ["gates", JSON.stringify({ name: "gates", cameras: ["bus-1.cam1"] })]);
      await duck.run(`INSERT INTO sessions VALUES ($1, $2, $3)`, [sha256(token), "olduser", new Date(Date.now() + 3_600_000).toISOString()]);
      await duck.run(`INSERT INTO api_keys VALUES ($1, $2, $3, NULL, $4, $5)`, ["abc12345", sha256(key), "door system", "admin", at]);
      await duck.run(`INSERT INTO web_views VALUES ($1, $2, $3, $4)`, ["olduser", "lobby", JSON.stringify({ layout: 4, tiles: [{ camera: "bus-1.cam1", stream: "sub" }] }), 1_767_225_600_000]);
      // The registry (central/registry.ts) as it was: an enrolled site and a revoked one.
      await duck.run(`CREATE TABLE sites (id VARCHAR PRIMARY KEY, name VARCHAR NOT NULL, state VARCHAR NOT NULL, enrolled_at VARCHAR NOT NULL, revoked_at VARCHAR, revoked_reason VARCHAR, current_cert VARCHAR, pending_cert VARCHAR, last_seen_at VARCHAR)`);
      await duck.run(`CREATE TABLE certificates (serial VARCHAR PRIMARY KEY, site_id VARCHAR NOT NULL, issued_at VARCHAR NOT NULL, not_before VARCHAR NOT NULL, not_after VARCHAR NOT NULL, pem VARCHAR NOT NULL)`);
      const cert = { serial: "0badc0de", notBefore: at, notAfter: "2027-01-01T00:00:00.000Z", pem: "-----BEGIN CERTIFICATE-----\nMA==\n-----END CERTIFICATE-----\n" };
      await duck.run(`INSERT INTO sites VALUES ($1, $2, 'active', $3, NULL, NULL, $4, NULL, NULL)`, ["bus-1", "Bus 1", at, JSON.stringify(cert)]);
      await duck.run(`INSERT INTO sites VALUES ($1, $2, 'revoked', $3, $3, $4, NULL, NULL, NULL)`, ["bus-2", "Bus 2", at, "stolen"]);
      await duck.run(`INSERT INTO certificates VALUES ($1, $2, $3, $4, $5, $6)`, [cert.serial, "bus-1", at, cert.notBefore, cert.notAfter, cert.pem]);
    });

    let c = await startCentral(cfg(dataDir), { log });
    try {
      expect(c.database.driver).toBe("embedded");
      expect(c.initialAdminPassword).toBeNull(); // the old admin came along: no new one
      expect((await login(c, "admin", "old-admin-password")).status).toBe(200);
      expect((await login(c, "olduser", "old-user-password")).status).toBe(200);
      expect(await me(c, token)).toBe(200);
      expect(c.ops.users.user("olduser")).toMatchObject({ roles: ["gate"], disabled: false });
      expect(c.ops.users.role("gate")?.grants[0]?.scope).toBe("group:gates");
      expect([...c.ops.users.cameraGroups().get("gates")!]).toEqual(["bus-1.cam1"]);
      expect(c.ops.apiKeys.check(key)?.name).toBe("door system");
      const v = await fetch(`${c.apiUrl}/api/v1/views`, { headers: { authorization: `Bearer ${token}` } }).then((r) => r.json() as Promise<{ views: { name: string; layout: number }[] }>);
      expect(v.views.map((x) => [x.name, x.layout])).toEqual([["lobby", 4]]);
      expect(c.site("bus-1")).toMatchObject({ name: "Bus 1", state: "active", certificate: { serial: "0badc0de" } });
      expect(c.site("bus-2")).toMatchObject({ state: "revoked", revokedAt: at, certificate: null });
      expect(await c.database.query(`SELECT serial, site_id FROM certificates`)).toEqual([{ serial: "0badc0de", site_id: "bus-1" }]);
      expect(moved()).toBe(2); // users, registry
      await c.ops.users.deleteUser("olduser");
    } finally {
      await c.close();
    }
    // Once: the user deleted after the move stays deleted although central.duckdb still has it.
    c = await startCentral(cfg(dataDir), { log });
    try {
      expect(c.ops.users.user("olduser")).toBeNull();
      expect((await login(c, "admin", "old-admin-password")).status).toBe(200);
    } finally {
      await c.close();
    }
  }, 180_000);
});

describe.skipIf(!!noPostgres)("database.url: a PostgreSQL server", () => {
  const pg = postgresForDescribe();

  test("central runs its users on the server; a restart keeps users, roles and sessions; nothing is written under DATA/pg", async () => {
    const url = await pg().createDatabase();
    const dataDir = path.join(root(), "server");
    let c = await startCentral(cfg(dataDir, { database: { url } }), { log });
    let token: string;
    let adminPw: string;
    try {
      expect(c.database.driver).toBe("server");
      adminPw = c.initialAdminPassword!;
      await c.ops.users.putRole({ name: "viewer", description: "", grants: [{ rights: ["view-live"], scope: "*", maxPriority: "alarm" }] });
      await c.ops.users.createUser({ name: "ada", password: "ada-password", roles: ["viewer"] });
      token = (await login(c, "ada", "ada-password")).token!;
      expect(await me(c, token)).toBe(200);
      // Saved views: saved twice (the upsert replaces), deleted once, then gone.
      const view = (method: string, body?: unknown) =>
        fetch(`${c.apiUrl}/api/v1/views/front`, { method, headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, ...(body ? { body: JSON.stringify(body) } : {}) }).then((r) => r.status);
      expect(await view("PUT", { layout: 1, tiles: [null] })).toBe(200);
      expect(await view("PUT", { layout: 4, tiles: [null, { camera: "bus-1.cam1", stream: "main" }] })).toBe(200);
      expect(await c.database.query(`SELECT name, body FROM web_views WHERE user_name = $1`, ["ada"])).toEqual([{ name: "front", body: JSON.stringify({ layout: 4, tiles: [null, { camera: "bus-1.cam1", stream: "main" }] }) }]);
      expect(await view("DELETE")).toBe(204);
      expect(await view("DELETE")).toBe(404);
    } finally {
      await c.close();
    }
    expect(await fs.stat(path.join(dataDir, "pg")).catch(() => null)).toBeNull();
    c = await startCentral(cfg(dataDir, { database: { url } }), { log });
    try {
      expect(c.initialAdminPassword).toBeNull();
      expect(await me(c, token)).toBe(200);
      expect((await login(c, "admin", adminPw)).status).toBe(200);
      expect(c.ops.users.user("ada")?.roles).toEqual(["viewer"]);
      await c.ops.users.updateUser("ada", { disabled: true });
      expect(await me(c, token)).toBe(401);
    } finally {
      await c.close();
    }
    // The rows are in PostgreSQL itself, read here through a second connection.
    const { openServer } = await import("../db/server.ts");
    const direct = await openServer(url);
    try {
      expect(await direct.query(`SELECT name, disabled FROM users WHERE name = $1`, ["ada"])).toEqual([{ name: "ada", disabled: true }]);
      expect(await direct.query(`SELECT count(*) AS c FROM sessions WHERE user_name = $1`, ["ada"])).toEqual([{ c: 0 }]);
    } finally {
      await direct.close();
    }
  }, 180_000);

  test("an unreachable server stops central's start with the reason", async () => {
    const err = await startCentral(cfg(path.join(root(), "unreachable"), { database: { url: `postgres://postgres@localhost/none?host=${path.join(root(), "no-such-socket-dir")}` } }), { log }).catch((e: Error) => e);
    expect((err as Error).message).toMatch(/^database\.url: cannot use the PostgreSQL server: .*connect/i);
  }, 60_000);
});
