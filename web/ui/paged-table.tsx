/**
 * The pieces every admin list is made of (audit log, events, API keys): a filter bar whose draft
 * applies on "Filter", a site picker, a From/To pair, a table with its "nothing matches" row,
 * Newer/Older paging, and a row's Edit/Delete. One place for their markup, so the lists look and behave alike.
 */
import type { ComponentChildren } from "preact";
import { useState } from "preact/hooks";
import type { Site } from "../model.ts";
import { fromLocalInput } from "./common.tsx";

/** Filters as typed (`draft`) and as applied (`applied`, what the list is loaded with). */
export function useFilters<F extends Record<string, string>>(empty: F, onApply?: () => void) {
  const [draft, setDraft] = useState<F>(empty);
  const [applied, setApplied] = useState<F>(empty);
  const set = (k: keyof F) => (e: Event) => setDraft({ ...draft, [k]: (e.currentTarget as HTMLInputElement).value });
  const apply = (e: Event) => {
    e.preventDefault();
    onApply?.();
    setApplied(draft);
  };
  return { draft, applied, set, apply };
}

/** A datetime-local value as an ISO time for a query (undefined when empty). */
export const isoFromLocal = (s: string): string | undefined => (s ? new Date(fromLocalInput(s)).toISOString() : undefined);

/** The filter form: its fields, then the Filter button. */
export function FilterBar(p: { label: string; onSubmit: (e: Event) => void; children: ComponentChildren }) {
  return (
    <form class="filters" aria-label={p.label} onSubmit={p.onSubmit}>
      {p.children}
      <button class="primary" type="submit">
        Filter
      </button>
    </form>
  );
}

/** A site picker: "any" (or `anyLabel`) and the sites by name. */
export function SiteSelect(p: { label: string; sites: readonly Site[]; value: string; onChange: (e: Event) => void; anyLabel?: string }) {
  return (
    <label>
      {p.label}
      <select aria-label={p.label} value={p.value} onChange={p.onChange}>
        <option value="">{p.anyLabel ?? "any"}</option>
        {p.sites.map((s) => (
          <option key={s.id} value={s.id}>
            {s.name}
          </option>
        ))}
      </select>
    </label>
  );
}

/** From / To, to the second. */
export function TimeRangeFilter(p: { from: string; to: string; set: (k: "from" | "to") => (e: Event) => void }) {
  return (
    <>
      <label>
        From
        <input type="datetime-local" step={1} value={p.from} onInput={p.set("from")} />
      </label>
      <label>
        To
        <input type="datetime-local" step={1} value={p.to} onInput={p.set("to")} />
      </label>
    </>
  );
}

/** A table with its header; `empty` fills one row when there are no rows. */
export function ListTable(p: { label: string; columns: string[]; count: number; empty: string; children: ComponentChildren }) {
  return (
    <table class="table" aria-label={p.label}>
      <thead>
        <tr>
          {p.columns.map((c, i) => (
            <th key={i}>{c}</th>
          ))}
        </tr>
      </thead>
      <tbody>
        {p.children}
        {!p.count && (
          <tr>
            <td colSpan={p.columns.length} class="muted">
              {p.empty}
            </td>
          </tr>
        )}
      </tbody>
    </table>
  );
}

/** Newer / Older. */
export function Pager(p: { newer: (() => void) | null; older: (() => void) | null }) {
  return (
    <div class="form-row">
      <button disabled={!p.newer} onClick={() => p.newer?.()}>
        Newer
      </button>
      <button disabled={!p.older} onClick={() => p.older?.()}>
        Older
      </button>
    </div>
  );
}

/** A row's Edit and Delete buttons (the lists edited in a dialog: rules, schedules). */
export function EditDelete(p: { onEdit: () => void; onDelete: () => void }) {
  return (
    <>
      <button onClick={p.onEdit}>Edit</button>{" "}
      <button class="danger" onClick={p.onDelete}>
        Delete
      </button>
    </>
  );
}
