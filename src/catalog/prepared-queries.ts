import { randomUUID } from "node:crypto";
import type { StateStore } from "../state/index.js";
import { aggregate, ErrorCode, renderTemplate, RucheError, type PreparedQuery, type QueryFailoverOptions, type ServiceInstance, type ServiceQuery } from "../structs/index.js";

/** Consul's `structs.ErrQueryNotFound`: what a query by an ID or name nobody has answers. */
export const QUERY_NOT_FOUND = "Query not found";

/** A query as written, before the store gives it its ID and indexes. */
export type QueryDefinition = Omit<PreparedQuery, "ID" | "CreateIndex" | "ModifyIndex">;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Consul's prepared queries in the state (`preparedQueries`, by ID): stored, listed, found by
 * ID or name (templates by the longest Name the name asked begins with, rendered for it), each
 * write one store transaction checked as Consul's state store checks it (a name another query
 * holds or that is another query's ID, a session that does not exist, a second template with
 * an empty Name) and refused with Consul's words as `RUCHE_BAD_REQUEST`.
 */
export class PreparedQueries {
  constructor(private readonly store: StateStore) {}

  /** The index of the queries: never 0. */
  index(): number {
    return Math.max(1, this.store.tableIndex("preparedQueries"));
  }

  wait(minIndex: number, timeoutMs: number, signal?: AbortSignal): Promise<number> {
    return this.store.waitFor(["preparedQueries"], minIndex, timeoutMs, signal).then((i) => Math.max(1, i));
  }

  list(): PreparedQuery[] {
    return this.store.preparedQueries();
  }

  get(id: string): PreparedQuery | undefined {
    return this.store.preparedQuery(id);
  }

  /** Stores a new query; resolves with its ID. */
  async create(def: QueryDefinition): Promise<string> {
    const id = randomUUID();
    await this.store.write((tx) => {
      const all = tx.list("preparedQueries", "");
      check(def, id, all, (s) => tx.get("sessions", s) !== undefined);
      tx.put("preparedQueries", { ...def, ID: id, CreateIndex: 0, ModifyIndex: 0 });
    });
    return id;
  }

  /** Replaces a query whole; refused when there is none of that ID (Consul's "Cannot modify non-existent prepared query"). */
  async update(id: string, def: QueryDefinition): Promise<void> {
    await this.store.write((tx) => {
      const existing = tx.get("preparedQueries", id);
      if (existing === undefined) throw new RucheError(ErrorCode.NotFound, `Cannot modify non-existent prepared query: '${id}'`);
      check(def, id, tx.list("preparedQueries", ""), (s) => tx.get("sessions", s) !== undefined);
      tx.put("preparedQueries", { ...def, ID: id, CreateIndex: existing.CreateIndex, ModifyIndex: 0 });
    });
  }

  /** Removes a query; refused when there is none of that ID. */
  async delete(id: string): Promise<void> {
    await this.store.write((tx) => {
      if (tx.get("preparedQueries", id) === undefined) throw new RucheError(ErrorCode.NotFound, `Cannot modify non-existent prepared query: '${id}'`);
      tx.delete("preparedQueries", id);
    });
  }

  /**
   * The query an execute or explain names (Consul's `PreparedQueryResolve`): by ID first,
   * then by exact Name, then the template whose Name is the longest prefix of it (an empty
   * Name matches every name), rendered for the name asked. Undefined when none.
   */
  resolve(idOrName: string): PreparedQuery | undefined {
    const all = this.store.preparedQueries();
    const found = (UUID.test(idOrName) ? all.find((q) => q.ID === idOrName.toLowerCase()) : undefined) ?? all.find((q) => q.Name === idOrName) ?? longestTemplate(all, idOrName);
    if (found === undefined) return undefined;
    try {
      return renderTemplate(found, idOrName);
    } catch (err) {
      throw new RucheError(ErrorCode.BadRequest, err instanceof Error ? err.message : String(err), { cause: err });
    }
  }
}

function longestTemplate(all: readonly PreparedQuery[], name: string): PreparedQuery | undefined {
  let best: PreparedQuery | undefined;
  for (const q of all) if (q.Template.Type !== "" && name.startsWith(q.Name) && (best === undefined || q.Name.length > best.Name.length)) best = q;
  return best;
}

/** Consul's state store checks on a query about to be stored as `id` among `all`. */
function check(def: QueryDefinition, id: string, all: readonly PreparedQuery[], sessionExists: (id: string) => boolean): void {
  const bad = (why: string): never => {
    throw new RucheError(ErrorCode.BadRequest, why, { path: "Name" });
  };
  if (def.Name !== "") {
    if (all.some((q) => q.Name === def.Name && q.ID !== id)) bad(`name '${def.Name}' aliases an existing query name`);
    if (UUID.test(def.Name) && all.some((q) => q.ID === def.Name.toLowerCase())) bad(`name '${def.Name}' aliases an existing query ID`);
  } else if (def.Template.Type !== "" && all.some((q) => q.Name === "" && q.Template.Type !== "" && q.ID !== id)) {
    bad("a query template with an empty name already exists");
  }
  if (def.Session !== "" && !sessionExists(def.Session)) throw new RucheError(ErrorCode.BadRequest, `invalid session ${JSON.stringify(def.Session)}`, { path: "Session" });
}

/**
 * The instances of `instances` (one service's, whatever their health) a query's service part
 * answers, in the catalog's order (Consul's `execute`): healthy ones only — a critical check
 * leaves an instance out, a warning one too with `OnlyPassing`, checks of `IgnoreCheckIDs` not
 * counted — with every `NodeMeta` and `ServiceMeta` pair, every tag of `Tags` and none of its
 * `!tag`s (tags compared without case).
 */
export function serviceQueryMatches(svc: ServiceQuery, instances: readonly ServiceInstance[]): ServiceInstance[] {
  const ignore = new Set(svc.IgnoreCheckIDs ?? []);
  const must: string[] = [];
  const not: string[] = [];
  for (const t of svc.Tags ?? []) {
    const tag = t.toLowerCase();
    if (tag.startsWith("!")) not.push(tag.slice(1));
    else must.push(tag);
  }
  const metaOk = (have: Record<string, string>, want: Record<string, string> | null): boolean => Object.entries(want ?? {}).every(([k, v]) => have[k] === v);
  return instances.filter((i) => {
    const health = aggregate(i.checks.filter((c) => !ignore.has(c.CheckID)));
    if (health === "critical" || (svc.OnlyPassing && health !== "passing")) return false;
    if (!metaOk(i.node.Meta, svc.NodeMeta) || !metaOk(i.Meta, svc.ServiceMeta)) return false;
    const tags = new Set(i.Tags.map((t) => t.toLowerCase()));
    return must.every((t) => tags.has(t)) && !not.some((t) => tags.has(t));
  });
}

/**
 * The datacenters a query fails over to, in the order they are tried (Consul's
 * `queryFailover`): the `NearestN` first of `nearest` (the other datacenters, nearest first),
 * then `Datacenters` in their order, each once, leaving out those not in `nearest` (unknown
 * ones, and this one).
 */
export function failoverOrder(failover: QueryFailoverOptions, nearest: readonly string[]): string[] {
  const out = nearest.slice(0, Math.max(0, failover.NearestN));
  for (const dc of failover.Datacenters ?? []) if (nearest.includes(dc) && !out.includes(dc)) out.push(dc);
  return out;
}

/** A copy shuffled with `random` (a number in [0, 1)). */
export function shuffled<T>(items: readonly T[], random: () => number): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    const a = out[i] as T;
    out[i] = out[j] as T;
    out[j] = a;
  }
  return out;
}
