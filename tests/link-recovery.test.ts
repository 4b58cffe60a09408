/**
 * Recovery when the link returns (system test, needs root): the edge runs in its own network
 * namespace joined to the host by a veth pair; central listens on the host end. The link is
 * cut for real — nftables drops every packet on the edge's veth, so nothing is refused or
 * reset and TCP only sees silence, as on a bus leaving coverage — then restored. Measured from
 * the restore: the first MQTT message central acknowledges, the first upload byte central
 * receives, and central's live recording receiving fragments again. The requirement is the
 * first byte moving within 1 s of the link being usable; the assertion allows 3 s (a loaded
 * shared machine) and the measured values are printed.
 *
 * Product timings on the edge (backoffs, stall timers, intervals); central's live lease is
 * shortened to 6 s so that a 15 s outage outlasts it, as a 90 s outage outlasts the 30 s one.
 */
import "reflect-metadata";
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { makeMedia } from "../lib/store/testdata/media.ts";
import { until } from "./lib/cp.ts";
import { enrollSite, kill, spawnCentral, spawnEdge, type CentralProc, type EdgeProc } from "./lib/transfer-harness.ts";

setDefaultTimeout(240_000);

const NS = `olr${process.pid}`;
const HOST_IF = `olr${process.pid}h`;
const NS_IF = `olr${process.pid}n`;
let subnet = "";
let root: string;
let c: CentralProc;
let e: EdgeProc | null = null;
const cleanups: (() => Promise<unknown>)[] = [];

async function sh(...cmd: string[]): Promise<string> {
  const p = Bun.spawn(cmd, { stdout: "pipe", stderr: "pipe" });
  const code = await p.exited;
  if (code !== 0) throw new Error(`${cmd.join(" ")}: ${await new Response(p.stderr).text()}`);
  return new Response(p.stdout).text();
}
const inNs = (...cmd: string[]) => sh("ip", "netns", "exec", NS, ...cmd);

/** A /30 on 10.254.x.0 that no interface on this host uses yet. */
async function freeSubnet(): Promise<string> {
  const used = await sh("ip", "-4", "addr");
  for (let i = 0; i < 250; i++) {
    const x = (process.pid + i) % 250;
    if (!used.includes(`10.254.${x}.`)) return `10.254.${x}`;
  }
  throw new Error("no free 10.254.x.0/30");
}

const cut = () => inNs("nft", `add table inet ${NS}; add chain inet ${NS} in { type filter hook input priority 0; policy accept; }; add chain inet ${NS} out { type filter hook output priority 0; policy accept; }; add rule inet ${NS} in iifname "${NS_IF}" drop; add rule inet ${NS} out oifname "${NS_IF}" drop`);
const restore = () => inNs("nft", "delete", "table", "inet", NS);

beforeAll(async () => {
  subnet = await freeSubnet();
  await sh("ip", "netns", "add", NS);
  cleanups.push(() => sh("ip", "netns", "del", NS)); // also removes the veth pair
  await sh("ip", "link", "add", HOST_IF, "type", "veth", "peer", "name", NS_IF);
  cleanups.push(() => sh("ip", "link", "del", HOST_IF).catch(() => undefined));
  await sh("ip", "link", "set", NS_IF, "netns", NS);
  await sh("ip", "addr", "add", `${subnet}.1/30`, "dev", HOST_IF);
  await sh("ip", "link", "set", HOST_IF, "up");
  await inNs("ip", "addr", "add", `${subnet}.2/30`, "dev", NS_IF);
  await inNs("ip", "link", "set", NS_IF, "up");
  await inNs("ip", "link", "set", "lo", "up");
  root = await mkdtemp(path.join(tmpdir(), "outpost-link-recovery-"));
  await makeMedia(root, 4);
  c = await spawnCentral(path.join(root, "central"), { live: true, liveLeaseMs: 6000, host: `${subnet}.1` });
});

afterAll(async () => {
  await kill(e);
  await kill(c as never, 15);
  for (const f of cleanups.reverse()) await f().catch((err) => console.error(String(err)));
  await rm(root, { recursive: true, force: true });
});

interface Status {
  at: number;
  uplink: { connected: boolean; outbox: { acked: number; lastSeq: number } };
  transfer: { connected: boolean; stats: { bytesSent: number; committed: number } };
  live: { connected: boolean; bytesSent: number; active: boolean }[];
  reach: { runs: number; ups: number; lastUpAt: number | null };
}

