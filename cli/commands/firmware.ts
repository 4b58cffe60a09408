/**
 * `outpost firmware`: build, keys, signing, verification, provisioning, the A/B launcher and the
 * appliance run mode (edge recorder + update agent). Logic lives in firmware/; this module only
 * parses options and prints results.
 */
import { privateUmask } from "../../lib/fsutil.ts";
import { promises as fs } from "node:fs";
import path from "node:path";
import { CliError, parseOptions, requireOption, untilSignal, type Command } from "../../lib/cli/index.ts";

const usage = `usage:
  outpost firmware build --out DIR [--version V] [--min-from V] [--entry FILE]
      reproducible bundle: compiled executable + libduckdb.so + run wrapper + default config + systemd unit
  outpost firmware keygen --out KEY.json
      new Ed25519 update key (keep it offline; it is not the federation CA key)
  outpost firmware root --root-key KEY.json --targets-key KEY.json --expires-days N --out ROOT.json
        [--previous OLD-ROOT.json --old-root-key OLDKEY.json]
      first root (self-signed), or the next root signed by the old and new root keys (rotation)
  outpost firmware sign --bundle FILE --key KEY.json --meta-version N --expires-days D --out TARGETS.json
      signed targets metadata for a bundle (N must grow with every release)
  outpost firmware verify --root ROOT.json --targets TARGETS.json [--bundle FILE] [--current V]
  outpost firmware install --data DIR --root ROOT.json --bundle FILE --targets TARGETS.json
      factory provisioning: pin the root, install the release into slot a
  outpost firmware status --data DIR
  outpost firmware boot --data DIR [--trial-timeout S] -- ARGS...
      the launcher: pick the slot (boot counter, rollback), verify it, run its 'run ARGS...'
  outpost firmware run --config FILE [--health-timeout S] [--poll S]
      appliance mode: the edge recorder plus the update agent (started by 'boot')`;

const command: Command = {
  summary: "appliance build, signed updates, A/B slots with rollback",
  usage,
  async run(argv) {
    const [sub, ...rest] = argv;
    const f = sub ? subs[sub] : undefined;
    if (!f) throw new CliError(sub ? `unknown firmware command '${sub}'\n\n${usage}` : usage);
    // The appliance's data dir (slots, state, recordings of the edge it runs) is private.
    if (sub === "install" || sub === "boot" || sub === "run") privateUmask();
    return f(rest);
  },
};
export default command;

const days = (n: string | undefined, name: string) => {
  const v = Number(n);
  if (!Number.isFinite(v) || v <= 0) throw new CliError(`--${name} must be a positive number of days`);
  return new Date(Date.now() + v * 86_400_000).toISOString();
};

async function readJson(file: string): Promise<unknown> {
  try {
    return JSON.parse(await fs.readFile(file, "utf8"));
  } catch (e) {
    throw new CliError(`cannot read ${file}: ${(e as Error).message}`, 1);
  }
}

async function wrap<T>(f: () => Promise<T>): Promise<T> {
  const { UpdateError } = await import("../../firmware/meta.ts");
  try {
    return await f();
  } catch (e) {
    if (e instanceof UpdateError) throw new CliError(`${e.code}: ${e.message}`, 1);
    throw e;
  }
}

