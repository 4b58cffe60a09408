/**
 * Bundles the web client (web/main.tsx + styles) with Bun's bundler into memory: hashed
 * asset names, minified, pre-gzipped. Used by web/serve.ts at first request and by
 * `bun web/build.ts` (prints sizes). Browser code lives beside it; nothing here runs in the page.
 */
import path from "node:path";

export interface WebAsset {
  body: Uint8Array;
  gzip: Uint8Array;
  type: string;
}

export interface WebBundle {
  /** "/assets/main-<hash>.js" → asset */
  assets: Map<string, WebAsset>;
  script: string;
  styles: string[];
  /** Bytes of the JS entry, raw and gzipped (the bundle budget is 300 KB gzipped). */
  jsBytes: number;
  jsGzipBytes: number;
}

export class WebBuildError extends Error {}

const TYPES: Record<string, string> = { ".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8", ".map": "application/json" };

export async function buildWeb(opts: { minify?: boolean } = {}): Promise<WebBundle> {
  const entry = path.join(import.meta.dir, "main.tsx");
  const out = await Bun.build({
    entrypoints: [entry],
    target: "browser",
    format: "esm",
    minify: opts.minify ?? true,
    naming: { entry: "[name]-[hash].[ext]", chunk: "[name]-[hash].[ext]", asset: "[name]-[hash].[ext]" },
    define: { "process.env.NODE_ENV": '"production"' },
    throw: false,
  });
  if (!out.success) throw new WebBuildError(`web client build failed: ${out.logs.map((l) => String(l)).join("; ")}`);
  const assets = new Map<string, WebAsset>();
  let script = "";
  const styles: string[] = [];
  let jsBytes = 0;
  let jsGzipBytes = 0;
  for (const o of out.outputs) {
    const name = path.basename(o.path);
    const body = new Uint8Array(await o.arrayBuffer());
    const ext = path.extname(name);
    const a: WebAsset = { body, gzip: Bun.gzipSync(body, { level: 9 }), type: TYPES[ext] ?? o.type ?? "application/octet-stream" };
    const url = `/assets/${name}`;
    assets.set(url, a);
    if (o.kind === "entry-point" && ext === ".js") {
      script = url;
      jsBytes = body.length;
      jsGzipBytes = a.gzip.length;
    } else if (ext === ".css") styles.push(url);
  }
  if (!script) throw new WebBuildError("web client build produced no script");
  return { assets, script, styles, jsBytes, jsGzipBytes };
}

if (import.meta.main) {
  const b = await buildWeb();
  for (const [url, a] of b.assets) console.log(`${url}  ${a.body.length} B  (${a.gzip.length} B gzipped)`);
  console.log(`JS entry: ${(b.jsGzipBytes / 1024).toFixed(1)} KB gzipped`);
}
