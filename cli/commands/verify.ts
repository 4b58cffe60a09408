/**
 * `outpost verify PACKAGE [--ca CA.pem] [--json]`: checks an evidence package offline (no
 * running system, no network) and prints one verdict per segment and one overall, each with
 * its reason. Verdicts and the format: docs/ref/evidence-package.md.
 */
import { readFile } from "node:fs/promises";
import { CliError, parseOptions, type Command } from "../../lib/cli/index.ts";
import { PackageError, verifyPackage, type PackageReport } from "../../federation/custody/index.ts";

const usage = `usage: outpost verify PACKAGE.zip [--ca CA.pem] [--json]

Checks an Outpost evidence package: every segment file against the hash chain recorded when
it was closed, the chain against the recording site's signatures, the site's certificate
against the CA, and the CA's revocation list as known when the package was made.

  --ca FILE   the installation's CA certificate (PEM), obtained from its operator. Without it
              the CA inside the package is used, and anyone can make a CA: the report prints
              that CA's SHA-256 fingerprint to compare with the published one.
  --json      print the report as JSON

Verdicts (per segment; the overall verdict is the most severe):
  spliced              footage of another camera or site was put in
  modified             the file or its chain entry changed after recording
  missing              a segment of the window is absent (a hole in the chain)
  reordered            segments were swapped or moved
  foreign-certificate  signed by a certificate not from this CA (or not of this site)
  revoked-certificate  signed after the signing certificate was revoked
  unsigned             no valid signature covers the segment
  intact               byte for byte what the site signed when it closed the segment

Exit status: 0 every segment intact, 1 at least one segment not intact,
2 bad usage or the file is not a readable evidence package.`;

const command: Command = {
  summary: "check an evidence package offline: a verdict per segment and overall",
  usage,
  async run(argv) {
    const { values, positionals } = parseOptions(argv, { ca: { type: "string" }, json: { type: "boolean" } }, usage);
    if (values.help) {
      console.log(usage);
      return 0;
    }
    if (positionals.length !== 1) throw new CliError(`expected one PACKAGE file\n\n${usage}`);
    const bytes = await readFile(positionals[0]!).catch((e) => {
      throw new CliError(`cannot read ${positionals[0]}: ${(e as Error).message}`);
    });
    const anchor = values.ca
      ? await readFile(values.ca, "utf8").catch((e) => {
          throw new CliError(`cannot read --ca ${values.ca}: ${(e as Error).message}`);
        })
      : undefined;
    let report: PackageReport;
    try {
      report = await verifyPackage(new Uint8Array(bytes), anchor ? { anchorCaPem: anchor } : {});
    } catch (e) {
      if (e instanceof PackageError) throw new CliError(e.message);
      throw e;
    }
    console.log(values.json ? JSON.stringify(report, null, 2) : format(report));
    return report.overall === "intact" ? 0 : 1;
  },
};

function format(r: PackageReport): string {
  const iso = (ms: number | null) => (ms === null ? "?" : new Date(ms).toISOString());
  const lines = [
    `package: site ${r.siteId}, camera ${r.cameraId} (${r.stream}), ${iso(r.window.fromMs)} – ${iso(r.window.toMs)}`,
    `CA: SHA-256 ${r.ca.fingerprint} (${r.ca.source === "anchor" ? "given with --ca" : "from the package"})${r.ca.note ? `; ${r.ca.note}` : ""}`,
    `revocation: ${r.revocations}`,
  ];
  if (r.damagedEntries.length) lines.push(`damaged ZIP entries (CRC-32): ${r.damagedEntries.join(", ")}`);
  for (const s of r.segments) lines.push(`  ${String(s.seq ?? "-").padStart(6)}  ${iso(s.startMs)}  ${s.verdict.padEnd(19)}  ${s.why}`);
  if (r.footage) lines.push(`footage: ${r.footage.file} SHA-256 ${r.footage.sha256} ${r.footage.matchesManifest ? "(as listed in the manifest; not covered by the signatures)" : "DIFFERS from the manifest"}`);
  lines.push(`OVERALL: ${r.overall.toUpperCase()} — ${r.why}`);
  return lines.join("\n");
}

export default command;
