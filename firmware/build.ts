/**
 * The appliance build: `bun build --compile` of the outpost CLI into one executable, plus
 * libduckdb.so beside it, a `run` wrapper (LD_LIBRARY_PATH = its own folder), a default edge
 * config and a systemd unit, packed into a deterministic bundle (bundle.ts).
 *
 * Reproducibility (checked with Bun 1.4.5): the compiled executable is byte-identical for the
 * same sources when (1) the working directory is the repository root and (2) the output file
 * has the same basename — Bun embeds `/$bunfs/root/<outfile name>` and module paths relative to
 * the working directory. We always compile from the root to `<tmp>/outpost`. The build time in
 * the manifest is SOURCE_DATE_EPOCH or the last git commit time, never the clock.
 */
import { promises as fs } from "node:fs";
import os from "node:os";
import path from "node:path";
import { writeBundle, type Manifest } from "./bundle.ts";

export const DUCKDB_PLATFORMS = ["darwin-arm64", "darwin-x64", "linux-arm64", "linux-arm64-musl", "linux-x64", "linux-x64-musl", "win32-x64", "win32-arm64"];

export interface BuildOptions {
  /** Repository root (where package.json is). */
  root: string;
  outDir: string;
  version?: string;
  minFromVersion?: string;
  entry?: string;
  /** Seconds since the epoch; default SOURCE_DATE_EPOCH, then the git commit time. */
  sourceDateEpoch?: number;
}

export interface BuildResult {
  bundleFile: string;
  sha256: string;
  length: number;
  manifest: Manifest;
  executableBytes: number;
  compileMs: number;
}

export const RUN_WRAPPER = `#!/bin/sh
# Starts this slot's outpost executable with its own libduckdb.so (the embedded duckdb.node
# looks for it through LD_LIBRARY_PATH; its RUNPATH points into Bun's extraction folder).
d=$(CDPATH= cd -- "$(dirname -- "$0")" && pwd)
LD_LIBRARY_PATH="$d\${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" exec "$d/outpost" "$@"
`;

export const DEFAULT_CONFIG = `# Outpost edge — default configuration shipped with the firmware.
# The live configuration is /etc/outpost/edge.yaml; updates never overwrite it.
dataDir: /var/lib/outpost
name: edge
api:
  host: 0.0.0.0
  port: 8080
cameras: []
`;

export const SYSTEMD_UNIT = `[Unit]
Description=Outpost edge recorder (A/B firmware launcher)
After=network-online.target
Wants=network-online.target

[Service]
# The launcher is the factory-installed copy (never updated by a campaign, like a bootloader);
# it picks slot a or b from /var/lib/outpost/firmware/state.json and supervises it.
ExecStart=/opt/outpost/factory/run firmware boot --data /var/lib/outpost -- firmware run --config /etc/outpost/edge.yaml
Restart=always
RestartSec=2
KillMode=control-group
TimeoutStopSec=20

[Install]
WantedBy=multi-user.target
`;

export async function sourceDateEpoch(root: string, given?: number): Promise<number> {
  if (given !== undefined) return given;
  const env = process.env.SOURCE_DATE_EPOCH;
  if (env && /^\d+$/.test(env)) return Number(env);
  const p = Bun.spawnSync(["git", "log", "-1", "--format=%ct"], { cwd: root, stdout: "pipe", stderr: "pipe" });
  const t = p.stdout.toString().trim();
  if (p.exitCode === 0 && /^\d+$/.test(t)) return Number(t);
  throw new Error("no build time: set SOURCE_DATE_EPOCH or build inside a git checkout");
}

export async function compileEdge(root: string, entry: string, outFile: string): Promise<void> {
  const here = `${process.platform}-${process.arch}`;
  const externals = DUCKDB_PLATFORMS.filter((p) => p !== here).flatMap((p) => ["--external", `@duckdb/node-bindings-${p}/duckdb.node`]);
  const p = Bun.spawn([process.execPath, "build", "--compile", entry, "--outfile", outFile, ...externals], { cwd: root, stdout: "pipe", stderr: "pipe" });
  const [code, err, out] = await Promise.all([p.exited, new Response(p.stderr).text(), new Response(p.stdout).text()]);
  if (code !== 0) throw new Error(`bun build --compile failed (${code}):\n${err || out}`);
}

export async function buildAppliance(o: BuildOptions): Promise<BuildResult> {
  const pkg = JSON.parse(await fs.readFile(path.join(o.root, "package.json"), "utf8")) as { version: string };
  const version = o.version ?? pkg.version;
  const builtAt = new Date((await sourceDateEpoch(o.root, o.sourceDateEpoch)) * 1000).toISOString();
  const work = await fs.mkdtemp(path.join(os.tmpdir(), "outpost-fwbuild-"));
  try {
    const exe = path.join(work, "outpost");
    const t0 = performance.now();
    await compileEdge(o.root, o.entry ?? "firmware/entry.ts", exe);
    const compileMs = performance.now() - t0;
    const lib = path.join(o.root, "node_modules", "@duckdb", `node-bindings-${process.platform}-${process.arch}`, "libduckdb.so");
    await fs.access(lib).catch(() => {
      throw new Error(`libduckdb.so not found at ${lib}`);
    });
    const bundleFile = path.join(o.outDir, `outpost-${version}.bundle`);
    const r = await writeBundle(
      {
        version,
        builtAt,
        minFromVersion: o.minFromVersion ?? "0.0.0",
        files: [
          { name: "outpost", source: exe, executable: true },
          { name: "libduckdb.so", source: lib },
          { name: "run", source: new TextEncoder().encode(RUN_WRAPPER), executable: true },
          { name: "edge.default.yaml", source: new TextEncoder().encode(DEFAULT_CONFIG) },
          { name: "outpost.service", source: new TextEncoder().encode(SYSTEMD_UNIT) },
        ],
      },
      bundleFile,
    );
    return { bundleFile, sha256: r.sha256, length: r.length, manifest: r.manifest, executableBytes: (await fs.stat(exe)).size, compileMs };
  } finally {
    await fs.rm(work, { recursive: true, force: true });
  }
}
