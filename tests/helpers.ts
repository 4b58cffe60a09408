/**
 * Shared helpers for the system tests in tests/: bounded polling, temp dirs, ffmpeg/ffprobe
 * checks, the edge as a child process (`outpost edge --config F`), the edge API with a login,
 * and an orphan check for the gst-launch children that read one camsim.
 * Owns nothing outside tests/; production code is used only through its public faces.
 */
import { expect } from "bun:test";
import { readFileSync, readdirSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect as tlsConnect } from "node:tls";
import { X509Certificate, createHash } from "node:crypto";

export const REPO = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
export const OUTPOST = join(REPO, "cli/outpost.ts");

/** Polls `cond` every `everyMs` until it holds; throws naming `what` after `timeoutMs`. */
export async function until<T>(what: string, cond: () => T | Promise<T>, timeoutMs = 20_000, everyMs = 100): Promise<NonNullable<T>> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await cond();
    if (v) return v as NonNullable<T>;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for: ${what}`);
    await Bun.sleep(everyMs);
  }
}

const dirs: string[] = [];
export async function tempDir(prefix: string): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), `outpost-${prefix}-`));
  dirs.push(d);
  return d;
}
export async function removeTempDirs(): Promise<void> {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true }).catch(() => undefined);
}

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

export async function run(cmd: string[], opts: { env?: Record<string, string>; timeoutMs?: number } = {}): Promise<Run> {
  const p = Bun.spawn(cmd, { cwd: REPO, stdin: "ignore", stdout: "pipe", stderr: "pipe", env: { ...process.env, ...opts.env } });
  const timer = setTimeout(() => p.kill("SIGKILL"), opts.timeoutMs ?? 60_000);
  const [stdout, stderr] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text()]);
  await p.exited;
  clearTimeout(timer);
  return { code: p.exitCode, stdout, stderr };
}

/**
 * `ffmpeg -v error -i SRC -enc_time_base -1 -f null -`: decodes every frame; returns stderr
 * ("" = clean). `-enc_time_base -1` keeps the file's own time base on the way to the null
 * muxer: without it ffmpeg rescales decoded frames to 1/r_frame_rate, a rate it *guesses*
 * from the packet durations, and when the recorder's jitterbuffer has skew-corrected a few
 * frames (67.3 ms instead of 66.7 ms at 15 fps) the guess is e.g. 15000/1001 or 181/12 fps
 * and two frames 66.7 ms apart round onto one tick: "non monotonically increasing dts to
 * muxer" although every DTS in the file strictly increases (see strictDts below).
 */
export async function ffmpegErrors(src: string, extra: string[] = []): Promise<string> {
  const r = await run(["ffmpeg", "-nostdin", "-v", "error", ...extra, "-i", src, "-enc_time_base", "-1", "-f", "null", "-"]);
  return (r.code === 0 ? "" : `exit ${r.code}\n`) + r.stderr.trim();
}

/** Problems with the video DTS sequence as stored: "" when every packet's DTS > the previous one's. */
export async function strictDts(src: string): Promise<string> {
  const r = await run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "packet=dts", "-of", "csv=p=0", src]);
  if (r.code !== 0) return `ffprobe exit ${r.code}: ${r.stderr}`;
  const dts = r.stdout.split("\n").map((l) => l.replace(/,$/, "").trim()).filter(Boolean).map(Number);
  const bad: string[] = [];
  for (let i = 1; i < dts.length; i++) if (!(dts[i]! > dts[i - 1]!)) bad.push(`#${i}: ${dts[i - 1]} → ${dts[i]}`);
  return dts.length === 0 ? "no video packets" : bad.slice(0, 5).join("; ");
}

/** Container duration in seconds (ffprobe format=duration). */
export async function probeDuration(src: string, extra: string[] = []): Promise<number> {
  const r = await run(["ffprobe", "-v", "error", ...extra, "-show_entries", "format=duration", "-of", "csv=p=0", src]);
  if (r.code !== 0) throw new Error(`ffprobe failed on ${src}: ${r.stderr}`);
  return Number(r.stdout.trim());
}

