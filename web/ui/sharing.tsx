/**
 * Admin → Sharing: which cameras each edge shares with central (decided at the edge, its
 * federation.share list; central sees only those), and camera groups — named sets of cameras a
 * role can grant as one scope (group:NAME), which is how central shares cameras with users.
 */
import "./panels.css";
import { useState } from "preact/hooks";
import { api, get } from "../api.ts";
import { LoadView, Notice, useApp, useLoad } from "./common.tsx";

interface Group {
  name: string;
  cameras: string[];
}

export function SharingAdmin() {
  const { sites, cameras, notify } = useApp();
  const [groups, reload] = useLoad(() => get<{ groups: Group[] }>("/api/v1/camera-groups"), []);
  const [name, setName] = useState("");
  const [sel, setSel] = useState<string[]>([]);
  const [editing, setEditing] = useState(false);
  const [err, setErr] = useState<string | null>(null);
  const save = async (e: Event) => {
    e.preventDefault();
    setErr(null);
    if (!/^[A-Za-z0-9._-]{1,100}$/.test(name)) return setErr("The group name is 1 to 100 letters, digits, dots, dashes or underscores (e.g. depot-gates).");
    if (!sel.length) return setErr("Choose at least one camera for the group.");
    try {
      await api("PUT", `/api/v1/camera-groups/${encodeURIComponent(name)}`, { cameras: sel });
      notify(`Camera group ${name} saved.`);
      setName("");
      setSel([]);
      setEditing(false);
      reload();
    } catch (x) {
      setErr((x as Error).message);
    }
  };
  const del = async (g: Group) => {
    if (!confirm(`Delete the camera group ${g.name}?`)) return;
    await api("DELETE", `/api/v1/camera-groups/${encodeURIComponent(g.name)}`).then(reload, (x) => notify((x as Error).message, "error"));
  };
  const camName = (id: string) => cameras?.find((c) => c.id === id)?.name ?? id;
  return (
    <section>
      <h1>Cameras shared by each site</h1>
      <p class="muted small">An edge decides which of its cameras central may see (its federation.share setting); central lists only those.</p>
      <table class="table" aria-label="Shared cameras">
        <thead>
          <tr>
            <th>Site</th>
            <th>Cameras shared with central</th>
          </tr>
        </thead>
        <tbody>
          {sites.map((s) => {
            const cams = (cameras ?? []).filter((c) => c.siteId === s.id);
            return (
              <tr key={s.id} data-site={s.name}>
                <td>{s.name}</td>
                <td>{cams.length ? cams.map((c) => c.name).join(", ") : <span class="muted">none shared</span>}</td>
              </tr>
            );
          })}
        </tbody>
      </table>
      <div class="toolbar">
        <h1 class="inline">Camera groups</h1>
        <span class="spacer" />
        <button
          class="primary"
          onClick={() => {
            setEditing(true);
            setName("");
            setSel([]);
          }}
        >
          New group…
        </button>
      </div>
      <p class="muted small">A role grants rights on a group with the scope “a camera group” (group:NAME): its users see exactly these cameras.</p>
      <LoadView v={groups} what="Camera groups" endpoint="GET /api/v1/camera-groups">
        {(d) => (
          <table class="table" aria-label="Camera groups">
            <thead>
              <tr>
                <th>Group</th>
                <th>Cameras</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {d.groups.map((g) => (
                <tr key={g.name} data-group={g.name}>
                  <td>{g.name}</td>
                  <td>{g.cameras.map(camName).join(", ")}</td>
                  <td>
                    <button
                      onClick={() => {
                        setEditing(true);
                        setName(g.name);
                        setSel(g.cameras);
                      }}
                    >
                      Edit
                    </button>{" "}
                    <button class="danger" onClick={() => del(g)}>
                      Delete
                    </button>
                  </td>
                </tr>
              ))}
              {!d.groups.length && (
                <tr>
                  <td colSpan={3} class="muted">
                    No camera groups.
                  </td>
                </tr>
              )}
            </tbody>
          </table>
        )}
      </LoadView>
      {editing && (
        <form class="stack narrow" onSubmit={save} aria-label="Camera group" noValidate>
          <label>
            Group name
            <input value={name} onInput={(e) => setName(e.currentTarget.value)} placeholder="depot-gates" />
          </label>
          <label>
            Cameras
            <select multiple aria-label="Cameras" size={Math.min(10, Math.max(3, cameras?.length ?? 0))} onChange={(e) => setSel([...e.currentTarget.selectedOptions].map((o) => o.value))}>
              {sites.map((s) => (
                <optgroup key={s.id} label={s.name}>
                  {(cameras ?? [])
                    .filter((c) => c.siteId === s.id)
                    .map((c) => (
                      <option key={c.id} value={c.id} selected={sel.includes(c.id)}>
                        {c.name}
                      </option>
                    ))}
                </optgroup>
              ))}
            </select>
          </label>
          {err && <Notice kind="error">{err}</Notice>}
          <div class="form-row">
            <button class="primary" type="submit">
              Save group
            </button>
            <button type="button" onClick={() => setEditing(false)}>
              Cancel
            </button>
          </div>
        </form>
      )}
    </section>
  );
}
