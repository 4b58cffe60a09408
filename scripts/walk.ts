/**
 * A user's day, walked in Chromium (a tool for people, not a test): starts `outpost demo` on
 * free ports in a temporary directory, signs in at central and at the first edge, opens every
 * tab and admin page the navigation offers at desktop and phone size, and saves a screenshot of
 * each under test-artifacts/walk/. Prints, per page, the browser console errors and the failed
 * requests it saw, so a button that answers 404 or a page that throws shows up in the list.
 *
 *   bun scripts/walk.ts [--settle SECONDS]   (default 6: time for live tiles to start)
 */
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type Page } from "playwright-core";
import { startDemo } from "../cli/commands/demo.ts";
import { CHROMIUM_ARGS, demoTrust } from "../tests/helpers.ts";

const ART = join(import.meta.dir, "..", "test-artifacts", "walk");
const settleMs = Number(process.argv[process.argv.indexOf("--settle") + 1] || 6) * 1000;

const dir = await mkdtemp(join(tmpdir(), "outpost-walk-"));
await mkdir(ART, { recursive: true });
const demo = await startDemo({ dataDir: dir, port: 0, segmentDurationMs: 10_000 });
const trust = await demoTrust(demo.info);
const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: [...CHROMIUM_ARGS, ...trust.chromiumArgs] });
const problems: string[] = [];

async function walk(who: string, base: string, user: string, password: string, viewport: { width: number; height: number }) {
  const ctx = await browser.newContext({ viewport, ...(viewport.width < 500 ? { isMobile: true, hasTouch: true } : {}) });
  const page = await ctx.newPage();
  let where = "login";
  // Before signing in, the page probes the session (401 is its answer then): count from the first page on.
  let signedIn = false;
  page.on("console", (m) => signedIn && m.type() === "error" && problems.push(`${who} ${where}: console: ${m.text()}`));
  page.on("pageerror", (e) => problems.push(`${who} ${where}: page error: ${e.message}`));
  page.on("response", (r) => signedIn && r.status() >= 400 && r.url().startsWith(base) && problems.push(`${who} ${where}: ${r.request().method()} ${r.url().slice(base.length)} → ${r.status()}`));
  await page.goto(base + "/live");
  await page.getByLabel("User").fill(user);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("button", { name: "Log out" }).waitFor({ timeout: 30_000 });
  signedIn = true;
  const hrefs = async (sel: string) => [...new Set(await page.locator(sel).evaluateAll((as) => as.map((a) => (a as HTMLAnchorElement).getAttribute("href") ?? "")))].filter((h) => h.startsWith("/"));
  const visited = new Set<string>();
  const visit = async (href: string) => {
    if (visited.has(href)) return;
    visited.add(href);
    where = href;
    await page.goto(base + href);
    await page.waitForTimeout(settleMs);
    const name = `${who}-${viewport.width}${href.replace(/\//g, "_")}.png`;
    await page.screenshot({ path: join(ART, name), fullPage: true });
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    if (overflow > 2) problems.push(`${who} ${href} at ${viewport.width}px: ${overflow}px of horizontal overflow`);
    console.log(`  ${name}`);
  };
  for (const h of await hrefs("nav a, header a")) {
    await visit(h);
    for (const sub of await hrefs("main a[href^='/" + h.split("/")[1] + "/']")) await visit(sub);
  }
  await ctx.close();
}

try {
  const c = demo.info.central;
  const e = demo.info.edges[0]!;
  console.log("walking central and edge", e.name, "→", ART);
  for (const vp of [{ width: 1366, height: 850 }, { width: 390, height: 844 }]) {
    await walk("central", c.url, c.user, c.password, vp);
    await walk("edge", e.url, e.user, e.password, vp);
  }
} finally {
  await browser.close();
  await demo.stop();
  await rm(dir, { recursive: true, force: true });
}
console.log(problems.length ? `\n${problems.length} problem(s):\n${problems.map((p) => "  " + p).join("\n")}` : "\nno console errors, failed requests or overflow seen");
process.exit(0);
