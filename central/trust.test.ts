import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { promises as fs } from "node:fs";
import os from "node:os";
import path from "node:path";
import type { MqttClient } from "mqtt";
import { startCentral, type Central } from "./index.ts";
import { enroll, beginRotation, confirmRotation, loadIdentity, type Identity } from "../edge/identity/index.ts";
import { Logger, MemorySink } from "../lib/log/index.ts";
import { ManualClock } from "../lib/clock.ts";
import { siteTopicRoot } from "../federation/identity.ts";
import { centralCa, expiredWindow, futureWindow, mintSiteCert, openHttpsSession, otherCa, tryHttps, tryMqtt, type ClientCert } from "./testkit.ts";

const ports = { api: { port: 0 }, enroll: { port: 0 }, federation: { port: 0 }, mqtt: { port: 0 } };
let root: string;
let central: Central;
const sink = new MemorySink();
const log = new Logger({ component: "test", sink, level: "debug" });
let adminToken: string;
let edgeA: Identity;
let edgeB: Identity;
const cleanup: (() => unknown)[] = [];

const certOf = (id: Identity): ClientCert => ({ keyPem: id.keyPem, certPem: id.certPem });
const whoami = () => central.federationUrl + "/federation/v1/whoami";

async function api(method: string, p: string, body?: unknown, token = adminToken) {
  // the user API is HTTPS with central's own certificate: trust central's CA like a browser that imported it
  const res = await fetch(central.apiUrl + p, {
    tls: { ca: central.apiCaPem! },
    method,
    headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, type: res.headers.get("content-type") ?? "", body: (await res.json()) as any };
}

async function mqttOk(cert: ClientCert | undefined, clientId: string): Promise<"ok" | "refused"> {
  const c = await tryMqtt(central.mqttUrl, central.caPem, cert, clientId);
  if (c === "refused") return c;
  c.end(true);
  return "ok";
}

beforeAll(async () => {
  root = await fs.mkdtemp(path.join(os.tmpdir(), "outpost-trust-"));
  central = await startCentral({ dataDir: path.join(root, "central"), ...ports, revocationPollMs: 200 }, { log });
  const login = await api("POST", "/api/v1/login", { user: "admin", password: central.initialAdminPassword }, "");
  expect(login.status).toBe(200);
  adminToken = login.body.token;
  for (const [name, dir] of [["Bus A", "edgeA"], ["Bus B", "edgeB"]] as const) {
    const t = await api("POST", "/api/v1/enrollment-tokens", { site: name });
    expect(t.status).toBe(201);
    const id = await enroll({ centralUrl: t.body.enrollUrl, token: t.body.token, dataDir: path.join(root, dir) });
    if (dir === "edgeA") edgeA = id;
    else edgeB = id;
  }
});

afterAll(async () => {
  for (const f of cleanup) await f();
  await central?.close();
  await fs.rm(root, { recursive: true, force: true });
});

describe("admin API", () => {
  test("login: wrong password and missing session are refused with problem+json", async () => {
    const bad = await api("POST", "/api/v1/login", { user: "admin", password: "nope" }, "");
    expect(bad.status).toBe(401);
    expect(bad.type).toContain("application/problem+json");
    expect((await api("GET", "/api/v1/sites", undefined, "")).status).toBe(401);
    expect((await api("GET", "/api/v1/sites", undefined, "made-up")).status).toBe(401);
    expect((await api("POST", "/api/v1/enrollment-tokens", { site: "" })).status).toBe(400);
  });
  test("admin password file is 0600, password and tokens never logged", async () => {
    const st = await fs.stat(central.adminPasswordFile);
    expect(st.mode & 0o777).toBe(0o600);
    const caKey = await fs.stat(path.join(root, "central", "ca", "ca.key"));
    expect(caKey.mode & 0o777).toBe(0o600);
    const all = JSON.stringify(sink.records);
    expect(all).not.toContain(central.initialAdminPassword!);
    expect(all).not.toContain(adminToken);
    expect(all).not.toContain("PRIVATE KEY");
  });
  test("openapi and health", async () => {
    const o = await api("GET", "/api/v1/openapi.json", undefined, "");
    expect(Object.keys(o.body.paths)).toContain("/api/v1/enrollment-tokens");
    // Unauthenticated health is liveness only: no sites, no certificate serials.
    const h = await api("GET", "/api/v1/health", undefined, "");
    expect(h.status).toBe(200);
    expect(h.body.status).toBe("ok");
    expect(Object.keys(h.body).sort()).toEqual(["status", "time"]);
    expect(JSON.stringify(h.body)).not.toContain(edgeA.siteId);
    expect((await api("GET", "/api/v1/health/detail", undefined, "")).status).toBe(401);
    const d = await api("GET", "/api/v1/health/detail");
    expect(d.status).toBe(200);
    expect(d.body.certificates.map((c: any) => c.kind).sort()).toEqual(["ca", "server", "site", "site"]);
    expect(d.body.status).toBe("ok");
  });
  test("sites list shows enrolled sites with certificate expiry", async () => {
    const r = await api("GET", "/api/v1/sites");
    const a = r.body.sites.find((s: any) => s.id === edgeA.siteId);
    expect(a.name).toBe("Bus A");
    expect(a.state).toBe("active");
    expect(a.certificate.daysLeft).toBeGreaterThan(89);
    expect((await api("GET", `/api/v1/sites/${edgeB.siteId}`)).body.id).toBe(edgeB.siteId);
    expect((await api("GET", "/api/v1/sites/nope")).status).toBe(404);
  });
});

describe("enrollment tokens", () => {
  test("reused, unknown and wrong-central tokens are refused; no certificate issued", async () => {
    const t = await central.createEnrollmentToken("Boat 1");
    await enroll({ centralUrl: central.enrollUrl, token: t.token, dataDir: path.join(root, "boat1") });
    const before = central.sites().length;
    await expect(enroll({ centralUrl: central.enrollUrl, token: t.token, dataDir: path.join(root, "boat1b") })).rejects.toThrow(/already used/);
    const parts = t.token.split(".");
    const unknown = [parts[0], "00".repeat(8), parts[2], parts[3]].join(".");
    await expect(enroll({ centralUrl: central.enrollUrl, token: unknown, dataDir: path.join(root, "boat1c") })).rejects.toThrow(/not known/);
    const wrongCa = [parts[0], parts[1], parts[2], Buffer.alloc(32, 7).toString("base64url")].join(".");
    await expect(enroll({ centralUrl: central.enrollUrl, token: wrongCa, dataDir: path.join(root, "boat1d") })).rejects.toThrow(/fingerprint mismatch/);
    await expect(enroll({ centralUrl: central.enrollUrl, token: "garbage", dataDir: path.join(root, "boat1e") })).rejects.toThrow(/not an Outpost enrollment token/);
    expect(central.sites().length).toBe(before);
    expect(await loadIdentity(path.join(root, "boat1b"))).toBeNull();
  });

  test("direct enroll call: problem+json 410 for reuse, 400 for a CSR whose signature fails", async () => {
    const t = await central.createEnrollmentToken("Boat 2");
    const bad = await fetch(central.enrollUrl + "/enroll/v1/enroll", {
      method: "POST",
      body: JSON.stringify({ token: t.token, csr: "-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE REQUEST-----" }),
      headers: { "content-type": "application/json" },
      tls: { ca: central.caPem },
    });
    expect(bad.status).toBe(400);
    expect(bad.headers.get("content-type")).toContain("problem+json");
    // the token survived the bad CSR and still works once
    await enroll({ centralUrl: central.enrollUrl, token: t.token, dataDir: path.join(root, "boat2") });
    const again = await fetch(central.enrollUrl + "/enroll/v1/enroll", {
      method: "POST",
      body: JSON.stringify({ token: t.token, csr: "x" }),
      headers: { "content-type": "application/json" },
      tls: { ca: central.caPem },
    });
    expect(again.status).toBe(410); // the token is checked before the CSR
    expect(((await again.json()) as any).detail).toContain("already used");
  });

  test("an expired token is refused (clock jumps past its ttl)", async () => {
    const clock = new ManualClock(Date.now());
    const c2 = await startCentral({ dataDir: path.join(root, "central-exp"), ...ports }, { log, clock });
    try {
      const t = await c2.createEnrollmentToken("Train 9", 1);
      clock.advance(2 * 3_600_000);
      await expect(enroll({ centralUrl: c2.enrollUrl, token: t.token, dataDir: path.join(root, "train9") })).rejects.toThrow(/expired/);
      expect(c2.sites()).toHaveLength(0);
    } finally {
      await c2.close();
    }
  });
});

describe("openssl verify", () => {
  test("accepts the issued edge and server chains", async () => {
    const ca = path.join(root, "central", "ca", "bundle.pem");
    const leaf = path.join(root, "leaf.pem");
    await fs.writeFile(leaf, edgeA.certPem);
    const edge = Bun.spawnSync(["openssl", "verify", "-CAfile", ca, "-purpose", "sslclient", leaf]);
    expect(edge.stdout.toString()).toContain(": OK");
    const srv = Bun.spawnSync(["openssl", "verify", "-CAfile", ca, "-purpose", "sslserver", path.join(root, "central", "server", "server.pem")]);
    expect(srv.stdout.toString()).toContain(": OK");
    // an edge certificate is not a server certificate
    const wrong = Bun.spawnSync(["openssl", "verify", "-CAfile", ca, "-purpose", "sslserver", leaf]);
    expect(wrong.exitCode).not.toBe(0);
  });
});

describe("negative matrix (HTTPS and MQTT listeners)", () => {
  test("a valid enrolled certificate works on both", async () => {
    expect(await tryHttps(whoami(), central.caPem, certOf(edgeA))).toBe("ok");
    expect(await mqttOk(certOf(edgeA), edgeA.siteId)).toBe("ok");
  });

  const cases: [string, () => Promise<ClientCert | undefined>][] = [
    ["no certificate", async () => undefined],
    ["certificate from another CA", async () => mintSiteCert(await otherCa(), edgeA.siteId)],
    ["expired", async () => mintSiteCert(await centralCa(path.join(root, "central")), edgeA.siteId, expiredWindow())],
    ["not yet valid", async () => mintSiteCert(await centralCa(path.join(root, "central")), edgeA.siteId, futureWindow())],
    ["serverAuth-only EKU", async () => mintSiteCert(await centralCa(path.join(root, "central")), edgeA.siteId, { eku: "serverAuth" })],
    ["right CA, but a serial central never issued", async () => mintSiteCert(await centralCa(path.join(root, "central")), edgeA.siteId)],
  ];
  for (const [name, make] of cases) {
    test(`refused: ${name}`, async () => {
      const cert = await make();
      expect(await tryHttps(whoami(), central.caPem, cert)).toBe("refused");
      expect(await mqttOk(cert, edgeA.siteId)).toBe("refused");
    });
  }

  test("refused: valid certificate with the MQTT client id of another site", async () => {
    expect(await mqttOk(certOf(edgeA), edgeB.siteId)).toBe("refused");
  });

  test("identity comes from the certificate, not headers", async () => {
    const res = await fetch(whoami(), { headers: { "x-site-id": edgeB.siteId }, tls: { ca: central.caPem, cert: edgeA.certPem, key: edgeA.keyPem } });
    expect(((await res.json()) as any).siteId).toBe(edgeA.siteId);
  });

  test("refused: publish and subscribe to another site's topics; own topics work", async () => {
    const got: string[] = [];
    await new Promise<void>((r) => central.broker.subscribe("outpost/v1/sites/#", (p, cb) => (got.push(p.topic), cb()), r));
    const c = (await tryMqtt(central.mqttUrl, central.caPem, certOf(edgeA), edgeA.siteId)) as MqttClient;
    expect(c).not.toBe("refused");
    const own = `${siteTopicRoot(edgeA.siteId)}/status`;
    const other = `${siteTopicRoot(edgeB.siteId)}/status`;
    // refused filters get SUBACK 0x80 (mqtt.js turns that into a rejection); the session stays
    await expect(c.subscribeAsync(`${siteTopicRoot(edgeB.siteId)}/#`)).rejects.toThrow(/Subscribe error/);
    await expect(c.subscribeAsync("outpost/v1/sites/+/status")).rejects.toThrow(/Subscribe error/);
    await expect(c.subscribeAsync("#")).rejects.toThrow(/Subscribe error/);
    const mine = await c.subscribeAsync(`${siteTopicRoot(edgeA.siteId)}/#`);
    expect(mine[0]!.qos).toBe(0);
    await c.publishAsync(own, "ok", { qos: 1 });
    const closed = new Promise<void>((r) => c.once("close", () => r()));
    c.publish(other, "evil", { qos: 1 });
    await closed; // the broker drops a client that writes outside its subtree
    await Bun.sleep(100);
    expect(got).toContain(own);
    expect(got).not.toContain(other);
    c.end(true);
  });
});

describe("rotation and revocation", () => {
  test("rotate: old works until confirm, new works after; old refused after confirm", async () => {
    const dir = path.join(root, "edgeA");
    const old = (await loadIdentity(dir))!;
    const pending = await beginRotation(dir);
    expect(pending.serial).not.toBe(old.serial);
    expect(pending.keyPem).not.toBe(old.keyPem);
    expect((await fs.stat(path.join(dir, "identity", `gen-${pending.gen}`, "key.pem"))).mode & 0o777).toBe(0o600);
    // before confirmation both are accepted
    expect(await tryHttps(whoami(), central.caPem, certOf(old))).toBe("ok");
    expect(await mqttOk(certOf(old), old.siteId)).toBe("ok");
    expect(await tryHttps(whoami(), central.caPem, certOf(pending))).toBe("ok");
    // a crash here leaves the current identity in place
    expect((await loadIdentity(dir))!.serial).toBe(old.serial);
    const now = await confirmRotation(dir);
    expect(now.serial).toBe(pending.serial);
    expect((await loadIdentity(dir))!.serial).toBe(pending.serial);
    expect(await tryHttps(whoami(), central.caPem, certOf(now))).toBe("ok");
    expect(await mqttOk(certOf(now), now.siteId)).toBe("ok");
    expect(await tryHttps(whoami(), central.caPem, certOf(old))).toBe("refused");
    expect(await mqttOk(certOf(old), old.siteId)).toBe("refused");
    edgeA = now;
  });

  test("revoke: open HTTPS and MQTT sessions dropped within 5 s, new attempts refused, survives restart", async () => {
    const u = new URL(central.federationUrl);
    const https = await openHttpsSession(u.hostname, Number(u.port), central.caPem, certOf(edgeB), "/federation/v1/whoami");
    expect(https.firstStatus).toBe(200);
    const m = (await tryMqtt(central.mqttUrl, central.caPem, certOf(edgeB), edgeB.siteId)) as MqttClient;
    expect(m).not.toBe("refused");
    const mqttClosed = new Promise<number>((r) => m.once("close", () => r(Date.now())));
    expect(central.sessionCount(edgeB.siteId)).toBeGreaterThanOrEqual(2);
    const t0 = Date.now();
    const r = await api("DELETE", `/api/v1/sites/${edgeB.siteId}`);
    expect(r.status).toBe(200);
    expect(r.body.state).toBe("revoked");
    const [h, q] = await Promise.all([https.closed, mqttClosed]);
    expect(h - t0).toBeLessThan(5000);
    expect(q - t0).toBeLessThan(5000);
    m.end(true);
    expect(await tryHttps(whoami(), central.caPem, certOf(edgeB))).toBe("refused");
    expect(await mqttOk(certOf(edgeB), edgeB.siteId)).toBe("refused");

    // restart: the revocation list and the rotated identity persist
    await central.close();
    central = await startCentral({ dataDir: path.join(root, "central"), ...ports, revocationPollMs: 200 }, { log });
    expect(central.initialAdminPassword).toBeNull();
    expect(await tryHttps(whoami(), central.caPem, certOf(edgeB))).toBe("refused");
    expect(await mqttOk(certOf(edgeB), edgeB.siteId)).toBe("refused");
    expect(await tryHttps(whoami(), central.caPem, certOf(edgeA))).toBe("ok");
    expect(central.site(edgeB.siteId)!.state).toBe("revoked");
  });

  test("CLI revoke while central runs (journal): session dropped within 5 s", async () => {
    const cfgFile = path.join(root, "central.yaml");
    await fs.writeFile(cfgFile, `dataDir: ${path.join(root, "central")}\n`);
    const m = (await tryMqtt(central.mqttUrl, central.caPem, certOf(edgeA), edgeA.siteId)) as MqttClient;
    expect(m).not.toBe("refused");
    const closed = new Promise<number>((r) => m.once("close", () => r(Date.now())));
    const t0 = Date.now();
    const p = Bun.spawnSync(["bun", path.join(import.meta.dir, "..", "cli", "outpost.ts"), "central", "site", "revoke", edgeA.siteId, "--config", cfgFile]);
    expect(p.exitCode).toBe(0);
    expect((await closed) - t0).toBeLessThan(5000);
    m.end(true);
    expect(await tryHttps(whoami(), central.caPem, certOf(edgeA))).toBe("refused");
  });
});

describe("expiry watch", () => {
  test("warning 14 days before a site certificate expires", async () => {
    const c3 = await startCentral({ dataDir: path.join(root, "central-short"), ...ports, pki: { siteCertLifetimeDays: 10 } }, { log });
    try {
      const t = await c3.createEnrollmentToken("Short");
      const id = await enroll({ centralUrl: c3.enrollUrl, token: t.token, dataDir: path.join(root, "short") });
      const s = c3.site(id.siteId)!;
      expect(s.certificate!.warning).toBe(true);
      expect(s.warnings[0]).toContain("expires");
      const pw = (await Bun.file(c3.adminPasswordFile).text()).trim();
      const { token } = (await (await fetch(c3.apiUrl + "/api/v1/login", { method: "POST", tls: { ca: c3.caPem }, headers: { "content-type": "application/json" }, body: JSON.stringify({ user: "admin", password: pw }) })).json()) as { token: string };
      const h = (await (await fetch(c3.apiUrl + "/api/v1/health/detail", { tls: { ca: c3.caPem }, headers: { authorization: `Bearer ${token}` } })).json()) as any;
      expect(h.status).toBe("warning");
      expect(h.warnings.length).toBe(1);
    } finally {
      await c3.close();
    }
  });
});
