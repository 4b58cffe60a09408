/**
 * Web client benchmarks (issue 8). Prints a markdown table.
 *   bun bench/web.bench.ts [--runs 5]
 *
 * bundle:   JS entry of the web client, minified, gzipped (target ≤ 300 KB).
 * timeline: drawing 30 days of 1-minute ranges (43 200 ranges, alternating held-at, with
 *           gaps) on a 1600 px canvas in Debian Chromium; median and worst of 20 (target ≤ 100 ms).
 * live:     login → first decoded frame in every tile of a 4-tile grid (grid restored from the
 *           user's previous session), on loopback against `outpost demo` (1 edge × 4 cameras),
 *           over HTTPS: at central (through its live relay, the browser trusting central's
 *           certificate as a user would) and at the edge's own client (target ≤ 2 s).
 * tabs:     four tabs of central open at once in one browser profile (one login): each must
 *           load (the tree shows the site); time from opening the three new tabs until all have.
 */
import { parseArgs } from "node:util";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { chromium } from "playwright-core";
import { buildWeb } from "../web/build.ts";
import { startDemo } from "../cli/commands/demo.ts";
import { CHROMIUM_ARGS, demoTrust } from "../tests/helpers.ts";

const { values } = parseArgs({ options: { runs: { type: "string", default: "5" } } });
const runs = Number(values.runs);
const rows: string[][] = [];
const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const b = await buildWeb();
rows.push(["JS bundle (gzipped)", `${(b.jsGzipBytes / 1024).toFixed(1)} KB (${(b.jsBytes / 1024).toFixed(0)} KB raw)`, "≤ 300 KB"]);

