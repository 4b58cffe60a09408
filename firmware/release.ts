/** Signing a built bundle: targets metadata from the bundle's own manifest, signed offline. */
import { readManifest, targetFiles } from "./bundle.ts";
import { hashFile } from "./fsutil.ts";
import { sign, type PrivateKeyFile, type TargetsMeta, type TargetsSigned } from "./meta.ts";
import path from "node:path";

export async function signRelease(bundleFile: string, o: { keys: PrivateKeyFile[]; version: number; expires: string }): Promise<TargetsMeta> {
  const { manifest } = await readManifest(bundleFile);
  const h = await hashFile(bundleFile);
  const signed: TargetsSigned = {
    _type: "targets",
    version: o.version,
    expires: o.expires,
    release: { version: manifest.version, minFromVersion: manifest.minFromVersion, builtAt: manifest.builtAt },
    bundle: { name: path.basename(bundleFile), length: h.length, sha256: h.sha256 },
    files: targetFiles(manifest),
  };
  return sign(signed, o.keys);
}
