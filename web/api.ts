/**
 * Browser-side API access: same-origin fetch with the session cookie (the WebSocket and SSE
 * endpoints need it too), problem+json errors as ApiError with the server's sentence, and a
 * single hook for "session expired" so any 401 sends the operator back to the login screen.
 */

export const ROLE: "central" | "edge" = (document.querySelector('meta[name="outpost-role"]')?.getAttribute("content") as "central" | "edge" | null) ?? "central";

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
  get missing(): boolean {
    return this.status === 404 || this.status === 405;
  }
}

let onExpired: (() => void) | null = null;
export function setExpiredHandler(fn: () => void): void {
  onExpired = fn;
}

/** Per tab: lets the server tell this tab's own view saves apart from other clients'. */
export const CLIENT_ID = Math.random().toString(36).slice(2, 12);

export async function api<T>(method: string, path: string, body?: unknown, opts: { quiet401?: boolean; headers?: Record<string, string> } = {}): Promise<T> {
  let res: Response;
  try {
    res = await fetch(path, {
      method,
      credentials: "same-origin",
      headers: { ...(body !== undefined ? { "content-type": "application/json" } : {}), accept: "application/json", "x-outpost-client": CLIENT_ID, ...opts.headers },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
  } catch {
    throw new ApiError(0, "The server cannot be reached. Check the network; the page retries on its own.");
  }
  if (res.status === 401 && !opts.quiet401) onExpired?.();
  if (!res.ok) {
    let detail = `${res.status} ${res.statusText}`;
    try {
      const p = (await res.json()) as { detail?: string; title?: string };
      detail = p.detail ?? p.title ?? detail;
    } catch {
      // not JSON
    }
    throw new ApiError(res.status, detail);
  }
  if (res.status === 204) return undefined as T;
  const ct = res.headers.get("content-type") ?? "";
  return (ct.includes("json") ? await res.json() : await res.text()) as T;
}

export const get = <T>(p: string) => api<T>("GET", p);

/** GET that answers null when the endpoint does not exist on this server (yet). */
export async function getOptional<T>(p: string): Promise<T | null> {
  try {
    return await get<T>(p);
  } catch (e) {
    if (e instanceof ApiError && e.missing) return null;
    throw e;
  }
}

export function q(params: Record<string, string | number | undefined>): string {
  const u = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined) u.set(k, String(v));
  return u.toString();
}
