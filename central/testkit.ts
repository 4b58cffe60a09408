/**
 * Test support for trust tests (central, edge identity, bench): mint good and bad client
 * certificates against a central's CA, and try real HTTPS and MQTT clients that report
 * "ok" or "refused" instead of hanging (mqtt.js can hang on a rejected certificate).
 */
import { promises as fs } from "node:fs";
import tls from "node:tls";
import mqtt from "mqtt";
import { createCa, generateKeyPair, issueSiteCert, loadCa, DAY_MS, type CaMaterial } from "../federation/pki.ts";
import { dataPaths } from "./files.ts";

export interface ClientCert {
  keyPem: string;
  certPem: string;
}

export async function centralCa(dataDir: string): Promise<CaMaterial> {
  const p = dataPaths(dataDir);
  return loadCa(await fs.readFile(p.caCert, "utf8"), await fs.readFile(p.caKey, "utf8"));
}

export async function otherCa(): Promise<CaMaterial> {
  return createCa({ name: "Evil CA", now: Date.now(), lifetimeDays: 365 });
}

export async function mintSiteCert(
  ca: CaMaterial,
  siteId: string,
  o: { notBefore?: number; notAfter?: number; eku?: "clientAuth" | "serverAuth" } = {},
): Promise<ClientCert> {
  const kp = await generateKeyPair();
  const cert = await issueSiteCert({ ca, publicKey: kp.keys.publicKey, now: Date.now(), lifetimeDays: 90, siteId, ...o });
  return { keyPem: kp.keyPem, certPem: cert.toString("pem") };
}

export const expiredWindow = () => ({ notBefore: Date.now() - 10 * DAY_MS, notAfter: Date.now() - DAY_MS });
export const futureWindow = () => ({ notBefore: Date.now() + DAY_MS, notAfter: Date.now() + 10 * DAY_MS });

/** GET over HTTPS with an optional client certificate; "ok" only on a 2xx answer. */
export async function tryHttps(url: string, caPem: string, cert?: ClientCert): Promise<"ok" | "refused"> {
  try {
    const res = await fetch(url, { tls: { ca: caPem, ...(cert ? { cert: cert.certPem, key: cert.keyPem } : {}) }, signal: AbortSignal.timeout(5000) });
    await res.arrayBuffer();
    return res.ok ? "ok" : "refused";
  } catch {
    return "refused";
  }
}

/** Connect with mqtt.js; resolves with the client on CONNACK success or "refused" on any failure/timeout. */
export async function tryMqtt(url: string, caPem: string, cert: ClientCert | undefined, clientId: string, timeoutMs = 5000): Promise<mqtt.MqttClient | "refused"> {
  const client = mqtt.connect(url, {
    ca: caPem,
    ...(cert ? { cert: cert.certPem, key: cert.keyPem } : {}),
    clientId,
    protocolVersion: 4,
    reconnectPeriod: 0,
    connectTimeout: timeoutMs,
    rejectUnauthorized: true,
  });
  const r = await new Promise<"ok" | "refused">((resolve) => {
    const t = setTimeout(() => resolve("refused"), timeoutMs);
    client.once("connect", () => (clearTimeout(t), resolve("ok")));
    client.once("error", () => (clearTimeout(t), resolve("refused")));
    client.once("close", () => (clearTimeout(t), resolve("refused")));
  });
  if (r === "ok") return client;
  client.end(true);
  return "refused";
}

/** A raw keep-alive HTTPS connection that has completed one request; resolves `closed` when the server drops it. */
export async function openHttpsSession(host: string, port: number, caPem: string, cert: ClientCert, path: string): Promise<{ firstStatus: number; closed: Promise<number>; end(): void }> {
  const socket = tls.connect({ host, port, ca: caPem, cert: cert.certPem, key: cert.keyPem, servername: "localhost" });
  const closed = new Promise<number>((resolve) => socket.once("close", () => resolve(Date.now())));
  socket.on("error", () => {});
  const status = await new Promise<number>((resolve, reject) => {
    socket.once("secureConnect", () => socket.write(`GET ${path} HTTP/1.1\r\nHost: localhost\r\nConnection: keep-alive\r\n\r\n`));
    let buf = "";
    socket.on("data", (d) => {
      buf += d.toString();
      const m = /^HTTP\/1\.1 (\d{3})/.exec(buf);
      if (m) resolve(Number(m[1]));
    });
    socket.once("close", () => reject(new Error("closed before an answer")));
  });
  return { firstStatus: status, closed, end: () => socket.destroy() };
}

/**
 * The harnesses' central store index: `OUTPOST_STORAGE__INDEX=database` (the product's own
 * variable for storage.index) runs a system test's central with its index in the database
 * instead of the default DuckDB file, so one suite checks both without a second copy.
 */
export function testStorageIndex(): { index?: "database" } {
  return process.env.OUTPOST_STORAGE__INDEX === "database" ? { index: "database" } : {};
}
