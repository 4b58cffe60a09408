// Moved to central/mirror (the edge-index mirror is its own module); kept so existing imports resolve.
export { openMirror, ROW_TABLES, type RowTable } from "../mirror/tables.ts";
