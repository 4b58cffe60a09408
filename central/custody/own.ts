/**
 * Central's own recordings (live streams central records itself) are chained and signed the
 * same way an edge's are: central mints itself a site certificate for the id "central" from
 * its own CA (a fresh key per run; the certificate travels with every signature) and signs
 * with it. Imported edge segments are not chained here: they keep the edge's chain.
 */
import { readFile } from "node:fs/promises";
import type { Clock } from "../../lib/clock.ts";
import type { Logger } from "../../lib/log/index.ts";
import type { MediaStore } from "../../lib/store/index.ts";
import { CustodyRecorder, type CustodySigner } from "../../federation/custody/index.ts";
import { certFingerprint, generateKeyPair, issueSiteCert, loadCa } from "../../federation/pki.ts";
import { dataPaths } from "../files.ts";

export const CENTRAL_SITE_ID = "central";

export async function attachCentralCustody(store: MediaStore, o: { dataDir: string; clock: Clock; log: Logger }): Promise<CustodyRecorder> {
  let signer: Promise<CustodySigner | null> | null = null;
  const mint = async (): Promise<CustodySigner | null> => {
    const p = dataPaths(o.dataDir);
    let ca;
    try {
      ca = await loadCa(await readFile(p.caCert, "utf8"), await readFile(p.caKey, "utf8"));
    } catch {
      return null; // the CA is created when central starts; until then entries wait unsigned
    }
    const kp = await generateKeyPair();
    const cert = await issueSiteCert({ ca, publicKey: kp.keys.publicKey, now: o.clock.now(), lifetimeDays: 365, siteId: CENTRAL_SITE_ID });
    o.log.info("custody signing certificate issued for central's own recordings", { serial: cert.serialNumber });
    return { key: kp.keys.privateKey, certPem: cert.toString("pem"), certFp: await certFingerprint(cert) };
  };
  return CustodyRecorder.attach(store, {
    clock: o.clock,
    log: o.log,
    // Central's store also holds imported edge segments under the same camera ids; reconciling
    // with the index would chain those as if central had recorded them.
    reconcile: false,
    signer: async () => {
      const s = await (signer ??= mint());
      if (!s) signer = null; // try again at the next signature
      return s;
    },
  });
}
