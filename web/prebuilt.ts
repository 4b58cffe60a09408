/**
 * The web client as built at build time, for compiled executables (firmware/build.ts replaces
 * this module with the built bundle when it runs `bun build --compile`). From sources it is
 * null and web/serve.ts builds the client at first request.
 */
export interface PrebuiltAsset {
  url: string;
  type: string;
  /** base64 */
  body: string;
  /** base64, gzip level 9 */
  gzip: string;
}

export interface PrebuiltWeb {
  assets: PrebuiltAsset[];
  script: string;
  styles: string[];
}

export const PREBUILT_WEB: PrebuiltWeb | null = null;
