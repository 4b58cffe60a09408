import { describe, expect, test } from "bun:test";
import { Hono } from "hono";
import { mountWeb } from "./serve.ts";

const app = new Hono();
app.get("/api/v1/ping", (c) => c.json({ ok: true }));
mountWeb(app, { role: "central" });
const get = (p: string) => app.request(p);

describe("web client: PWA files", () => {
  test("index.html links the manifest and icon; its CSP allows the manifest and the worker from this origin only", async () => {
    const r = await get("/live");
    const csp = r.headers.get("content-security-policy")!;
    expect(csp).toContain("manifest-src 'self'");
    expect(csp).toContain("worker-src 'self'");
    const html = await r.text();
    expect(html).toContain('<link rel="manifest" href="/manifest.webmanifest">');
    expect(html).toContain('<link rel="icon" href="/icons/icon.svg" type="image/svg+xml">');
  });

  test("manifest, worker and icons are served with their content types; the worker is no-cache", async () => {
    const m = await get("/manifest.webmanifest");
    expect(m.headers.get("content-type")).toBe("application/manifest+json");
    expect(((await m.json()) as { start_url: string }).start_url).toBe("/live");
    const sw = await get("/sw.js");
    expect(sw.headers.get("content-type")).toBe("text/javascript; charset=utf-8");
    expect(sw.headers.get("cache-control")).toBe("no-cache");
    expect(sw.headers.get("content-security-policy")).toBe("default-src 'self'");
    expect((await get("/icons/icon-192.png")).headers.get("content-type")).toBe("image/png");
    expect((await get("/icons/icon.svg")).headers.get("content-type")).toBe("image/svg+xml");
  });

  test("the worker's shell is exactly index, the bundle's hashed files, manifest and icons (no API path)", async () => {
    const html = await (await get("/")).text();
    const js = html.match(/src="(\/assets\/main-[^"]+\.js)"/)![1]!;
    const src = await (await get("/sw.js")).text();
    const shell = JSON.parse(src.match(/const SHELL = (\[.*\]);/)![1]!) as string[];
    expect(shell).toContain("/");
    expect(shell).toContain(js);
    expect(shell.filter((p) => p.startsWith("/api"))).toEqual([]);
    for (const p of shell) expect((await get(p)).status).toBe(200);
  });

  test("an unknown icon path falls back to the page like any client route; API routes stay the API's", async () => {
    expect((await get("/api/v1/ping")).headers.get("content-type")).toContain("json");
    const r = await get("/icons/nope.png");
    expect(r.headers.get("content-type")).toContain("text/html"); // the SPA fallback, as for any unknown path
  });
});