/** Video streams ffprobe sees, with frames actually decoded. */
export async function probeFrames(src: string): Promise<{ codec: string; frames: number; err: string }> {
  const r = await run(["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0", "-show_entries", "stream=codec_name,nb_read_frames", "-of", "csv=p=0", src]);
  const [codec = "", frames = "0"] = r.stdout.trim().split(",");
  return { codec, frames: Number(frames), err: r.stderr.trim() + (r.code ? ` (exit ${r.code})` : "") };
}

/** A logged-in client of an edge API. */
export class ApiClient {
  constructor(
    readonly base: string,
    readonly token: string,
  ) {}

  static async login(base: string, user: string, password: string): Promise<ApiClient> {
    const r = await fetch(`${base}/api/v1/login`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ user, password }) });
    if (r.status !== 200) throw new Error(`login failed: ${r.status} ${await r.text()}`);
    const j = (await r.json()) as { token: string };
    return new ApiClient(base, j.token);
  }

  fetch(path: string, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    headers.set("authorization", `Bearer ${this.token}`);
    return fetch(`${this.base}/api/v1${path}`, { ...init, headers });
  }

  async json<T = any>(path: string, init: RequestInit = {}): Promise<T> {
    const r = await this.fetch(path, init);
    if (!r.ok) throw new Error(`${init.method ?? "GET"} ${path}: ${r.status} ${await r.text()}`);
    return (await r.json()) as T;
  }

  post(path: string, body: unknown): Promise<Response> {
    return this.fetch(path, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  }
}

export const isoOf = (ms: number) => new Date(ms).toISOString();

