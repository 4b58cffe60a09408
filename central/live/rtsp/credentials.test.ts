/**
 * Stream credentials through the whole central site (startCentralSite, default config): the
 * /api/v1/me/stream-credentials routes over HTTPS, RTSPS on by default with them, plain RTSP
 * off by default. Media is covered in rtsp.test.ts; here a DESCRIBE of an unknown camera
 * answers 404 once authentication passed and 401 when it did not.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startCentralSite, type CentralSite } from "../../main.ts";
import { Logger, MemorySink } from "../../../lib/log/index.ts";
import { RtspTestClient, basicAuth } from "./testkit.ts";

let dir: string;
let site: CentralSite;
let token: string;
const sink = new MemorySink();

async function api(method: string, path: string, body?: unknown, auth = token): Promise<{ status: number; type: string; body: any }> {
  const res = await fetch(site.central.apiUrl + path, {
    method,
    tls: { ca: site.central.apiCaPem! },
    headers: { ...(auth ? { authorization: `Bearer ${auth}` } : {}), ...(body === undefined ? {} : { "content-type": "application/json" }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  } as RequestInit);
  return { status: res.status, type: res.headers.get("content-type") ?? "", body: res.status === 204 ? null : await res.json() };
}

/** DESCRIBE over RTSPS, verifying central's certificate; the status code. */
async function describeTls(user: string, password: string): Promise<number> {
  const port = site.rtsp!.tlsPort!;
  const c = await RtspTestClient.connect(port, site.central.caPem);
  const r = await c.request("DESCRIBE", `rtsps://127.0.0.1:${port}/nosite.nocam/sub`, basicAuth(user, password));
  c.close();
  return r.status;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "outpost-streamcred-"));
  site = await startCentralSite(
    { dataDir: join(dir, "central"), api: { port: 0 }, enroll: { port: 0 }, federation: { port: 0 }, mqtt: { port: 0 }, live: { rtsp: { tlsPort: 0 } } },
    { log: new Logger({ component: "test", sink, level: "debug" }) },
  );
  const login = await api("POST", "/api/v1/login", { user: "admin", password: site.central.initialAdminPassword }, "");
  expect(login.status).toBe(200);
  token = login.body.token;
}, 60_000);

afterAll(async () => {
  await site?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe("stream credentials at central", () => {
  test("defaults: RTSPS on, plain RTSP off; the list route shows the rtsps:// URL", async () => {
    expect(site.rtsp!.tlsPort).toBeGreaterThan(0);
    expect(site.rtsp!.port).toBeUndefined();
    const list = await api("GET", "/api/v1/me/stream-credentials");
    expect(list.status).toBe(200);
    expect(list.body.credentials).toEqual([]);
    expect(list.body.rtspUrl).toBe(`rtsps://127.0.0.1:${site.rtsp!.tlsPort}/<site>.<camera>/<main|sub>`);
    expect((await api("GET", "/api/v1/me/stream-credentials", undefined, "")).status).toBe(401);
  });

  test("create (secret shown once) → RTSPS accepts it → revoke → refused; bad input is a problem", async () => {
    const made = await api("POST", "/api/v1/me/stream-credentials", { label: "VLC in the control room" });
    expect(made.status).toBe(201);
    expect(made.body.user).toBe("admin");
    expect(made.body.secret).toMatch(/^rtsp_[A-Za-z0-9_-]{32}$/);
    const list = await api("GET", "/api/v1/me/stream-credentials");
    expect(list.body.credentials).toHaveLength(1);
    expect(list.body.credentials[0].label).toBe("VLC in the control room");
    expect(JSON.stringify(list.body)).not.toContain(made.body.secret);
    // 404 = authenticated (the camera does not exist); 401 = not authenticated
    expect(await describeTls("admin", made.body.secret)).toBe(404);
    expect(await describeTls("admin", made.body.secret.slice(0, -2) + "xx")).toBe(401);
    expect((await api("GET", "/api/v1/me/stream-credentials")).body.credentials[0].lastUsedAt).not.toBeNull();
    expect((await api("DELETE", `/api/v1/me/stream-credentials/${made.body.id}`)).status).toBe(204);
    expect(await describeTls("admin", made.body.secret)).toBe(401);
    const gone = await api("DELETE", `/api/v1/me/stream-credentials/${made.body.id}`);
    expect(gone.status).toBe(404);
    expect(gone.type).toContain("application/problem+json");
    const bad = await api("POST", "/api/v1/me/stream-credentials", { label: "" });
    expect(bad.status).toBe(400);
    expect(bad.type).toContain("application/problem+json");
    expect(bad.body.detail).toContain("label");
  });

  test("credentials survive a restart (stored hashed in central's database)", async () => {
    const made = await api("POST", "/api/v1/me/stream-credentials", { label: "restart" });
    await site.close();
    site = await startCentralSite(
      { dataDir: join(dir, "central"), api: { port: 0 }, enroll: { port: 0 }, federation: { port: 0 }, mqtt: { port: 0 }, live: { rtsp: { tlsPort: 0 } } },
      { log: new Logger({ component: "test", sink, level: "debug" }) },
    );
    expect(await describeTls("admin", made.body.secret)).toBe(404);
  }, 60_000);

  test("plain RTSP only by explicit option, with a warning; an unknown option value is a config error", async () => {
    const warnings = new MemorySink();
    const plain = await startCentralSite(
      { dataDir: join(dir, "plain"), api: { port: 0 }, enroll: { port: 0 }, federation: { port: 0 }, mqtt: { port: 0 }, live: { rtsp: { tlsPort: 0, port: 0, plain: "stream-credentials" } } },
      { log: new Logger({ component: "test", sink: warnings, level: "debug" }) },
    );
    try {
      expect(plain.rtsp!.port).toBeGreaterThan(0);
      expect(plain.rtsp!.tlsPort).toBeGreaterThan(0);
      expect(warnings.records.some((r) => r.level === "warn" && r.msg.includes("plain RTSP out is on (live.rtsp.plain: stream-credentials)"))).toBe(true);
    } finally {
      await plain.close();
    }
    await expect(startCentralSite({ dataDir: join(dir, "bad"), live: { rtsp: { plain: "yes" as never } } })).rejects.toThrow(/plain/);
  }, 60_000);
});
