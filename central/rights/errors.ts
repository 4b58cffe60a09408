/** Domain errors of the operations modules (code: not-found | conflict | invalid) → problem+json. */
import { HttpProblem, badRequest, conflict, notFound } from "../../lib/http/problem.ts";

export function asProblem(e: unknown): never {
  if (e instanceof HttpProblem) throw e;
  const err = e as { code?: string; message?: string; issues?: { path: PropertyKey[]; message: string }[] };
  if (err.issues?.[0]) throw badRequest(`${err.issues[0].path.map(String).join(".") || "body"}: ${err.issues[0].message}`);
  if (err.code === "not-found") throw notFound(err.message ?? "Not found.");
  if (err.code === "conflict") throw conflict(err.message ?? "Conflict.");
  if (err.code === "invalid") throw badRequest(err.message ?? "Invalid.");
  throw e;
}

/** Await `p`, mapping domain errors to problems. */
export async function guard<T>(p: Promise<T> | (() => Promise<T>)): Promise<T> {
  try {
    return await (typeof p === "function" ? p() : p);
  } catch (e) {
    return asProblem(e);
  }
}
