/**
 * The appliance build: `bun build --compile` of the outpost CLI into one executable (the web
 * client built and embedded at build time: firmware/compile.ts), plus
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

export { DUCKDB_PLATFORMS } from "./compile.ts";

export interface BuildOptions {
  /** Repository root (where package.json is). */
  root: string;
  outDir: string;
  version?: string;
  minFromVersion?: string;
  entry?: string;
  /** Seconds since the epoch; default SOURCE_DATE_EPOCH, then the git commit time. */
  sourceDateEpoch?: number;
  /** zstd level of the bundle's chunk frames (bundle format 2); null = uncompressed format 1. */
  zstdLevel?: number | null;
}

/**
 * zstd level of the update bundle. Each content-defined chunk is its own frame (delta updates
 * need that). Measured on the appliance build (183 MB, per-chunk frames): level 3 → 43.6 %
 * in 11 s, level 9 → 41.1 % in 54 s on a loaded 2-core box; 5 % more bytes for a build 5× faster.
 */
export const BUNDLE_ZSTD_LEVEL = 3;

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

/** Compiles `entry` with the web client embedded (firmware/compile.ts), from the repository root. */
export async function compileEdge(root: string, entry: string, outFile: string): Promise<void> {
  const p = Bun.spawn([process.execPath, path.join(import.meta.dir, "compile.ts"), entry, outFile], { cwd: root, stdout: "pipe", stderr: "pipe" });
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
        ...(o.zstdLevel === null ? {} : { compress: { level: o.zstdLevel ?? BUNDLE_ZSTD_LEVEL } }),
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