const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: CHROMIUM_ARGS });
try {
  // timeline render, in the browser, with the same drawing code the client uses
  const tmp = await mkdtemp(path.join(os.tmpdir(), "outpost-webbench-tl-"));
  const entry = path.join(tmp, "entry.ts");
  await Bun.write(entry, `import * as TL from ${JSON.stringify(path.join(import.meta.dir, "..", "web", "timeline-draw.ts"))};\n(globalThis as any).TL = TL;\n`);
  const draw = await Bun.build({ entrypoints: [entry], target: "browser", format: "iife", minify: true });
  const code = await draw.outputs[0]!.text();
  await rm(tmp, { recursive: true, force: true });
  const page = await browser.newPage();
  await page.setContent("<canvas id=c></canvas>");
  await page.addScriptTag({ content: code });
  const times = await page.evaluate(() => {
    const TL = (window as unknown as { TL: typeof import("../web/timeline-draw.ts") }).TL;
    const now = Date.now();
    const from = now - 30 * 86400e3;
    const ranges = [];
    const gaps = [];
    const held = ["both", "central", "edge"] as const;
    for (let t = from, i = 0; t < now; t += 60e3, i++) {
      if (i % 97 === 50) gaps.push({ startMs: t, endMs: t + 60e3, reason: "camera offline" });
      else ranges.push({ startMs: t, endMs: t + 59_500, held: held[Math.floor(i / 300) % 3]!, locked: i % 5000 === 0 });
    }
    const tl = { ranges, gaps, retrievals: [{ id: "r", startMs: now - 86400e3, endMs: now - 80000e3, progress: 40, state: "running" }] };
    const c = document.getElementById("c") as HTMLCanvasElement;
    c.width = 1600;
    c.height = 74;
    const ctx = c.getContext("2d")!;
    const out: number[] = [];
    for (let k = 0; k < 20; k++) {
      const t0 = performance.now();
      TL.drawTimeline(ctx, 1600, 74, { fromMs: from, toMs: now }, tl, { cursorMs: now - 3600e3 });
      ctx.getImageData(0, 0, 1, 1); // flush the drawing
      out.push(performance.now() - t0);
    }
    return out;
  });
  rows.push(["timeline render, 30 days / 43 200 ranges", `median ${med(times).toFixed(1)} ms, worst ${Math.max(...times).toFixed(1)} ms`, "≤ 100 ms"]);
  await page.close();

  // login → first live frame in all 4 tiles, at central and at the edge; four central tabs at once
  const dir = await mkdtemp(path.join(os.tmpdir(), "outpost-webbench-"));
  const demo = await startDemo({ dataDir: dir, port: 0, edges: 1, camerasPerEdge: 4 });
  // a browser that trusts the demo's servers (central's CA, the edge's certificate), as a user's would after setup
  const trust = await demoTrust(demo.info);
  const tls = await chromium.launch({ executablePath: "/usr/bin/chromium", args: [...CHROMIUM_ARGS, ...trust.chromiumArgs] });
  try {
    const e = demo.info.edges[0]!;
    await Bun.sleep(6000); // cameras connected and recording
    /** Opens `url` with this user's last grid (4 cameras) stored, logs in, and times the first frame of each tile. */
    const firstFrames = async (url: string, user: string, password: string, cams: string[]) => {
      const ctx = await tls.newContext({ viewport: { width: 1440, height: 900 } });
      const p = await ctx.newPage();
      await p.goto(url + "/live");
      await p.evaluate(
        ([key, tiles]) => localStorage.setItem(key as string, JSON.stringify({ name: "", layout: 4, tiles: (tiles as string[]).map((camera) => ({ camera, stream: "main" })) })),
        [`outpost.grid.${user}`, cams] as const,
      );
      await p.reload();
      await p.getByLabel("User").fill(user);
      await p.getByLabel("Password").fill(password);
      const t0 = await p.evaluate(() => performance.now());
      await p.getByRole("button", { name: "Sign in" }).click();
      const t = await p.evaluate(
        () =>
          new Promise<number[]>((resolve) => {
            const seen = new Map<number, number>();
            const poll = () => {
              document.querySelectorAll<HTMLVideoElement>("[data-tile] video").forEach((v, i) => {
                if (!seen.has(i) && v.readyState >= 2 && v.currentTime > 0) seen.set(i, performance.now());
              });
              if (seen.size === 4) resolve([...seen.values()]);
              else requestAnimationFrame(poll);
            };
            poll();
          }),
      );
      await ctx.close();
      return { all: Math.max(...t) - t0, first: Math.min(...t) - t0 };
    };
    const cams = ["cam1", "cam2", "cam3", "cam4"];
    for (const [where, url, user, password, ids] of [
      ["central", demo.info.central.url, "admin", demo.info.central.password, cams.map((c) => `${e.siteId}.${c}`)],
      ["edge", e.url, e.user, e.password, cams],
    ] as const) {
      const res: { all: number; first: number }[] = [];
      for (let r = 0; r < runs; r++) res.push(await firstFrames(url, user, password, [...ids]));
      rows.push([`login → first live frame, 4 tiles, HTTPS (${where}, ${runs} runs)`, `all 4: median ${med(res.map((x) => x.all)).toFixed(0)} ms (worst ${Math.max(...res.map((x) => x.all)).toFixed(0)}); first tile: median ${med(res.map((x) => x.first)).toFixed(0)} ms`, "≤ 2 s"]);
    }

    // four tabs of central at once: HTTP/1.1 allows 6 connections per server, so each tab's
    // event streams must be shared (web/shared-stream.ts) or the fourth tab never loads
    const tabRuns: number[] = [];
    let loaded = 0;
    for (let r = 0; r < runs; r++) {
      const ctx = await tls.newContext({ viewport: { width: 1280, height: 800 } });
      const first = await ctx.newPage();
      await first.goto(demo.info.central.url + "/live");
      await first.getByLabel("User").fill("admin");
      await first.getByLabel("Password").fill(demo.info.central.password);
      await first.getByRole("button", { name: "Sign in" }).click();
      await first.locator(`.site[data-site="${e.name}"]`).waitFor();
      const others = await Promise.all([1, 2, 3].map(() => ctx.newPage()));
      const t0 = Date.now();
      const ok = await Promise.all(
        others.map(async (p) => {
          try {
            await p.goto(demo.info.central.url + "/live", { timeout: 30_000 });
            await p.locator(`.site[data-site="${e.name}"]`).waitFor({ timeout: 30_000 });
            return true;
          } catch {
            return false;
          }
        }),
      );
      tabRuns.push(Date.now() - t0);
      loaded += ok.filter(Boolean).length + 1;
      await ctx.close();
    }
    rows.push([`four central tabs open at once (${runs} runs)`, `${loaded} of ${4 * runs} tabs loaded; all four loaded after median ${med(tabRuns).toFixed(0)} ms (worst ${Math.max(...tabRuns).toFixed(0)})`, "all four load"]);
  } finally {
    await tls.close();
    await demo.stop();
    await rm(dir, { recursive: true, force: true });
  }
} finally {
  await browser.close();
}

console.log("\n| measure | result | target |\n| --- | --- | --- |");
for (const r of rows) console.log(`| ${r.join(" | ")} |`);
process.exit(0);
