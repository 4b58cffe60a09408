/**
 * Central's own MQTT client identity for an external broker (`--mqtt-url`): a clientAuth
 * certificate with CN "central" from central's CA, kept in DATA/mqtt-client/ (key 0600) and
 * reissued when a third of its lifetime is left. The broker's ACL must grant this user
 * outpost/v1/sites/# (docs/ref/federation.md). "central" can never be a site id: enrolled
 * site ids always carry a random suffix.
 */
import { promises as fs } from "node:fs";
import path from "node:path";
import { generateKeyPair, issueSiteCert, loadCa, parseCert } from "../../federation/pki.ts";
import { dataPaths, writeFileAtomic } from "../files.ts";

export const CENTRAL_MQTT_ID = "central";

export async function centralMqttIdentity(dataDir: string, now = Date.now(), lifetimeDays = 365): Promise<{ certPem: string; keyPem: string; clientId: string }> {
  const dir = path.join(dataDir, "mqtt-client");
  const certFile = path.join(dir, "cert.pem");
  const keyFile = path.join(dir, "key.pem");
  try {
    const [certPem, keyPem] = await Promise.all([fs.readFile(certFile, "utf8"), fs.readFile(keyFile, "utf8")]);
    const c = parseCert(certPem);
    const left = c.notAfter.getTime() - now;
    if (left > (c.notAfter.getTime() - c.notBefore.getTime()) / 3) return { certPem, keyPem, clientId: CENTRAL_MQTT_ID };
  } catch (e) {
    if ((e as { code?: string }).code !== "ENOENT") throw e;
  }
  const p = dataPaths(dataDir);
  const ca = await loadCa(await fs.readFile(p.caCert, "utf8"), await fs.readFile(p.caKey, "utf8"));
  const kp = await generateKeyPair();
  const cert = await issueSiteCert({ ca, publicKey: kp.keys.publicKey, now, lifetimeDays, siteId: CENTRAL_MQTT_ID });
  await fs.mkdir(dir, { recursive: true, mode: 0o700 });
  await writeFileAtomic(keyFile, kp.keyPem);
  await writeFileAtomic(certFile, cert.toString("pem"));
  return { certPem: cert.toString("pem"), keyPem: kp.keyPem, clientId: CENTRAL_MQTT_ID };
}
