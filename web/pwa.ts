/**
 * What makes the web client installable (a PWA), served by web/serve.ts beside the bundle: the
 * web app manifest, icons drawn here in code (SVG and PNG, no image files in the repository) and
 * a minimal service worker that caches the app shell only — index.html, the hashed bundle, the
 * manifest and icons. It never caches API answers or video: those are always the server's, live.
 */
import { deflateSync } from "node:zlib";

export const ICON_SIZES = [192, 512] as const;
const BG = [0x0e, 0x11, 0x16];
const A = [0x3d, 0x8b, 0xfd]; // accent
const B = [0x36, 0xc5, 0xd8]; // info

export function manifest(role: "central" | "edge", title: string): string {
  return JSON.stringify({
    name: title,
    short_name: role === "central" ? "Outpost" : "Outpost edge",
    description: role === "central" ? "Outpost video management: live, playback, alarms" : "Outpost edge recorder",
    id: "/",
    start_url: "/live",
    scope: "/",
    display: "standalone",
    orientation: "any",
    background_color: "#0e1116",
    theme_color: "#0a0d11",
    icons: [
      ...ICON_SIZES.map((s) => ({ src: `/icons/icon-${s}.png`, sizes: `${s}x${s}`, type: "image/png", purpose: "any" })),
      { src: "/icons/icon-512.png", sizes: "512x512", type: "image/png", purpose: "maskable" },
      { src: "/icons/icon.svg", sizes: "any", type: "image/svg+xml" },
    ],
  });
}

/** The logo (the header's gradient square) with a lens ring, on the page's background. */
export function iconSvg(): string {
  return `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 512 512"><defs><linearGradient id="g" x1="0" y1="0" x2="1" y2="1"><stop offset="0" stop-color="#3d8bfd"/><stop offset="1" stop-color="#36c5d8"/></linearGradient></defs><rect width="512" height="512" fill="#0e1116"/><rect x="96" y="96" width="320" height="320" rx="56" fill="url(#g)"/><circle cx="256" cy="256" r="84" fill="none" stroke="#0e1116" stroke-width="36"/><circle cx="256" cy="256" r="26" fill="#0e1116"/></svg>`;
}

/** The same picture as a PNG (RGB, 8 bit), pixel by pixel, for platforms that want raster icons. */
export function iconPng(size: number): Uint8Array {
  const k = size / 512;
  const raw = Buffer.alloc((size * 3 + 1) * size);
  for (let y = 0; y < size; y++) {
    const row = y * (size * 3 + 1);
    raw[row] = 0; // filter: none
    for (let x = 0; x < size; x++) {
      const X = (x + 0.5) / k;
      const Y = (y + 0.5) / k;
      let c = BG;
      // rounded square 96..416, radius 56
      const dx = Math.max(96 + 56 - X, 0, X - (416 - 56));
      const dy = Math.max(96 + 56 - Y, 0, Y - (416 - 56));
      if (X >= 96 && X <= 416 && Y >= 96 && Y <= 416 && dx * dx + dy * dy <= 56 * 56) {
        const t = (X - 96 + (Y - 96)) / 640;
        c = [0, 1, 2].map((i) => Math.round(A[i]! + (B[i]! - A[i]!) * t));
        const r = Math.hypot(X - 256, Y - 256);
        if (Math.abs(r - 84) <= 18 || r <= 26) c = BG;
      }
      raw.set(c, row + 1 + x * 3);
    }
  }
  return png(size, size, raw);
}

function png(w: number, h: number, raw: Buffer): Uint8Array {
  const chunk = (type: string, data: Buffer) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const td = Buffer.concat([Buffer.from(type, "latin1"), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(Bun.hash.crc32(td) >>> 0);
    return Buffer.concat([len, td, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // colour type: RGB
  return new Uint8Array(Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk("IHDR", ihdr), chunk("IDAT", deflateSync(raw, { level: 9 })), chunk("IEND", Buffer.alloc(0))]));
}

/**
 * The service worker. `version` changes with the bundle, so a new build installs a new worker
 * that drops the old shell. Navigations: network first (index.html is no-cache), the cached
 * shell only when the server cannot be reached. /assets/ (hashed, immutable): cache first.
 * Everything else, /api/ and video above all, is left to the network untouched.
 */
export function serviceWorker(version: string, shell: string[]): string {
  return `// Outpost app-shell service worker (web/pwa.ts). Caches the shell only, never API answers or video.
const CACHE = ${JSON.stringify(`outpost-shell-${version}`)};
const SHELL = ${JSON.stringify(shell)};
self.addEventListener("install", (e) => {
  e.waitUntil(caches.open(CACHE).then((c) => c.addAll(SHELL)).then(() => self.skipWaiting()));
});
self.addEventListener("activate", (e) => {
  e.waitUntil(
    caches.keys()
      .then((keys) => Promise.all(keys.filter((k) => k.startsWith("outpost-shell-") && k !== CACHE).map((k) => caches.delete(k))))
      .then(() => self.clients.claim()),
  );
});
self.addEventListener("fetch", (e) => {
  const req = e.request;
  if (req.method !== "GET") return;
  const url = new URL(req.url);
  if (url.origin !== self.location.origin || url.pathname === "/api" || url.pathname.startsWith("/api/")) return;
  if (req.mode === "navigate") {
    e.respondWith(fetch(req).catch(() => caches.open(CACHE).then((c) => c.match("/")).then((r) => r || Response.error())));
    return;
  }
  if (SHELL.includes(url.pathname)) e.respondWith(caches.open(CACHE).then((c) => c.match(url.pathname)).then((r) => r || fetch(req)));
});
`;
}
