/**
 * What every browser test does the same way: launch the machine's Chromium (headless flags plus
 * the demo's certificate pins), call the demo's JSON API over HTTPS, sign in on the web client's
 * login form, poll until something shows, and save screenshots under test-artifacts/; and
 * start a demo for such a test (startWebDemo: the demo, its trust, an admin token, Chromium).
 */
import { mkdirSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { chromium, type Browser, type Locator, type Page } from "playwright-core";
import { startDemo, type Demo } from "../cli/commands/demo.ts";
import { CHROMIUM_ARGS, demoTrust, until } from "./helpers.ts";

/** Debian's Chromium with the flags every browser test uses; `extraArgs`: e.g. demoTrust's chromiumArgs. */
export function launchChromium(extraArgs: string[] = []): Promise<Browser> {
  return chromium.launch({ executablePath: "/usr/bin/chromium", args: [...CHROMIUM_ARGS, ...extraArgs] });
}

export type JsonInit = RequestInit & { token?: string };

/**
 * A JSON caller that trusts `ca()` (read at each call: the CA is known only once the demo runs).
 * `token` goes as a Bearer token (default: `defaultToken()`). A non-2xx answer throws with its
 * status and body; 204 gives undefined.
 */
export function jsonClient(ca: () => string[], defaultToken: () => string | undefined = () => undefined) {
  return async function json<T>(url: string, init: JsonInit = {}): Promise<T> {
    const token = init.token ?? defaultToken();
    const res = await fetch(url, { ...init, tls: { ca: ca() }, headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}), ...(init.headers as Record<string, string>) } });
    if (!res.ok) throw new Error(`${init.method ?? "GET"} ${url}: ${res.status} ${await res.text()}`);
    return (res.status === 204 ? undefined : await res.json()) as T;
  };
}

/** A piece of central's timeline and who holds it. */
export type HeldRange = { start: string; end: string; held: string };

/** Central's timeline of a camera's main stream over [from, to) (ms), through `json` (as `token` when given). */
export function centralTimeline(json: ReturnType<typeof jsonClient>, central: string, cam: string, from: number, to: number, token?: string) {
  return json<{ ranges: HeldRange[]; gaps: { start: string; end: string; reason: string }[]; siteRevoked?: boolean }>(
    `${central}/api/v1/cameras/${encodeURIComponent(cam)}/timeline?from=${new Date(from).toISOString()}&to=${new Date(to).toISOString()}&stream=main`,
    token ? { token } : {},
  );
}

/**
 * Opens `url` and signs in on the login form; done when `signedIn` shows (default: the Log out
 * button). A loaded machine can time a login out (argon2 while everything starts): it signs in
 * again then, for up to `timeoutMs`.
 */
export async function signIn(page: Page, url: string, user: string, password: string, o: { signedIn?: Locator; timeoutMs?: number } = {}): Promise<void> {
  await page.goto(url);
  await page.getByLabel("User").fill(user);
  await page.getByLabel("Password").fill(password);
  const done = o.signedIn ?? page.getByRole("button", { name: "Log out" });
  await until(
    `${user} signed in`,
    async () => {
      if (await done.isVisible()) return true;
      const button = page.getByRole("button", { name: "Sign in" });
      if (await button.isVisible()) await button.click().catch(() => undefined);
      await done.waitFor({ timeout: 30_000 }).catch(() => undefined);
      return done.isVisible();
    },
    o.timeoutMs ?? 240_000,
    1000,
  );
}

/** Polls `fn` every 250 ms until it gives something (a throw counts as not yet); fails after `ms`. */
export async function waitFor<T>(fn: () => Promise<T | null | undefined | false>, ms: number, what: string): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn().catch(() => null);
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(250);
  }
}

/** Shift+drag on the timeline whose canvas is at `box`, from x1 to x2 (page pixels): selects that range. */
export async function selectRange(page: Page, box: { y: number; height: number }, x1: number, x2: number): Promise<void> {
  await page.keyboard.down("Shift");
  await page.mouse.move(x1, box.y + box.height / 2);
  await page.mouse.down();
  await page.mouse.move(x2, box.y + box.height / 2, { steps: 5 });
  await page.mouse.up();
  await page.keyboard.up("Shift");
}

/** Screenshots into test-artifacts/<folder>/<name>.png (the folder is made now). */
export function screenshots(folder: string, o: { fullPage?: boolean } = {}) {
  const dir = path.join(import.meta.dir, "..", "test-artifacts", folder);
  mkdirSync(dir, { recursive: true });
  return (page: Page, name: string) => page.screenshot({ path: path.join(dir, `${name}.png`), fullPage: o.fullPage ?? false });
}

export type WebDemoOptions = Omit<Parameters<typeof startDemo>[0], "dataDir" | "port"> & {
  /** Names the data folder: $TMPDIR/outpost-<name>-…, removed by stop(). */
  name: string;
  /** false: no Chromium (a test of the API alone); default true. */
  browser?: boolean;
};

/** A running demo as a browser test sees it (see startWebDemo). */
export interface WebDemo {
  demo: Demo;
  /** The demo's data folder. */
  dir: string;
  /** Central's URL (HTTPS). */
  central: string;
  /** What fetch trusts: central's CA and the edges' certificates (demoTrust). */
  ca: string[];
  /** The admin's bearer token. */
  token: string;
  /** The first edge's site id. */
  siteId: string;
  /** Chromium with the demo's certificate pins; only with `browser` (not false). */
  browser: Browser;
  /** JSON calls that trust `ca`, as the admin unless `init.token` says otherwise. */
  json: ReturnType<typeof jsonClient>;
  /** Central's timeline of a camera's main stream over [from, to) (ms), as the admin. */
  timeline(cam: string, from: number, to: number): ReturnType<typeof centralTimeline>;
  /** Closes Chromium, stops the demo and removes its folder. */
  stop(): Promise<void>;
}

/**
 * Starts `outpost demo` on free ports in a fresh temporary folder, trusts its HTTPS (demoTrust),
 * signs the admin in over the API (a loaded machine can time the first login out: argon2 while
 * everything starts, so it asks again for up to 3 minutes) and launches Chromium. A failure on
 * the way stops what was started.
 */
export async function startWebDemo(opts: WebDemoOptions): Promise<WebDemo> {
  const { name, browser: withBrowser = true, ...demoOpts } = opts;
  const dir = await mkdtemp(path.join(os.tmpdir(), `outpost-${name}-`));
  let demo: Demo | undefined;
  let browser: Browser | undefined;
  const stop = async () => {
    await browser?.close();
    await demo?.stop();
    await rm(dir, { recursive: true, force: true });
  };
  try {
    demo = await startDemo({ ...demoOpts, dataDir: dir, port: 0 });
    const central = demo.info.central.url;
    const trust = await demoTrust(demo.info);
    let token: string | undefined;
    const json = jsonClient(() => trust.ca, () => token);
    const password = demo.info.central.password;
    token = (await until("the admin login", () => json<{ token: string }>(central + "/api/v1/login", { method: "POST", body: JSON.stringify({ user: "admin", password }) }).catch(() => null), 180_000, 2000)).token;
    if (withBrowser) browser = await launchChromium(trust.chromiumArgs);
    return { demo, dir, central, ca: trust.ca, token, siteId: demo.info.edges[0]!.siteId!, browser: browser!, json, timeline: (cam, from, to) => centralTimeline(json, central, cam, from, to), stop };
  } catch (e) {
    await stop().catch(() => undefined);
    throw e;
  }
}
