import { afterAll, beforeAll, expect, test } from "bun:test";
import { promises as fs } from "node:fs";
import os from "node:os";
import path from "node:path";
import tls from "node:tls";
import type { Subprocess } from "bun";
import { enroll, type Identity } from "../edge/identity/index.ts";
import { createToken } from "./journal.ts";
import { dataPaths } from "./files.ts";
import { certFingerprint } from "../federation/pki.ts";
import { centralCa, expiredWindow, mintSiteCert, otherCa, tryHttps, tryMqtt, type ClientCert } from "./testkit.ts";

// Central runs as `outpost central` in a child process whose environment disables client-side
// verification; the server side must still refuse every bad client certificate.
let root: string;
let proc: Subprocess<"ignore", "pipe", "pipe">;
const urls: Record<string, string> = {};
let ca = "";
let edge: Identity;

beforeAll(async () => {
  root = await fs.mkdtemp(path.join(os.tmpdir(), "outpost-tlsenv-"));
  const cfg = path.join(root, "central.yaml");
  await fs.writeFile(cfg, `dataDir: ${path.join(root, "central")}\napi: {port: 0}\nenroll: {port: 0}\nfederation: {port: 0}\nmqtt: {port: 0}\nrevocationPollMs: 200\n`);
  proc = Bun.spawn(["bun", path.join(import.meta.dir, "..", "cli", "outpost.ts"), "central", "--config", cfg], {
    env: { ...process.env, NODE_TLS_REJECT_UNAUTHORIZED: "0", OUTPOST_LOG_LEVEL: "warn" },
    stdout: "pipe",
    stderr: "pipe",
    stdin: "ignore",
  });
  const reader = proc.stdout.getReader();
  let out = "";
  while (!out.includes("CA fingerprint")) {
    const { value, done } = await reader.read();
    if (done) throw new Error("central exited: " + (await new Response(proc.stderr).text()));
    out += new TextDecoder().decode(value);
  }
  reader.releaseLock();
  for (const [k, re] of [["enroll", /enrollment\s+(\S+)/], ["fed", /federation \(mTLS\)\s+(\S+)/], ["mqtt", /MQTT \(mTLS\)\s+(\S+)/]] as const) urls[k] = re.exec(out)![1]!;
  const p = dataPaths(path.join(root, "central"));
  ca = await fs.readFile(p.caBundle, "utf8");
  const t = await createToken(p.tokens, { site: "Env bus", ttlHours: 1, now: Date.now(), caFingerprint: await certFingerprint(ca) });
  edge = await enroll({ centralUrl: urls.enroll!, token: t.token, dataDir: path.join(root, "edge") });
});

afterAll(async () => {
  proc?.kill("SIGTERM");
  await proc?.exited;
  await fs.rm(root, { recursive: true, force: true });
});

const whoami = () => urls.fed + "/federation/v1/whoami";
async function mqttResult(cert: ClientCert | undefined, id: string) {
  const c = await tryMqtt(urls.mqtt!, ca, cert, id);
  if (c === "refused") return c;
  c.end(true);
  return "ok";
}

test("with NODE_TLS_REJECT_UNAUTHORIZED=0 in central's environment, bad client certificates are still refused", async () => {
  const good = { certPem: edge.certPem, keyPem: edge.keyPem };
  expect(await tryHttps(whoami(), ca, good)).toBe("ok");
  expect(await mqttResult(good, edge.siteId)).toBe("ok");
  const caMat = await centralCa(path.join(root, "central"));
  const bad: [string, ClientCert | undefined][] = [
    ["none", undefined],
    ["other CA", await mintSiteCert(await otherCa(), edge.siteId)],
    ["expired", await mintSiteCert(caMat, edge.siteId, expiredWindow())],
    ["serverAuth", await mintSiteCert(caMat, edge.siteId, { eku: "serverAuth" })],
  ];
  for (const [name, cert] of bad) {
    expect([name, await tryHttps(whoami(), ca, cert)]).toEqual([name, "refused"]);
    expect([name, await mqttResult(cert, edge.siteId)]).toEqual([name, "refused"]);
  }
});

test("TLS 1.1 is refused on the federation and MQTT listeners", async () => {
  for (const u of [urls.fed!, urls.mqtt!]) {
    const url = new URL(u);
    const r = await new Promise<string>((resolve) => {
      const s = tls.connect({ host: url.hostname, port: Number(url.port), ca, cert: edge.certPem, key: edge.keyPem, maxVersion: "TLSv1.1", minVersion: "TLSv1", servername: "localhost" });
      s.once("secureConnect", () => (resolve("connected"), s.destroy()));
      s.once("error", () => resolve("refused"));
    });
    expect(r).toBe("refused");
  }
});