/** Pids of live gst-launch processes whose command line mentions `needle` (e.g. the camsim RTSP port). */
export function gstProcesses(needle: string): number[] {
  const out: number[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const cmd = readFileSync(`/proc/${name}/cmdline`, "utf8");
      if (!cmd.includes("gst-launch-1.0") || !cmd.includes(needle)) continue;
      const stat = readFileSync(`/proc/${name}/stat`, "utf8");
      if (/\) Z /.test(stat)) continue; // zombie: dead, only not reaped yet
      out.push(Number(name));
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

/** Same check with pgrep, as asked for: gst-launch children left reading this camsim port. */
export async function pgrepGst(rtspPort: number): Promise<number[]> {
  const r = await run(["pgrep", "-f", `gst-launch-1.0.*127\\.0\\.0\\.1:${rtspPort}/`]);
  const pids = r.stdout.split("\n").map(Number).filter((n) => n > 0);
  // pgrep also lists zombies; keep only processes that still run.
  return pids.filter((p) => gstProcesses(`:${rtspPort}/`).includes(p));
}

export function alive(pid: number): boolean {
  try {
    return !/\) Z /.test(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return false;
  }
}

/** Direct children of a process (from /proc/PID/task/*\/children). */
export function childrenOf(pid: number): number[] {
  const out: number[] = [];
  try {
    for (const t of readdirSync(`/proc/${pid}/task`)) {
      for (const c of readFileSync(`/proc/${pid}/task/${t}/children`, "utf8").trim().split(/\s+/)) if (c) out.push(Number(c));
    }
  } catch {
    // gone
  }
  return out;
}

/** An `outpost edge --config FILE` child process; its JSON-lines log collected. */
export class EdgeProcess {
  readonly proc: ReturnType<typeof Bun.spawn>;
  log = "";
  private readers: Promise<void>[];

  constructor(configFile: string, env: Record<string, string> = {}) {
    this.proc = Bun.spawn(["bun", OUTPOST, "edge", "--config", configFile], {
      cwd: REPO,
      stdin: "ignore",
      stdout: "pipe",
      stderr: "pipe",
      env: { ...process.env, OUTPOST_LOG_FORMAT: "json", ...env },
    });
    const collect = async (s: ReadableStream<Uint8Array>) => {
      const dec = new TextDecoder();
      for await (const c of s) {
        this.log += dec.decode(c, { stream: true });
        if (this.log.length > 4_000_000) this.log = this.log.slice(-2_000_000);
      }
    };
    this.readers = [collect(this.proc.stdout as ReadableStream<Uint8Array>), collect(this.proc.stderr as ReadableStream<Uint8Array>)];
  }

  get pid(): number {
    return this.proc.pid;
  }

  /** The API URL from the "edge API listening" log line. */
  async url(timeoutMs = 20_000): Promise<string> {
    return until(
      "edge API URL in the log",
      () => {
        if (this.proc.exitCode !== null) throw new Error(`edge exited (${this.proc.exitCode}): ${this.log.slice(-2000)}`);
        return /"url":"(https?:\/\/127\.0\.0\.1:\d+)"/.exec(this.log)?.[1];
      },
      timeoutMs,
    );
  }

  kill9(): void {
    this.proc.kill("SIGKILL");
  }

  /** SIGTERM and wait (SIGKILL after timeoutMs). */
  async stop(timeoutMs = 15_000): Promise<number | null> {
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill("SIGTERM");
    const t = setTimeout(() => this.proc.kill("SIGKILL"), timeoutMs);
    await this.proc.exited;
    clearTimeout(t);
    await Promise.all(this.readers).catch(() => undefined);
    return this.proc.exitCode;
  }

  async exited(): Promise<void> {
    await this.proc.exited;
    await Promise.all(this.readers).catch(() => undefined);
  }
}

/** argon2id hash of a password (what admin.passwordHash expects). */
export function hashPassword(pw: string): Promise<string> {
  return Bun.password.hash(pw, "argon2id");
}

/**
 * afterAll of a camsim + edge system test: stop the edge, close camsim, remove temp dirs, and
 * prove that no gst-launch is left reading camsim's port.
 */
export async function closeRig(edge: { stop(): Promise<void> } | undefined, sim: { rtspPort: number; close(): Promise<void> } | undefined): Promise<void> {
  await edge?.stop();
  const port = sim?.rtspPort;
  await sim?.close();
  await removeTempDirs();
  if (port) {
    expect(await pgrepGst(port)).toEqual([]);
    expect(gstProcesses(`:${port}/`)).toEqual([]);
  }
}

/** Chromium flags every browser test uses (TOOLCHAIN: headless Debian Chromium, no QUIC, no background traffic). */
export const CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--autoplay-policy=no-user-gesture-required"];

/**
 * HTTPS trust for tests against a demo, as a user would set it up: `ca` for fetch (central's CA
 * and each edge's self-signed certificate, what the demo prints), and a Chromium flag that
 * trusts exactly the keys those servers present. The presented certificate is first verified
 * against `ca`, so the flag cannot whitelist a server the CA does not vouch for.
 */
export async function demoTrust(info: { central: { url: string; caFile: string }; edges: { url: string; certFile?: string }[] }): Promise<{ ca: string[]; chromiumArgs: string[] }> {
  const ca = [readFileSync(info.central.caFile, "utf8"), ...info.edges.flatMap((e) => (e.certFile ? [readFileSync(e.certFile, "utf8")] : []))];
  const spki = await Promise.all([info.central.url, ...info.edges.map((e) => e.url)].map((u) => presentedSpkiSha256(u, ca)));
  return { ca, chromiumArgs: [`--ignore-certificate-errors-spki-list=${[...new Set(spki)].join(",")}`] };
}

/** base64 SHA-256 of the public key an HTTPS server presents (Chromium's SPKI pin format), after verifying it against `ca`. */
export async function presentedSpkiSha256(url: string, ca: string[]): Promise<string> {
  const u = new URL(url);
  const der = await new Promise<Buffer>((resolve, reject) => {
    const s = tlsConnect({ host: u.hostname.replace(/^\[|\]$/g, ""), port: Number(u.port), ca, servername: u.hostname === "localhost" ? "localhost" : undefined, rejectUnauthorized: true }, () => {
      const raw = s.getPeerCertificate().raw;
      s.end();
      resolve(raw);
    });
    s.once("error", reject);
  });
  const spki = new X509Certificate(der).publicKey.export({ type: "spki", format: "der" });
  return createHash("sha256").update(spki).digest("base64");
}
