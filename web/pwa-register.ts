/**
 * Registers the app-shell service worker (web/pwa.ts) so the client can be installed on a
 * phone or tablet. Only in a secure context (HTTPS or loopback), where browsers allow it.
 */
export function registerServiceWorker(): void {
  if (!("serviceWorker" in navigator) || !isSecureContext) return;
  addEventListener("load", () => void navigator.serviceWorker.register("/sw.js", { scope: "/" }).catch(() => undefined)); // not installable then; the page works the same
}
