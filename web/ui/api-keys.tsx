/** Admin → API keys: integration keys for POST /api/v1/events (list, create — the key is shown once — and revoke). */
import "./panels.css";
import { useState } from "preact/hooks";
import { api, get } from "../api.ts";
import { LoadView, Notice, fmtTime, useApp, useLoad } from "./common.tsx";
import { ListTable, SiteSelect } from "./paged-table.tsx";

interface ApiKey {
  id: string;
  name: string;
  siteId: string | null;
  createdBy: string;
  createdAt: string;
}

export function ApiKeysAdmin() {
  const { sites, notify } = useApp();
  const [keys, reload] = useLoad(() => get<{ keys: ApiKey[] }>("/api/v1/api-keys"), []);
  const [name, setName] = useState("");
  const [site, setSite] = useState("");
  const [err, setErr] = useState<string | null>(null);
  const [made, setMade] = useState<{ name: string; key: string } | null>(null);
  const create = async (e: Event) => {
    e.preventDefault();
    setErr(null);
    if (!name.trim()) return setErr("Give the key a name that says who uses it (e.g. “door controller, depot 3”).");
    if (name.trim().length > 100) return setErr("The name is at most 100 characters.");
    try {
      const k = await api<ApiKey & { key: string }>("POST", "/api/v1/api-keys", { name: name.trim(), siteId: site || null });
      setMade({ name: k.name, key: k.key });
      setName("");
      reload();
    } catch (x) {
      setErr((x as Error).message);
    }
  };
  const revoke = async (k: ApiKey) => {
    if (!confirm(`Revoke the API key “${k.name}”? Integrations using it are refused from now on.`)) return;
    try {
      await api("DELETE", `/api/v1/api-keys/${encodeURIComponent(k.id)}`);
      notify(`API key ${k.name} revoked.`);
      reload();
    } catch (x) {
      notify((x as Error).message, "error");
    }
  };
  const siteName = (id: string | null) => (id ? sites.find((s) => s.id === id)?.name ?? id : "all sites");
  return (
    <section>
      <h1>API keys</h1>
      <p class="muted small">
        Integrations post events with <code>POST /api/v1/events</code> and the header <code>x-api-key</code>. A key limited to a site may only post that site's events.
      </p>
      <LoadView v={keys} what="API keys" endpoint="GET /api/v1/api-keys">
        {(d) => (
          <ListTable label="API keys" columns={["Name", "Site", "Created", "By", ""]} count={d.keys.length} empty="No API keys.">
            {d.keys.map((k) => (
              <tr key={k.id} data-key={k.name}>
                <td>
                  {k.name} <span class="muted small">{k.id}</span>
                </td>
                <td>{siteName(k.siteId)}</td>
                <td>{fmtTime(k.createdAt)}</td>
                <td>{k.createdBy}</td>
                <td>
                  <button class="danger" onClick={() => revoke(k)}>
                    Revoke
                  </button>
                </td>
              </tr>
            ))}
          </ListTable>
        )}
      </LoadView>
      <form class="form-row" onSubmit={create} aria-label="New API key">
        <label>
          Key name
          <input value={name} onInput={(e) => setName(e.currentTarget.value)} placeholder="door controller" />
        </label>
        <SiteSelect label="Limited to site" sites={sites} value={site} onChange={(e) => setSite((e.currentTarget as HTMLSelectElement).value)} anyLabel="all sites" />
        <button class="primary" type="submit">
          Create key
        </button>
      </form>
      {err && <Notice kind="error">{err}</Notice>}
      {made && (
        <Notice kind="warn">
          <div>
            The key for <strong>{made.name}</strong> — copy it now, it is not shown again:
          </div>
          <div class="secret" aria-label="New API key value">
            {made.key}
          </div>
        </Notice>
      )}
    </section>
  );
}
