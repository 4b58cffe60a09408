/** Admin pages: sites (enroll, revoke, desired vs applied config, interconnect policy), links and budgets, users and roles, rules. */
import { useState } from "preact/hooks";
import { api, get, getOptional } from "../api.ts";
import { can, type Site } from "../model.ts";
import { PoliciesAdmin } from "./policies.tsx";
import { siteName } from "./words.ts";
import { Badge, Dot, Link, LoadView, Modal, Notice, fmtAgo, fmtBytes, fmtTime, listKeys, useApp, useLoad } from "./common.tsx";
import { SiteHealthAdmin } from "./site-health.tsx";
import { SchedulesAdmin } from "./schedules.tsx";
import { SharingAdmin } from "./sharing.tsx";
import { LinkBudgetAdmin } from "./link-budget.tsx";
import { EventListAdmin } from "./event-list.tsx";
import { AuditLogAdmin } from "./audit-log.tsx";
import { ApiKeysAdmin } from "./api-keys.tsx";
import { FirmwareAdmin } from "./firmware-campaigns.tsx";
import { RuleEditor, type RuleBody } from "./forms/rule-form.tsx";
import { RoleEditor } from "./forms/role-form.tsx";
import { EditDelete, ListTable } from "./paged-table.tsx";

const SECTIONS: [string, string][] = [
  ["/admin/sites", "Sites"],
  ["/admin/policies", "Policies"],
  ["/admin/links", "Links & budgets"],
  ["/admin/users", "Users & roles"],
  ["/admin/rules", "Rules"],
  ["/admin/schedules", "Schedules"],
  ["/admin/sharing", "Sharing"],
  ["/admin/health", "Health"],
  ["/admin/budget", "Link budget"],
  ["/admin/events", "Events"],
  ["/admin/audit", "Audit log"],
  ["/admin/api-keys", "API keys"],
  ["/admin/firmware", "Firmware"],
];

/** The right each section needs: a section the user could only be refused in is not shown. */
const SECTION_RIGHT: Record<string, string> = { "/admin/sites": "admin-sites", "/admin/policies": "admin-policies", "/admin/links": "admin-policies", "/admin/users": "admin-users", "/admin/rules": "admin-policies" };

export function AdminView(p: { path: string }) {
  const { me } = useApp();
  const sections = SECTIONS.filter(([h]) => !SECTION_RIGHT[h] || can(me, SECTION_RIGHT[h]!));
  const sec = sections.find(([h]) => p.path.startsWith(h))?.[0] ?? sections[0]?.[0] ?? "";
  return (
    <div class="admin">
      <nav class="subnav" aria-label="Admin">
        {sections.map(([h, l]) => (
          <Link key={h} href={h} class={sec === h ? "active" : ""}>
            {l}
          </Link>
        ))}
      </nav>
      <div class="admin-body">
        {sec === "/admin/sites" && <SitesAdmin />}
        {sec === "/admin/policies" && <PoliciesAdmin />}
        {sec === "/admin/links" && <LinksAdmin />}
        {sec === "/admin/users" && <UsersAdmin />}
        {sec === "/admin/rules" && <RulesAdmin />}
        {sec === "/admin/schedules" && <SchedulesAdmin />}
        {sec === "/admin/sharing" && <SharingAdmin />}
        {sec === "/admin/health" && <SiteHealthAdmin />}
        {sec === "/admin/budget" && <LinkBudgetAdmin />}
        {sec === "/admin/events" && <EventListAdmin />}
        {sec === "/admin/audit" && <AuditLogAdmin />}
        {sec === "/admin/api-keys" && <ApiKeysAdmin />}
        {sec === "/admin/firmware" && <FirmwareAdmin />}
      </div>
    </div>
  );
}