const subs: Record<string, (argv: string[]) => Promise<number>> = {
  async build(argv) {
    const { values } = parseOptions(argv, { out: { type: "string" }, version: { type: "string" }, "min-from": { type: "string" }, entry: { type: "string" } }, usage);
    const { buildAppliance } = await import("../../firmware/build.ts");
    const root = path.resolve(import.meta.dir, "../..");
    const r = await buildAppliance({ root, outDir: path.resolve(requireOption(values, "out", usage)), version: values.version, minFromVersion: values["min-from"], entry: values.entry });
    console.log(JSON.stringify({ bundle: r.bundleFile, sha256: r.sha256, bytes: r.length, version: r.manifest.version, builtAt: r.manifest.builtAt, files: r.manifest.files.map((f) => ({ name: f.name, bytes: f.length, sha256: f.sha256 })) }, null, 2));
    return 0;
  },
  async keygen(argv) {
    const { values } = parseOptions(argv, { out: { type: "string" } }, usage);
    const out = requireOption(values, "out", usage);
    const { generateKey } = await import("../../firmware/meta.ts");
    const k = await generateKey();
    await fs.writeFile(out, JSON.stringify(k, null, 2) + "\n", { mode: 0o600, flag: "wx" }).catch((e) => {
      throw new CliError(`cannot write ${out}: ${(e as Error).message}`, 1);
    });
    console.log(`update key ${k.keyid} written to ${out} (keep it offline)`);
    return 0;
  },
  async root(argv) {
    const { values } = parseOptions(
      argv,
      { "root-key": { type: "string", multiple: true }, "targets-key": { type: "string", multiple: true }, "expires-days": { type: "string" }, out: { type: "string" }, previous: { type: "string" }, "old-root-key": { type: "string", multiple: true } },
      usage,
    );
    const m = await import("../../firmware/meta.ts");
    const load = async (files: string[] | undefined, name: string) => {
      if (!files?.length) throw new CliError(`missing --${name}\n\n${usage}`);
      return Promise.all(files.map(async (f) => m.PrivateKeyFile.parse(await readJson(f))));
    };
    const rootKeys = await load(values["root-key"], "root-key");
    const targetsKeys = await load(values["targets-key"], "targets-key");
    const expires = days(values["expires-days"], "expires-days");
    const out = requireOption(values, "out", usage);
    const r = await wrap(async () =>
      values.previous
        ? m.rotateRoot(m.parseRoot(await readJson(values.previous)), { oldRootKeys: await load(values["old-root-key"], "old-root-key"), rootKeys, targetsKeys, expires })
        : m.createRoot({ rootKeys, targetsKeys, expires }),
    );
    await fs.writeFile(out, JSON.stringify(r, null, 2) + "\n");
    console.log(`root v${r.signed.version} written to ${out}, expires ${expires}`);
    return 0;
  },
  async sign(argv) {
    const { values } = parseOptions(argv, { bundle: { type: "string" }, key: { type: "string", multiple: true }, "meta-version": { type: "string" }, "expires-days": { type: "string" }, out: { type: "string" } }, usage);
    const m = await import("../../firmware/meta.ts");
    const { signRelease } = await import("../../firmware/release.ts");
    if (!values.key?.length) throw new CliError(`missing --key\n\n${usage}`);
    const keys = await Promise.all(values.key.map(async (f) => m.PrivateKeyFile.parse(await readJson(f))));
    const version = Number(requireOption(values, "meta-version", usage));
    if (!Number.isInteger(version) || version < 1) throw new CliError("--meta-version must be a positive integer");
    const t = await wrap(() => signRelease(requireOption(values, "bundle", usage), { keys, version, expires: days(values["expires-days"], "expires-days") }));
    const out = requireOption(values, "out", usage);
    await fs.writeFile(out, JSON.stringify(t, null, 2) + "\n");
    console.log(`signed targets v${version} for release ${t.signed.release.version} written to ${out}`);
    return 0;
  },
  async verify(argv) {
    const { values } = parseOptions(argv, { root: { type: "string" }, targets: { type: "string" }, bundle: { type: "string" }, current: { type: "string" } }, usage);
    const m = await import("../../firmware/meta.ts");
    const { hashFile } = await import("../../firmware/fsutil.ts");
    const root = m.parseRoot(await readJson(requireOption(values, "root", usage)));
    const t = await wrap(async () => {
      await m.verifyRole(root, root.signed, "root", "root");
      const t = await m.verifyTargets(await readJson(requireOption(values, "targets", usage)), { root: root.signed, now: Date.now(), lastTargetsVersion: 0, currentRelease: values.current ?? null }, { forInstall: !!values.current });
      if (values.bundle) {
        const h = await hashFile(values.bundle, t.signed.bundle.length + 1);
        if (h.length !== t.signed.bundle.length) throw new m.UpdateError("length-mismatch", `bundle has ${h.length} bytes, ${t.signed.bundle.length} signed`);
        if (h.sha256 !== t.signed.bundle.sha256) throw new m.UpdateError("hash-mismatch", "bundle SHA-256 differs from the signed targets");
      }
      return t;
    });
    console.log(`ok: release ${t.signed.release.version} (targets v${t.signed.version}, expires ${t.signed.expires})${values.bundle ? ", bundle matches" : ""}`);
    return 0;
  },
  async install(argv) {
    const { values } = parseOptions(argv, { data: { type: "string" }, root: { type: "string" }, bundle: { type: "string" }, targets: { type: "string" } }, usage);
    const { provision } = await import("../../firmware/agent/index.ts");
    const r = await wrap(async () =>
      provision({ dataDir: requireOption(values, "data", usage), root: await readJson(requireOption(values, "root", usage)), bundleFile: requireOption(values, "bundle", usage), targets: await readJson(requireOption(values, "targets", usage)), now: Date.now() }),
    );
    console.log(`installed ${r.version} into slot a`);
    return 0;
  },
  async status(argv) {
    const { values } = parseOptions(argv, { data: { type: "string" } }, usage);
    const s = await import("../../firmware/slots.ts");
    const p = s.firmwarePaths(requireOption(values, "data", usage));
    const st = await wrap(() => s.readState(p));
    console.log(JSON.stringify({ ...st, versions: { a: await s.slotVersion(p, "a"), b: await s.slotVersion(p, "b") } }, null, 2));
    return 0;
  },
  async boot(argv) {
    const dd = argv.indexOf("--");
    const own = dd < 0 ? argv : argv.slice(0, dd);
    const args = dd < 0 ? [] : argv.slice(dd + 1);
    const { values } = parseOptions(own, { data: { type: "string" }, "trial-timeout": { type: "string" } }, usage);
    const { runBoot } = await import("../../firmware/boot.ts");
    const t = values["trial-timeout"] ? Number(values["trial-timeout"]) * 1000 : undefined;
    return wrap(() => runBoot({ dataDir: path.resolve(requireOption(values, "data", usage)), args, trialTimeoutMs: t, stop: untilSignal() }));
  },
  async run(argv) {
    const { values } = parseOptions(argv, { config: { type: "string" }, "health-timeout": { type: "string" }, poll: { type: "string" } }, usage);
    const { runAppliance } = await import("../../firmware/appliance.ts");
    return runAppliance({
      configFile: requireOption(values, "config", usage),
      healthTimeoutMs: values["health-timeout"] ? Number(values["health-timeout"]) * 1000 : undefined,
      pollMs: values.poll ? Number(values.poll) * 1000 : undefined,
    });
  },
};
