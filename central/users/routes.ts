/** HTTP routes for the signed-in user (me, logout) and for administering users, roles and camera groups. */
import { z } from "zod";
import { deleteCookie } from "hono/cookie";
import { requestToken } from "../../lib/auth/index.ts";
import { notFound } from "../../lib/http/problem.ts";
import type { ApiRouter } from "../openapi.ts";
import { Grant } from "../rights/index.ts";
import { guard } from "../rights/errors.ts";
import type { OpsContext } from "../events/operations.ts";
import { CameraGroup, Name, Password, Role, UserView } from "./index.ts";

const Me = z.object({ user: z.string(), roles: z.array(z.string()), grants: z.array(Grant), expiresAt: z.string() });
const UserCreate = z.object({ name: Name, password: Password, roles: z.array(z.string()).default([]) });
const UserPatch = z.object({ password: Password.optional(), roles: z.array(z.string()).optional(), disabled: z.boolean().optional() });
const RoleBody = Role.omit({ name: true });
const GroupBody = CameraGroup.omit({ name: true });
const Ok = z.object({ ok: z.literal(true) });
const Ended = z.object({ sessions: z.number().int().describe("login sessions ended"), streams: z.number().int().describe("live and RTSP streams closed") });

export function mountUserRoutes(api: ApiRouter, x: OpsContext): void {
  const tag = "users";
  const cfg = (user: string, subject: string, detail: Record<string, unknown>) => x.audit.record({ user, action: "config", subject, detail });

  api.route({ method: "get", path: "/api/v1/me", summary: "The signed-in user, roles and effective grants", tag, rights: { user: "self" }, response: Me }, (c) => {
    const s = c.var.session;
    return c.json({ user: s.user, roles: s.roles, grants: s.grants, expiresAt: s.expiresAt });
  });

  api.route({ method: "post", path: "/api/v1/logout", summary: "End this session (token and cookie)", tag, rights: { user: "self" }, response: Ok }, async (c) => {
    const t = requestToken(c);
    if (t) await x.users.logout(t);
    deleteCookie(c, "outpost_session", { path: "/" });
    x.audit.record({ user: c.var.session.user, action: "logout" });
    return c.json({ ok: true as const });
  });

  api.route({ method: "get", path: "/api/v1/users", summary: "Users", tag, rights: { right: "admin-users" }, response: z.object({ users: z.array(UserView) }) }, (c) => c.json({ users: x.users.listUsers() }));
  api.route({ method: "post", path: "/api/v1/users", summary: "Create a user", tag, rights: { right: "admin-users" }, body: UserCreate, response: UserView, status: 201 }, async (c, { body }) => {
    const u = await guard(x.users.createUser(body));
    cfg(c.var.session.user, "user.create", { name: u.name, roles: u.roles });
    return c.json(u, 201);
  });
  api.route({ method: "get", path: "/api/v1/users/:name", summary: "One user", tag, rights: { right: "admin-users" }, response: UserView }, (c) => {
    const u = x.users.user(c.req.param("name")!);
    if (!u) throw notFound(`No user named ${c.req.param("name")!}.`);
    return c.json(u);
  });
  api.route({ method: "patch", path: "/api/v1/users/:name", summary: "Change a user's password, roles or disabled flag (ends their sessions on password change or disable)", tag, rights: { right: "admin-users" }, body: UserPatch, response: UserView }, async (c, { body }) => {
    const u = await guard(x.users.updateUser(c.req.param("name")!, body));
    cfg(c.var.session.user, "user.update", { name: u.name, roles: body.roles, disabled: body.disabled, password: body.password ? "changed" : undefined });
    return c.json(u);
  });
  api.route({ method: "post", path: "/api/v1/users/:name/end-sessions", summary: "End this user's login sessions and close their live, LL-HLS and RTSP streams now (the password stays: disable the user or change it to keep them out)", tag, rights: { right: "admin-users" }, response: Ended }, async (c) => {
    const name = c.req.param("name")!;
    const r = await guard(x.users.endSessions(name));
    cfg(c.var.session.user, "user.end-sessions", { name, ...r });
    return c.json(r);
  });
  api.route({ method: "delete", path: "/api/v1/users/:name", summary: "Delete a user", tag, rights: { right: "admin-users" }, response: Ok }, async (c) => {
    await guard(x.users.deleteUser(c.req.param("name")!));
    cfg(c.var.session.user, "user.delete", { name: c.req.param("name")! });
    return c.json({ ok: true as const });
  });

  api.route({ method: "get", path: "/api/v1/roles", summary: "Roles and their grants", tag, rights: { right: "admin-users" }, response: z.object({ roles: z.array(Role) }) }, (c) => c.json({ roles: x.users.listRoles() }));
  api.route({ method: "put", path: "/api/v1/roles/:name", summary: "Create or replace a role", tag, rights: { right: "admin-users" }, body: RoleBody, response: Role }, async (c, { body }) => {
    const r = await guard(() => x.users.putRole({ ...body, name: c.req.param("name")! }));
    cfg(c.var.session.user, "role.put", { role: r });
    return c.json(r);
  });
  api.route({ method: "delete", path: "/api/v1/roles/:name", summary: "Delete a role no user has", tag, rights: { right: "admin-users" }, response: Ok }, async (c) => {
    await guard(x.users.deleteRole(c.req.param("name")!));
    cfg(c.var.session.user, "role.delete", { name: c.req.param("name")! });
    return c.json({ ok: true as const });
  });

  api.route({ method: "get", path: "/api/v1/camera-groups", summary: "Camera groups (grant scope group:NAME)", tag, rights: { right: "admin-users" }, response: z.object({ groups: z.array(CameraGroup) }) }, (c) => c.json({ groups: x.users.listGroups() }));
  api.route({ method: "put", path: "/api/v1/camera-groups/:name", summary: "Create or replace a camera group", tag, rights: { right: "admin-users" }, body: GroupBody, response: CameraGroup }, async (c, { body }) => {
    const g = await guard(() => x.users.putGroup({ ...body, name: c.req.param("name")! }));
    cfg(c.var.session.user, "camera-group.put", { name: g.name, cameras: g.cameras.length });
    return c.json(g);
  });
  api.route({ method: "delete", path: "/api/v1/camera-groups/:name", summary: "Delete a camera group no role uses", tag, rights: { right: "admin-users" }, response: Ok }, async (c) => {
    await guard(x.users.deleteGroup(c.req.param("name")!));
    cfg(c.var.session.user, "camera-group.delete", { name: c.req.param("name")! });
    return c.json({ ok: true as const });
  });
}
