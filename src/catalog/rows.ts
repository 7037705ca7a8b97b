import type { Logger } from "../structs/index.js";

/**
 * What the catalog checks of the store's rows before it shows them. A row that got past
 * every door (a registration from an older version, a bug, a hand-edited data dir) must
 * not take the catalog down with it: the catalog leaves it out, says so once, and serves
 * the rest. These read only the fields the catalog reads.
 */

/** What is wrong with a node row for the catalog (its name, address, datacenter, meta), or null. */
export function nodeRowProblem(n: unknown): string | null {
  if (!isObject(n)) return "not an object";
  if (typeof n.ID !== "string" || n.ID === "") return "ID: must be a non-empty string";
  for (const f of ["Name", "Datacenter", "Status"] as const) if (typeof n[f] !== "string") return `${f}: must be a string`;
  if (!isObject(n.Resources)) return "Resources: must be an object";
  if (typeof n.Resources.IP !== "string") return "Resources.IP: must be a string";
  if (!isStringMap(n.Meta)) return "Meta: must map strings to strings";
  if (!isIndexed(n)) return "CreateIndex and ModifyIndex: must be numbers";
  return null;
}

/** What is wrong with a directly registered service's row (the `services` table), or null. */
export function registeredRowProblem(r: unknown): string | null {
  if (!isObject(r)) return "not an object";
  for (const f of ["ID", "Name", "NodeID", "Address"] as const) if (typeof r[f] !== "string") return `${f}: must be a string`;
  if (r.ID === "" || r.Name === "") return "ID and Name must not be empty";
  if (!Array.isArray(r.Tags) || !r.Tags.every((t) => typeof t === "string")) return "Tags: must be a list of strings";
  if (typeof r.Port !== "number" || !Number.isInteger(r.Port) || r.Port < 0 || r.Port > 65535) return "Port: must be a port number";
  if (!isStringMap(r.Meta)) return "Meta: must map strings to strings";
  if (!isIndexed(r)) return "CreateIndex and ModifyIndex: must be numbers";
  if (!Array.isArray(r.Checks)) return "Checks: must be a list";
  for (const [i, c] of (r.Checks as unknown[]).entries()) {
    if (!isObject(c)) return `Checks[${i}]: must be an object`;
    for (const f of ["CheckID", "Name", "Type", "Output"] as const) if (typeof c[f] !== "string") return `Checks[${i}].${f}: must be a string`;
    if (c.Status !== "passing" && c.Status !== "warning" && c.Status !== "critical") return `Checks[${i}].Status: must be passing, warning or critical`;
  }
  return null;
}

/**
 * The rows a view leaves out, each said once: a row is logged the first time it is left
 * out, and again only once it has changed (a new ModifyIndex) and is still bad. Rows no
 * longer left out are forgotten at the end of each pass, so the memory stays bounded by
 * the bad rows there are.
 */
export class SkippedRows {
  private said = new Map<string, string>();
  private pass = new Map<string, string>();

  constructor(private readonly log: Logger) {}

  /** Leaves a row out of this pass; logs it unless this version of it was already said. */
  skip(table: string, key: unknown, modifyIndex: unknown, problem: string): void {
    const id = `${table}/${String(key)}`;
    const version = String(modifyIndex);
    this.pass.set(id, version);
    if (this.said.get(id) === version) return;
    this.log.warn({ table, key, problem }, `a row of the ${table} table cannot be shown and is left out of the catalog, DNS and the router until it changes: ${problem}`);
  }

  /** Ends a pass: what was left out in it is what has been said. */
  done(): void {
    this.said = this.pass;
    this.pass = new Map();
  }
}

function isObject(x: unknown): x is Record<string, unknown> {
  return typeof x === "object" && x !== null && !Array.isArray(x);
}

function isStringMap(x: unknown): boolean {
  return isObject(x) && Object.values(x).every((s) => typeof s === "string");
}

function isIndexed(x: Record<string, unknown>): boolean {
  return typeof x.CreateIndex === "number" && typeof x.ModifyIndex === "number";
}