describe("link recovery", () => {
  test("after a real cut (packets dropped, no resets): MQTT, backfill and live move again within a second or so", async () => {
    const dir = path.join(root, "bus");
    // Enrollment listens on loopback only; central's URL names the veth address.
    const siteId = await enrollSite({ ...c, enrollUrl: c.enrollUrl.replace(`${subnet}.1`, "127.0.0.1") }, "bus", dir);
    expect((await c.api("PUT", `/api/v1/sites/${siteId}/policy`, { options: ["after-link-down"] })).status).toBe(200);
    e = await spawnEdge({ dir, mqttPort: c.mqttPort, fedPort: c.federationPort, host: `${subnet}.1`, netns: NS, src: path.join(root, "src.mp4"), cameras: ["cam1"], live: true, productTimings: true });
    const edge = e;
    const status = async () => JSON.parse((await edge.send("status")).find((l) => l.startsWith("STATUS "))!.slice(7)) as Status;
    const liveIn = async () => (await c.api<{ streams: { key: string; fragmentsIn: number }[] }>("GET", "/api/v1/live")).body.streams.find((s) => s.key === `${siteId}.cam1/main`)?.fragmentsIn ?? 0;
    const received = async () => (await c.api<{ receiver: { bytesReceived: number } }>("GET", `/api/v1/sites/${siteId}/transfer`)).body.receiver.bytesReceived;
    await until("live recording at central", async () => (await liveIn()) > 4, 60_000, 300);
    await until("MQTT up and acknowledged", async () => {
      const s = await status();
      return s.uplink.connected && s.uplink.outbox.acked === s.uplink.outbox.lastSeq && s.transfer.connected;
    }, 30_000, 300);
    await Bun.sleep(3000);

    await cut();
    const cutAt = Date.now();
    await Bun.sleep(15_000); // longer than the live lease (6 s) and the live uplink's stall timers
    const st0 = await status();
    const before = { acked: st0.uplink.outbox.acked, committed: st0.transfer.stats.committed, sent: st0.transfer.stats.bytesSent, live: await liveIn(), received: await received() };
    await restore();
    const restoredAt = Date.now();

    // Three independent watchers (~50–100 ms resolution), so a slow answer from one does not delay the others.
    const t: { mqtt?: number; upload?: number; uploadAtCentral?: number; live?: number } = {};
    const watch = async (done: () => boolean, step: () => Promise<void>) => {
      while (!done() && Date.now() - restoredAt < 30_000) {
        await step();
        await Bun.sleep(50);
      }
    };
    await Promise.all([
      watch(() => t.mqtt !== undefined && t.upload !== undefined, async () => {
        const s = await status();
        if (t.mqtt === undefined && s.uplink.outbox.acked > before.acked) t.mqtt = Date.now() - restoredAt;
        if (t.upload === undefined && s.transfer.stats.bytesSent > before.sent) t.upload = Date.now() - restoredAt;
      }),
      watch(() => t.live !== undefined, async () => {
        if ((await liveIn()) > before.live) t.live = Date.now() - restoredAt;
      }),
      watch(() => t.uploadAtCentral !== undefined, async () => {
        if ((await received()) > before.received) t.uploadAtCentral = Date.now() - restoredAt;
      }),
    ]);
    const firstCommit = await until("a backfilled segment committed", async () => ((await status()).transfer.stats.committed > before.committed ? Date.now() - restoredAt : false), 30_000, 100).catch(() => null);
    const s = await status();
    console.log(
      `link recovery after a ${restoredAt - cutAt} ms outage (restored ${new Date(restoredAt).toISOString()}): probe saw central again ${s.reach.lastUpAt ? s.reach.lastUpAt - restoredAt : "never"} ms, first MQTT message acknowledged ${t.mqtt ?? "never"} ms, first upload byte sent ${t.upload ?? "never"} ms (at central ≤ ${t.uploadAtCentral ?? "never"} ms), live recording receiving ${t.live ?? "never"} ms, first backfill commit ≤ ${firstCommit ?? "never"} ms after the restore`,
    );
    expect(t.mqtt).toBeDefined();
    expect(t.upload).toBeDefined();
    expect(t.live).toBeDefined();
    // Requirement ≤ 1 s; asserted with a generous margin for a shared, loaded machine.
    expect(t.mqtt!).toBeLessThan(3000);
    expect(t.upload!).toBeLessThan(3000);
    expect(t.live!).toBeLessThan(3000);
  });
});
