/**
 * Serves the built web client from a Hono app (central's user API or the edge's local API):
 * hashed assets under /assets/ are immutable, index.html is no-cache, and every other GET
 * outside /api/ falls back to index.html (client-side routes). The page learns which server
 * it talks to from <meta name="outpost-role">. Mount it last: it must not shadow API routes.
 * Also the PWA pieces (web/pwa.ts): /manifest.webmanifest, /icons/*, and /sw.js, the app-shell
 * service worker, no-cache so a new build replaces it.
 */
import type { Hono, Env } from "hono";
import { buildWeb, type WebBundle } from "./build.ts";
import { PREBUILT_WEB, type PrebuiltWeb } from "./prebuilt.ts";
import { ICON_SIZES, iconPng, iconSvg, manifest, serviceWorker } from "./pwa.ts";

export type WebRole = "central" | "edge";

let building: Promise<WebBundle> | null = null;

/**
 * One build per process, shared by every server in it (the demo runs central and edges
 * together). A compiled executable carries the bundle built at build time (web/prebuilt.ts):
 * it has no sources to build from.
 */
export function webBundle(): Promise<WebBundle> {
  building ??= (PREBUILT_WEB ? Promise.resolve(fromPrebuilt(PREBUILT_WEB)) : buildWeb()).catch((e) => {
    building = null;
    throw e;
  });
  return building;
}

function fromPrebuilt(p: PrebuiltWeb): WebBundle {
  const assets = new Map(p.assets.map((a) => [a.url, { type: a.type, body: Buffer.from(a.body, "base64"), gzip: Buffer.from(a.gzip, "base64") }]));
  const js = assets.get(p.script);
  if (!js) throw new Error(`the embedded web client has no ${p.script}`);
  return { assets, script: p.script, styles: p.styles, jsBytes: js.body.length, jsGzipBytes: js.gzip.length };
}

const CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data: blob: https:",
  "media-src 'self' blob:",
  "connect-src 'self' ws: wss:",
  "manifest-src 'self'",
  "worker-src 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
].join("; ");

function indexHtml(b: WebBundle, role: WebRole, title: string): string {
  const esc = (s: string) => s.replace(/[&<>"]/g, (ch) => `&#${ch.charCodeAt(0)};`);
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="outpost-role" content="${role}">
<meta name="color-scheme" content="dark">
<meta name="theme-color" content="#0a0d11">
<title>${esc(title)}</title>
<link rel="manifest" href="/manifest.webmanifest">
<link rel="icon" href="/icons/icon.svg" type="image/svg+xml">
<link rel="apple-touch-icon" href="/icons/icon-192.png">
${b.styles.map((s) => `<link rel="stylesheet" href="${s}">`).join("\n")}
<script type="module" src="${b.script}"></script>
</head>
<body><div id="app"></div></body>
</html>
`;
}

type Bytes = Uint8Array<ArrayBuffer>;

export interface MountWebOptions {
  role: WebRole;
  title?: string;
}

export function mountWeb<E extends Env>(app: Hono<E>, o: MountWebOptions): void {
  const title = o.title ?? (o.role === "central" ? "Outpost" : "Outpost edge");
  let html: { body: Uint8Array; gzip: Uint8Array } | null = null;
  let pwa: Map<string, { body: Uint8Array; gzip: Uint8Array; type: string; cache: string }> | null = null;
  const pwaFiles = (b: WebBundle) => {
    if (pwa) return pwa;
    const text = (t: string) => new TextEncoder().encode(t);
    const shell = ["/", b.script, ...b.styles, "/manifest.webmanifest", "/icons/icon.svg", ...ICON_SIZES.map((s) => `/icons/icon-${s}.png`)];
    const version = Bun.hash([b.script, ...b.styles].join(" ")).toString(36);
    const day = "public, max-age=86400";
    const files: [string, Uint8Array, string, string][] = [
      ["/manifest.webmanifest", text(manifest(o.role, title)), "application/manifest+json", day],
      ["/sw.js", text(serviceWorker(version, shell)), "text/javascript; charset=utf-8", "no-cache"],
      ["/icons/icon.svg", text(iconSvg()), "image/svg+xml", day],
      ...ICON_SIZES.map((s): [string, Uint8Array, string, string] => [`/icons/icon-${s}.png`, iconPng(s), "image/png", day]),
    ];
    pwa = new Map(files.map(([p, body, type, cache]) => [p, { body, gzip: Bun.gzipSync(body as Bytes), type, cache }]));
    return pwa;
  };
  app.get("/*", async (c, next) => {
    const p = c.req.path;
    if (p === "/api" || p.startsWith("/api/")) return next();
    let b: WebBundle;
    try {
      b = await webBundle();
    } catch (e) {
      return c.text(`The web client could not be built: ${(e as Error).message}`, 503);
    }
    const gz = /\bgzip\b/.test(c.req.header("accept-encoding") ?? "");
    const headers: Record<string, string> = { vary: "accept-encoding", "x-content-type-options": "nosniff" };
    if (gz) headers["content-encoding"] = "gzip";
    const f = p === "/manifest.webmanifest" || p === "/sw.js" || p.startsWith("/icons/") ? pwaFiles(b).get(p) : undefined;
    if (f) {
      const extra: Record<string, string> = p === "/sw.js" ? { "content-security-policy": "default-src 'self'" } : p.endsWith(".svg") ? { "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'" } : {};
      return new Response((gz ? f.gzip : f.body) as Bytes, { headers: { ...headers, ...extra, "content-type": f.type, "cache-control": f.cache } });
    }
    if (p.startsWith("/assets/")) {
      const a = b.assets.get(p);
      if (!a) return next();
      return new Response((gz ? a.gzip : a.body) as Bytes, { headers: { ...headers, "content-type": a.type, "cache-control": "public, max-age=31536000, immutable" } });
    }
    if (!html) {
      const body = new TextEncoder().encode(indexHtml(b, o.role, title));
      html = { body, gzip: Bun.gzipSync(body) };
    }
    return new Response((gz ? html.gzip : html.body) as Bytes, {
      headers: { ...headers, "content-type": "text/html; charset=utf-8", "cache-control": "no-cache", "content-security-policy": CSP, "referrer-policy": "same-origin", "x-frame-options": "DENY" },
    });
  });
}
