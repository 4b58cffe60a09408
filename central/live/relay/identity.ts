/**
 * This node's certificate for the internal listener (serves relays) and for relay requests to
 * other nodes: issued from central's CA (the nodes of one central share it), kept in
 * DATA/node-tls/ (key 0600) and reissued when the node id changed or a third of its lifetime
 * is left — the same lifecycle as central's MQTT client identity (central/sites/identity.ts).
 */
import { promises as fs } from "node:fs";
import path from "node:path";
import { generateKeyPair, issueNodeCert, loadCa, nodeIdOfCert, parseCert } from "../../../federation/pki.ts";
import { dataPaths, writeFileAtomic } from "../../files.ts";

export interface NodeTls {
  nodeId: string;
  certPem: string;
  keyPem: string;
  /** CA bundle: the only issuer whose node certificates are accepted. */
  caPem: string;
}

export async function nodeIdentity(dataDir: string, nodeId: string, now = Date.now(), lifetimeDays = 365): Promise<NodeTls> {
  const dir = path.join(dataDir, "node-tls");
  const certFile = path.join(dir, "cert.pem");
  const keyFile = path.join(dir, "key.pem");
  const p = dataPaths(dataDir);
  const caPem = await fs.readFile(p.caBundle, "utf8");
  try {
    const [certPem, keyPem] = await Promise.all([fs.readFile(certFile, "utf8"), fs.readFile(keyFile, "utf8")]);
    const c = parseCert(certPem);
    const left = c.notAfter.getTime() - now;
    if (nodeIdOfCert(c) === nodeId && left > (c.notAfter.getTime() - c.notBefore.getTime()) / 3) return { nodeId, certPem, keyPem, caPem };
  } catch (e) {
    if ((e as { code?: string }).code !== "ENOENT") throw e;
  }
  const ca = await loadCa(await fs.readFile(p.caCert, "utf8"), await fs.readFile(p.caKey, "utf8"));
  const kp = await generateKeyPair();
  const cert = await issueNodeCert({ ca, publicKey: kp.keys.publicKey, now, lifetimeDays, nodeId });
  await fs.mkdir(dir, { recursive: true, mode: 0o700 });
  await writeFileAtomic(keyFile, kp.keyPem);
  await writeFileAtomic(certFile, cert.toString("pem"));
  return { nodeId, certPem: cert.toString("pem"), keyPem: kp.keyPem, caPem };
}
