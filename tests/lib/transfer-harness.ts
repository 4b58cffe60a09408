/**
 * Test support for transfer system tests: central and edge as child processes (kill -9 able),
 * link emulators (federation/transfer/testkit) in front of central's MQTT and federation
 * listeners, an admin API client, and helpers to compare what central holds with the edge.
 */
import "reflect-metadata";
import path from "node:path";
import type { Subprocess } from "bun";
import { enroll } from "../../edge/identity/index.ts";
import { startLink, type LinkEmulator } from "../../federation/transfer/testkit.ts";
import { quiet } from "./cp.ts";
import { union } from "../../central/holdings/index.ts";
import { spawnLineChild } from "./line-child.ts";

export interface CentralProc {
  proc: Subprocess<"ignore", "pipe", "inherit">;
  apiUrl: string;
  enrollUrl: string;
  federationPort: number;
  mqttPort: number;
  password: string;
  token: string;
  api<T = unknown>(method: string, p: string, body?: unknown): Promise<{ status: number; body: T }>;
}

export async function spawnCentral(dataDir: string, opts: { chunkSize?: number; settleMs?: number; deadlineMarginMs?: number; live?: boolean; liveLeaseMs?: number; host?: string } = {}): Promise<CentralProc> {
  const proc = Bun.spawn(["bun", path.join(import.meta.dir, "transfer-central.ts"), JSON.stringify({ dataDir, ...opts })], { stdin: "ignore", stdout: "pipe", stderr: "inherit" });
  let buf = "";
  let ready: Record<string, unknown> | null = null;
  const reader = proc.stdout.getReader();
  while (!ready) {
    const { done, value } = await reader.read();
    if (done) throw new Error(`central exited with ${await proc.exited}`);
    buf += new TextDecoder().decode(value);
    const m = /READY (.*)\n/.exec(buf);
    if (m) ready = JSON.parse(m[1]!) as Record<string, unknown>;
  }
  void (async () => {
    for (;;) {
      const { done } = await reader.read().catch(() => ({ done: true }));
      if (done) break;
    }
  })();
  const apiUrl = ready.apiUrl as string;
  const login = await fetch(`${apiUrl}/api/v1/login`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ user: "admin", password: ready.password }) });
  const token = ((await login.json()) as { token: string }).token;
  return {
    proc,
    apiUrl,
    enrollUrl: ready.enrollUrl as string,
    federationPort: ready.federationPort as number,
    mqttPort: ready.mqttPort as number,
    password: ready.password as string,
    token,
    async api(method, p, body) {
      const res = await fetch(apiUrl + p, { method, headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { "content-type": "application/json" }) }, body: body === undefined ? undefined : JSON.stringify(body) });
      const text = await res.text();
      return { status: res.status, body: (text ? JSON.parse(text) : null) as never };
    },
  };
}

export interface EdgeProc {
  proc: Subprocess<"pipe", "pipe", "inherit">;
  send(cmd: string): Promise<string[]>;
  dump(): Promise<EdgeDump>;
}

export interface EdgeDump {
  cams: Record<string, { startMs: number; endMs: number; bytes: number; sha256: string }[]>;
  locks: { id: string; cameraId: string; startMs: number; endMs: number }[];
  transfer: { link: string; connected: boolean; queued: number; usage: { month: string; byLink: Record<string, number> }; budgetBlocked: boolean; stats: Record<string, number> };
  uplink: { connected: boolean };
}

export async function spawnEdge(o: { dir: string; mqttPort: number; fedPort: number; src: string; cameras: string[]; link?: string; workers?: number; retentionMs?: number; perRequest?: number; live?: boolean; host?: string; netns?: string; productTimings?: boolean; sub?: boolean }): Promise<EdgeProc> {
  const host = o.host ?? "localhost";
  const arg = { dir: o.dir, mqttUrl: `mqtts://${host}:${o.mqttPort}`, federationUrl: `https://${host}:${o.fedPort}`, src: o.src, cameras: o.cameras, link: o.link, workers: o.workers, retentionMs: o.retentionMs, perRequest: o.perRequest, live: o.live, productTimings: o.productTimings, sub: o.sub };
  const cmd = ["bun", path.join(import.meta.dir, "transfer-edge.ts"), JSON.stringify(arg)];
  const { proc, send } = await spawnLineChild(o.netns ? ["ip", "netns", "exec", o.netns, ...cmd] : cmd, "edge");
  return {
    proc,
    send,
    async dump() {
      const out = await send("dump");
      const l = out.find((x) => x.startsWith("DUMP "));
      if (!l) throw new Error(`no dump: ${out.join(" | ")}`);
      return JSON.parse(l.slice(5)) as EdgeDump;
    },
  };
}

export async function enrollSite(c: CentralProc, name: string, dir: string): Promise<string> {
  const t = await c.api<{ token: string }>("POST", "/api/v1/enrollment-tokens", { site: name });
  if (t.status !== 201) throw new Error(`enrollment token: ${t.status} ${JSON.stringify(t.body)}`);
  return (await enroll({ centralUrl: c.enrollUrl, token: t.body.token, dataDir: dir, log: quiet("enroll") })).siteId;
}

export async function links(c: CentralProc, fed: { rateBps?: number; rttMs?: number } = {}): Promise<{ mqtt: LinkEmulator; fed: LinkEmulator }> {
  return { mqtt: await startLink({ targetPort: c.mqttPort }), fed: await startLink({ targetPort: c.federationPort, ...fed }) };
}

export async function kill(p: { proc: Subprocess<never, never, never> | Subprocess<"pipe", "pipe", "inherit"> | Subprocess<"ignore", "pipe", "inherit"> } | null, signal = 9): Promise<void> {
  if (!p || p.proc.exitCode !== null) return;
  p.proc.kill(signal);
  await p.proc.exited;
}

export interface HeldSeg {
  startMs: number;
  endMs: number;
  bytes: number;
  sha256: string | null;
}

export async function centralSegments(c: Pick<CentralProc, "api">, cameraId: string): Promise<HeldSeg[]> {
  const r = await c.api<{ segments: HeldSeg[] }>("GET", `/api/v1/cameras/${cameraId}/segments?from=${new Date(Date.now() - 86_400_000).toISOString()}&to=${new Date(Date.now() + 60_000).toISOString()}`);
  if (r.status !== 200) throw new Error(`segments ${cameraId}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body.segments;
}

type EdgeSeg = EdgeDump["cams"][string][number];

/** Central's segments split into edge copies (same start and hash as an edge segment) and its own live recordings. */
export function split(central: HeldSeg[], edge: EdgeSeg[]): { copies: HeldSeg[]; liveSegs: HeldSeg[] } {
  const byStart = new Map(edge.map((s) => [s.startMs, s]));
  const copies = central.filter((g) => byStart.get(g.startMs)?.sha256 === g.sha256);
  const liveSegs = central.filter((g) => !copies.includes(g));
  return { copies, liveSegs };
}

/** Edge segments central's live recording does not cover (within the planner's tolerance). */
export function notCoveredByLive(edge: EdgeSeg[], liveSegs: HeldSeg[]): EdgeSeg[] {
  const ranges = union(liveSegs);
  return edge.filter((s) => {
    const tol = Math.min(500, (s.endMs - s.startMs) / 4);
    return !ranges.some((r) => r.startMs <= s.startMs + tol && r.endMs >= s.endMs - tol);
  });
}
