import { describe, expect, test } from "bun:test";
import { inflateSync } from "node:zlib";
import { ICON_SIZES, iconPng, iconSvg, manifest, serviceWorker } from "./pwa.ts";

function chunks(b: Buffer): { type: string; data: Buffer; crcOk: boolean }[] {
  const out = [];
  for (let off = 8; off < b.length; ) {
    const len = b.readUInt32BE(off);
    const td = b.subarray(off + 4, off + 8 + len);
    out.push({ type: td.toString("latin1", 0, 4), data: td.subarray(4), crcOk: b.readUInt32BE(off + 8 + len) === Bun.hash.crc32(td) >>> 0 });
    off += 12 + len;
  }
  return out;
}

describe("PWA icons", () => {
  for (const size of ICON_SIZES) {
    test(`${size}px PNG: signature, valid chunks, pixels decode to the size the header states`, () => {
      const b = Buffer.from(iconPng(size));
      expect([...b.subarray(0, 8)]).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
      const cs = chunks(b);
      expect(cs.map((c) => c.type)).toEqual(["IHDR", "IDAT", "IEND"]);
      expect(cs.every((c) => c.crcOk)).toBe(true);
      const ihdr = cs[0]!.data;
      expect([ihdr.readUInt32BE(0), ihdr.readUInt32BE(4), ihdr[8], ihdr[9]]).toEqual([size, size, 8, 2]);
      const raw = inflateSync(cs[1]!.data);
      expect(raw.length).toBe(size * (1 + 3 * size));
      const px = (x: number, y: number) => [...raw.subarray(y * (1 + 3 * size) + 1 + 3 * x, y * (1 + 3 * size) + 4 + 3 * x)];
      expect(px(2, 2)).toEqual([0x0e, 0x11, 0x16]); // background corner
      expect(px(size / 2, size / 2)).toEqual([0x0e, 0x11, 0x16]); // the lens centre
      const tile = px(Math.round(size * 0.25), Math.round(size * 0.25)); // inside the gradient square
      expect(tile[2]!).toBeGreaterThan(0xc0);
    });
  }
  test("SVG icon is plain SVG without script", () => {
    expect(iconSvg()).toStartWith("<svg");
    expect(iconSvg()).not.toContain("<script");
  });
});

describe("manifest and service worker", () => {
  test("the manifest names the app, starts on live, stands alone and lists the icons", () => {
    const m = JSON.parse(manifest("central", "Outpost")) as { name: string; start_url: string; display: string; icons: { src: string; sizes: string }[] };
    expect(m.name).toBe("Outpost");
    expect(m.start_url).toBe("/live");
    expect(m.display).toBe("standalone");
    expect(m.icons.map((i) => i.sizes)).toContain("512x512");
  });
  test("the worker parses, versions its cache, and leaves /api/ to the network", () => {
    const src = serviceWorker("v1", ["/", "/assets/main-x.js"]);
    expect(() => new Function(src)).not.toThrow();
    expect(src).toContain('"outpost-shell-v1"');
    // run its fetch handler against stub events: API and video requests are not answered from the worker
    const handlers: Record<string, (e: unknown) => void> = {};
    const self = { addEventListener: (t: string, f: (e: unknown) => void) => (handlers[t] = f), location: { origin: "https://c.example" } };
    const caches = { open: () => Promise.resolve({ match: () => Promise.resolve(undefined) }) };
    new Function("self", "caches", "fetch", src)(self, caches, () => Promise.reject(new Error("offline")));
    const answered = (url: string, mode = "cors") => {
      let r = false;
      handlers.fetch!({ request: { method: "GET", url, mode }, respondWith: (p: Promise<unknown>) => {
          r = true;
          void p.catch(() => undefined);
        } });
      return r;
    };
    expect(answered("https://c.example/api/v1/cameras")).toBe(false);
    expect(answered("https://c.example/api/v1/cameras/s.cam1/video?from=x")).toBe(false);
    expect(answered("https://c.example/api/v1/alarms", "navigate")).toBe(false);
    expect(answered("https://c.example/assets/other-y.js")).toBe(false);
    expect(answered("https://c.example/assets/main-x.js")).toBe(true);
    expect(answered("https://c.example/live", "navigate")).toBe(true);
  });
});
