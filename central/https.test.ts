/**
 * Central's user API is HTTPS by default: central's own server certificate (its CA, SANs from
 * tls.serverNames incl. ::1), or the admin's files (api.tls); session cookies are Secure; plain
 * HTTP only with api.plainHttp, with a warning. Real TLS clients: Bun's fetch and curl.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { promises as fs } from "node:fs";
import os from "node:os";
import path from "node:path";
import { startCentral, type Central } from "./index.ts";
import { Logger, MemorySink } from "../lib/log/index.ts";
import { createCa, generateKeyPair, issueServerCert } from "../federation/pki.ts";

const ports = { enroll: { port: 0 }, federation: { port: 0 }, mqtt: { port: 0 } };
let root: string;
const started: Central[] = [];

async function start(name: string, api: Record<string, unknown>, sink = new MemorySink()): Promise<Central> {
  const c = await startCentral({ dataDir: path.join(root, name), api: { port: 0, ...api }, ...ports }, { log: new Logger({ component: "test", sink, level: "debug" }) });
  started.push(c);
  return c;
}

async function curl(args: string[]): Promise<{ code: number; out: string }> {
  const p = Bun.spawn(["curl", "-sS", "--max-time", "10", ...args], { stdout: "pipe", stderr: "pipe" });
  const out = (await new Response(p.stdout).text()) + (await new Response(p.stderr).text());
  return { code: await p.exited, out };
}

const login = (c: Central, init: RequestInit = {}) =>
  fetch(c.apiUrl + "/api/v1/login", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ user: "admin", password: c.initialAdminPassword }), ...init });

beforeAll(async () => {
  root = await fs.mkdtemp(path.join(os.tmpdir(), "outpost-https-"));
});
afterAll(async () => {
  for (const c of started) await c.close();
  await fs.rm(root, { recursive: true, force: true });
});

describe("central user API: slow answers", () => {
  test("a request whose handler works for 20 s still gets its answer (Bun.serve's default idle timeout reset it after ~10 s)", async () => {
    // On a loaded 2-core box /sites/:id/transfer took longer than 10 s and the client saw
    // ECONNRESET. A route that answers after 20 s stands in for it.
    const c = await startCentral(
      { dataDir: path.join(root, "slow"), api: { port: 0, plainHttp: true }, ...ports },
      {
        log: new Logger({ component: "test", sink: new MemorySink() }),
        apiRoutes: (api) =>
          api.route({ method: "get", path: "/api/v1/test-slow", summary: "answers after 20 s", tag: "test", rights: { public: "test route" } }, async (ctx) => {
            await Bun.sleep(20_000);
            return ctx.json({ ok: true });
          }),
      },
    );
    started.push(c);
    const res = await fetch(c.apiUrl + "/api/v1/test-slow");
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ ok: true });
  }, 90_000);
});

describe("central user API over HTTPS", () => {
  test("default: central's CA-issued certificate, verified by a client that trusts the CA; Secure session cookie", async () => {
    const c = await start("default", {});
    expect(c.apiUrl).toStartWith("https://127.0.0.1:");
    expect(c.apiCaPem).toBe(c.caPem);
    expect(await fs.readFile(c.caFile, "utf8")).toContain("BEGIN CERTIFICATE");
    const res = await login(c, { tls: { ca: c.apiCaPem! } } as RequestInit);
    expect(res.status).toBe(200);
    const cookie = res.headers.get("set-cookie") ?? "";
    expect(cookie).toContain("outpost_session=");
    expect(cookie).toMatch(/;\s*Secure/i);
    expect(cookie).toMatch(/HttpOnly/i);
    // a client that does not trust central's CA refuses the certificate
    await expect(fetch(c.apiUrl + "/api/v1/health")).rejects.toThrow();
    // plain HTTP to the HTTPS port gets no API answer
    const plain = await fetch(c.apiUrl.replace("https:", "http:") + "/api/v1/health").then((r) => r.status, () => "refused");
    expect(plain === "refused" || plain === 400).toBe(true);
    // SANs: localhost, 127.0.0.1 and ::1 all verify against the CA (curl checks names)
    const port = new URL(c.apiUrl).port;
    const ca = path.join(root, "default-ca.pem");
    await fs.writeFile(ca, c.caPem);
    for (const url of [`https://localhost:${port}/api/v1/health`, `https://127.0.0.1:${port}/api/v1/health`]) {
      const r = await curl(["--cacert", ca, "-o", "/dev/null", "-w", "%{http_code}", url]);
      expect(r).toEqual({ code: 0, out: "200" });
    }
    const wrongName = await curl(["--cacert", ca, "--resolve", `not-a-san.example:${port}:127.0.0.1`, `https://not-a-san.example:${port}/api/v1/health`]);
    expect(wrongName.code).not.toBe(0);
  });

  test("::1 is in the default certificate: a listener on ::1 verifies by address", async () => {
    const c = await start("v6", { host: "::1" });
    expect(c.apiUrl).toStartWith("https://[::1]:");
    const res = await fetch(c.apiUrl + "/api/v1/health", { tls: { ca: c.caPem } } as RequestInit);
    expect(res.status).toBe(200);
  });

  test("api.tls: the admin's certificate and key files are served instead", async () => {
    const ca = await createCa({ name: "Admin PKI", now: Date.now(), lifetimeDays: 30 });
    const kp = await generateKeyPair();
    const cert = await issueServerCert({ ca, publicKey: kp.keys.publicKey, now: Date.now(), lifetimeDays: 30, names: ["127.0.0.1"] });
    const certFile = path.join(root, "admin-cert.pem");
    const keyFile = path.join(root, "admin-key.pem");
    await fs.writeFile(certFile, cert.toString("pem"));
    await fs.writeFile(keyFile, kp.keyPem, { mode: 0o600 });
    const c = await start("files", { tls: { cert: certFile, key: keyFile } });
    expect(c.apiCaPem).toBeNull();
    expect((await fetch(c.apiUrl + "/api/v1/health", { tls: { ca: ca.certPem } } as RequestInit)).status).toBe(200);
    // central's own CA does not vouch for the admin's certificate
    await expect(fetch(c.apiUrl + "/api/v1/health", { tls: { ca: c.caPem } } as RequestInit)).rejects.toThrow();
  });

  test("api.tls with an unreadable or non-PEM file fails the start with a sentence naming the key", async () => {
    const junk = path.join(root, "junk.pem");
    await fs.writeFile(junk, "hello");
    await expect(start("badfiles", { tls: { cert: junk, key: junk } })).rejects.toThrow(/api\.tls\.cert: .*junk\.pem is not a PEM certificate/);
    await expect(start("missing", { tls: { cert: path.join(root, "nope.pem"), key: junk } })).rejects.toThrow(/api\.tls\.cert: cannot read .*nope\.pem \(ENOENT\)/);
    await expect(start("both", { tls: { cert: junk, key: junk }, plainHttp: true })).rejects.toThrow(/exclude each other/);
  });

  test("api.plainHttp: plain HTTP only when asked, with a warning; the cookie is not marked Secure", async () => {
    const sink = new MemorySink();
    const c = await start("plain", { plainHttp: true }, sink);
    expect(c.apiUrl).toStartWith("http://");
    expect(c.apiCaPem).toBeNull();
    const res = await login(c);
    expect(res.status).toBe(200);
    expect(res.headers.get("set-cookie") ?? "").not.toMatch(/Secure/i);
    const warn = sink.records.find((r) => r.level === "warn" && /plain HTTP/.test(r.msg));
    expect(warn?.msg).toContain("api.plainHttp");
  });
});