function SitesAdmin() {
  const { sites, refresh, notify } = useApp();
  const [enroll, setEnroll] = useState(false);
  const [name, setName] = useState("");
  const [ttl, setTtl] = useState(24);
  const [token, setToken] = useState<{ command: string; expiresAt?: string; siteId?: string } | null>(null);
  const [err, setErr] = useState<string | null>(null);
  const [sel, setSel] = useState<string | null>(null);
  const create = async (e: Event) => {
    e.preventDefault();
    setErr(null);
    if (!name.trim()) return setErr("Give the site a name (e.g. the vehicle's fleet number).");
    if (!(ttl > 0 && ttl <= 720)) return setErr("The token must expire within 1 to 720 hours.");
    try {
      setToken(await api("POST", "/api/v1/enrollment-tokens", { site: name.trim(), ttlHours: ttl }));
      refresh();
    } catch (x) {
      setErr((x as Error).message);
    }
  };
  const revoke = async (s: Site) => {
    const reason = prompt(`Revoke ${s.name}? Its certificates are refused from then on and its sessions close. Reason:`, "");
    if (reason === null) return;
    try {
      await api("DELETE", `/api/v1/sites/${encodeURIComponent(s.id)}?reason=${encodeURIComponent(reason || "revoked by admin")}`);
      notify(`${s.name} revoked.`);
      refresh();
    } catch (x) {
      notify((x as Error).message, "error");
    }
  };
  return (
    <section>
      <div class="toolbar">
        <h1 class="inline">Sites</h1>
        <span class="spacer" />
        <button
          class="primary"
          onClick={() => {
            setEnroll(true);
            setToken(null);
            setName("");
          }}
        >
          Enroll a site…
        </button>
      </div>
      <table class="table" aria-label="Sites">
        <thead>
          <tr>
            <th>Site</th>
            <th>State</th>
            <th>Last seen</th>
            <th>Certificate</th>
            <th>Warnings</th>
            <th />
          </tr>
        </thead>
        <tbody onKeyDown={(e) => listKeys(e as unknown as KeyboardEvent)}>
          {sites.map((s) => (
            <tr key={s.id} data-row tabIndex={0} class={sel === s.id ? "selected" : ""} onClick={() => setSel(s.id)} onKeyDown={(e) => e.key === "Enter" && setSel(s.id)}>
              <td>
                <Dot tone={s.state === "revoked" ? "bad" : s.online ? "ok" : "dim"} label={s.online ? "online" : "offline"} /> {s.name} <span class="muted small">{s.id}</span>
              </td>
              <td>{s.state === "revoked" ? <Badge tone="bad">revoked</Badge> : s.online ? <Badge tone="ok">online</Badge> : <Badge tone="dim">offline</Badge>}</td>
              <td>{fmtAgo(s.lastSeenAt)}</td>
              <td>{s.certificate ? <Badge tone={s.certificate.warning ? "warn" : "dim"}>{Math.floor(s.certificate.daysLeft)} d left</Badge> : "—"}</td>
              <td class="small">{s.warnings?.join("; ") || "—"}</td>
              <td>
                {s.state !== "revoked" && (
                  <button class="danger" onClick={(e) => (e.stopPropagation(), revoke(s))}>
                    Revoke
                  </button>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {sel && <SiteConfig id={sel} />}
      {enroll && (
        <Modal title="Enroll a site" onClose={() => setEnroll(false)}>
          {token ? (
            <>
              <p>Run this on the edge recorder within the token's lifetime{token.expiresAt ? ` (until ${fmtTime(token.expiresAt)})` : ""}. The token works once.</p>
              <pre class="cmd" data-testid="enroll-command">{token.command}</pre>
              <button onClick={() => navigator.clipboard?.writeText(token.command).then(() => notify("Command copied."))}>Copy command</button>
            </>
          ) : (
            <form onSubmit={create} class="stack">
              <label>
                Site name
                <input value={name} onInput={(e) => setName(e.currentTarget.value)} placeholder="bus-204" autoFocus />
              </label>
              <label>
                Token valid for (hours)
                <input type="number" min={1} max={720} value={ttl} onInput={(e) => setTtl(Number(e.currentTarget.value))} />
              </label>
              {err && <div class="form-error" role="alert">{err}</div>}
              <button class="primary" type="submit">
                Create token
              </button>
            </form>
          )}
        </Modal>
      )}
    </section>
  );
}

function SiteConfig(p: { id: string }) {
  const [v] = useLoad(() => getOptional<{ desired: { version: number; config: unknown; createdAt: string; createdBy: string } | null; applied: { version: number; state: string; reason: string | null; at: string } | null; inSync: boolean }>(`/api/v1/sites/${encodeURIComponent(p.id)}/config`), [p.id]);
  return (
    <section class="panel">
      <h2>Configuration of {siteName(useApp().sites, p.id)}: desired vs applied</h2>
      <LoadView v={v} what="Desired vs applied configuration" endpoint={`GET /api/v1/sites/${p.id}/config`}>
        {(c) => (
          <div class="cols">
            <div>
              <h3>Desired {c.desired ? `v${c.desired.version}` : ""}</h3>
              {c.desired ? (
                <>
                  <p class="muted small">
                    by {c.desired.createdBy}, {fmtTime(c.desired.createdAt)}
                  </p>
                  <pre class="json">{JSON.stringify(c.desired.config, null, 2)}</pre>
                </>
              ) : (
                <p class="muted">No desired configuration stored yet.</p>
              )}
            </div>
            <div>
              <h3>Applied {c.applied ? `v${c.applied.version}` : ""}</h3>
              {c.applied ? (
                <p>
                  <Badge tone={c.inSync ? "ok" : c.applied.state === "applied" ? "warn" : "bad"}>{c.inSync ? "in sync" : c.applied.state}</Badge> at {fmtTime(c.applied.at)} {c.applied.reason ?? ""}
                </p>
              ) : (
                <p class="muted">The edge has not reported an applied version.</p>
              )}
            </div>
          </div>
        )}
      </LoadView>
    </section>
  );
}

function LinksAdmin() {
  const [retr] = useLoad(() => getOptional<unknown>("/api/v1/retrievals"), []);
  const [live] = useLoad(() => getOptional<{ liveBytesBySite: Record<string, number> }>("/api/v1/live"), []);
  return (
    <section>
      <h1>Links and budgets</h1>
      {retr.state === "missing" && (
        <Notice kind="missing">
          <strong>Link profiles and budgets are not available on this central yet.</strong> Retrievals, policies and link budgets (GET /api/v1/retrievals, PUT /api/v1/sites/{"{id}"}/policy) answer 404, so there is no bytes-per-day history to chart.
        </Notice>
      )}
      <h2>Live video bytes per site (since central started)</h2>
      <LoadView v={live} what="Live byte counters" endpoint="GET /api/v1/live">
        {(d) => {
          const rows = Object.entries(d.liveBytesBySite);
          const max = Math.max(1, ...rows.map(([, b]) => b));
          return rows.length ? (
            <div class="bars" role="list">
              {rows.map(([site, b]) => (
                <div key={site} class="bar-row" role="listitem">
                  <span class="bar-label">{site}</span>
                  <span class="bar" style={{ width: `${(b / max) * 70}%` }} />
                  <span class="bar-val">{fmtBytes(b)}</span>
                </div>
              ))}
            </div>
          ) : (
            <p class="muted">No live video has crossed any link yet.</p>
          );
        }}
      </LoadView>
    </section>
  );
}

interface User {
  name: string;
  roles: string[];
  disabled: boolean;
  createdAt: string;
}
interface Role {
  name: string;
  grants: { rights: string[]; scope: string; maxPriority?: string }[];
}

function UsersAdmin() {
  const { notify } = useApp();
  const [users, reloadUsers] = useLoad(() => get<{ users: User[] }>("/api/v1/users"), []);
  const [roles, reloadRoles] = useLoad(() => get<{ roles: Role[] }>("/api/v1/roles"), []);
  const [nu, setNu] = useState({ name: "", password: "", roles: "" });
  const [err, setErr] = useState<string | null>(null);
  const [roleEdit, setRoleEdit] = useState<{ name: string; json: string } | null>(null);
  const add = async (e: Event) => {
    e.preventDefault();
    setErr(null);
    if (nu.password.length < 8) return setErr("Passwords need at least 8 characters.");
    try {
      await api("POST", "/api/v1/users", { name: nu.name.trim(), password: nu.password, roles: nu.roles.split(",").map((r) => r.trim()).filter(Boolean) });
      setNu({ name: "", password: "", roles: "" });
      notify("User created.");
      reloadUsers();
    } catch (x) {
      setErr((x as Error).message);
    }
  };
  const patch = async (u: User, body: Record<string, unknown>) => {
    try {
      await api("PATCH", `/api/v1/users/${encodeURIComponent(u.name)}`, body);
      reloadUsers();
    } catch (x) {
      notify((x as Error).message, "error");
    }
  };
  const endSessions = async (u: User) => {
    if (!confirm(`End every session and close every live and RTSP stream of ${u.name} now? (The password stays; disable the user to keep them out.)`)) return;
    try {
      const r = await api<{ sessions: number; streams: number }>("POST", `/api/v1/users/${encodeURIComponent(u.name)}/end-sessions`);
      notify(`${u.name}: ${r.sessions} session(s) ended, ${r.streams} stream(s) closed.`);
    } catch (x) {
      notify((x as Error).message, "error");
    }
  };
  return (
    <section>
      <h1>Users</h1>
      <LoadView v={users} what="Users" endpoint="GET /api/v1/users">
        {(d) => (
          <table class="table" aria-label="Users">
            <thead>
              <tr>
                <th>User</th>
                <th>Roles</th>
                <th>State</th>
                <th>Created</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {d.users.map((u) => (
                <tr key={u.name}>
                  <td>{u.name}</td>
                  <td>{u.roles.join(", ") || "—"}</td>
                  <td>{u.disabled ? <Badge tone="bad">disabled</Badge> : <Badge tone="ok">active</Badge>}</td>
                  <td>{fmtTime(u.createdAt)}</td>
                  <td>
                    <button onClick={() => patch(u, { disabled: !u.disabled })}>{u.disabled ? "Enable" : "Disable"}</button>{" "}
                    <button class="danger" onClick={() => endSessions(u)} title="End this user's sessions and live/RTSP streams now">
                      End sessions
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </LoadView>
      <form class="form-row" onSubmit={add} aria-label="New user">
        <label>
          Name
          <input value={nu.name} onInput={(e) => setNu({ ...nu, name: e.currentTarget.value })} required />
        </label>
        <label>
          Password
          <input type="password" value={nu.password} onInput={(e) => setNu({ ...nu, password: e.currentTarget.value })} required autoComplete="new-password" />
        </label>
        <label>
          Roles (comma-separated)
          <input value={nu.roles} onInput={(e) => setNu({ ...nu, roles: e.currentTarget.value })} placeholder="operator" />
        </label>
        <button type="submit" class="primary">
          Add user
        </button>
      </form>
      {err && <Notice kind="error">{err}</Notice>}
      <h1>Roles</h1>
      <LoadView v={roles} what="Roles" endpoint="GET /api/v1/roles">
        {(d) => (
          <table class="table" aria-label="Roles">
            <thead>
              <tr>
                <th>Role</th>
                <th>Grants</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {d.roles.map((r) => (
                <tr key={r.name}>
                  <td>{r.name}</td>
                  <td class="small">
                    {r.grants.map((g, i) => (
                      <div key={i}>
                        <code>{g.scope}</code>: {g.rights.join(", ")}
                        {g.maxPriority ? ` (retrieve ≤ ${g.maxPriority})` : ""}
                      </div>
                    ))}
                  </td>
                  <td>
                    <button onClick={() => setRoleEdit({ name: r.name, json: JSON.stringify(r.grants, null, 2) })}>Edit</button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </LoadView>
      <button onClick={() => setRoleEdit({ name: "", json: "[]" })}>New role…</button>
      {roleEdit && (
        <RoleEditor
          name={roleEdit.name || null}
          grants={JSON.parse(roleEdit.json) as Role["grants"]}
          onClose={() => setRoleEdit(null)}
          onSaved={() => {
            setRoleEdit(null);
            reloadRoles();
          }}
        />
      )}
    </section>
  );
}

interface Rule {
  id: string;
  name: string;
  enabled: boolean;
  match: { types: string[]; sites?: string[]; cameras?: string[] };
  timeProfile?: string;
  actions: { kind: string; priority?: number | string; title?: string }[];
}

function RulesAdmin() {
  const { notify } = useApp();
  const [rules, reload] = useLoad(() => get<{ rules: Rule[] }>("/api/v1/rules"), []);
  const [edit, setEdit] = useState<{ id: string; json: string; isNew: boolean } | null>(null);
  const del = async (r: Rule) => {
    if (!confirm(`Delete rule ${r.name}?`)) return;
    await api("DELETE", `/api/v1/rules/${encodeURIComponent(r.id)}`).then(reload, (x) => notify((x as Error).message, "error"));
  };
  const template = { name: "Panic button", enabled: true, match: { types: ["panic"] }, actions: [{ kind: "alarm", priority: 1, title: "Panic button pressed", instructions: "Call the driver." }] };
  return (
    <section>
      <div class="toolbar">
        <h1 class="inline">Rules</h1>
        <span class="spacer" />
        <button class="primary" onClick={() => setEdit({ id: "", json: JSON.stringify(template, null, 2), isNew: true })}>
          New rule…
        </button>
      </div>
      <LoadView v={rules} what="Rules" endpoint="GET /api/v1/rules">
        {(d) => (
          <ListTable label="Rules" columns={["Rule", "When", "Then", "State", ""]} count={d.rules.length} empty="No rules yet.">
            {d.rules.map((r) => (
              <tr key={r.id}>
                <td>
                  {r.name} <span class="muted small">{r.id}</span>
                </td>
                <td>
                  {r.match.types.join(", ")}
                  {r.match.sites?.length ? ` at ${r.match.sites.join(", ")}` : ""}
                  {r.timeProfile ? ` during ${r.timeProfile}` : ""}
                </td>
                <td>{r.actions.map((a) => (a.kind === "alarm" ? `alarm P${a.priority ?? 3}` : a.kind)).join(", ")}</td>
                <td>{r.enabled ? <Badge tone="ok">enabled</Badge> : <Badge tone="dim">disabled</Badge>}</td>
                <td>
                  <EditDelete onEdit={() => setEdit({ id: r.id, json: JSON.stringify({ ...r, id: undefined }, null, 2), isNew: false })} onDelete={() => del(r)} />
                </td>
              </tr>
            ))}
          </ListTable>
        )}
      </LoadView>
      {edit && (
        <RuleEditor
          id={edit.isNew ? null : edit.id}
          rule={JSON.parse(edit.json) as RuleBody}
          onClose={() => setEdit(null)}
          onSaved={() => {
            setEdit(null);
            reload();
          }}
        />
      )}
    </section>
  );
}
