/**
 * Consul's prepared queries (`/v1/query`), in the shapes of Consul's `structs.PreparedQuery`
 * (`agent/structs/prepared_query.go`) as its HTTP API writes them: a stored query, what a body
 * may hold, and the checks Consul makes before storing one (`parseQuery` in
 * `agent/consul/prepared_query_endpoint.go`).
 */

import { NS, parseDuration } from "./duration.js";

/** Where a query fails over when no instance is healthy here: the NearestN nearest other datacenters, then these in order. */
export interface QueryFailoverOptions {
  NearestN: number;
  Datacenters: string[] | null;
}

/** The service part of a query: which instances of which service it answers. */
export interface ServiceQuery {
  Service: string;
  /** A node to sort the local answer by distance from ("_agent": the asking agent's). */
  Near: string;
  Failover: QueryFailoverOptions;
  /** Checks left out when deciding an instance's health. */
  IgnoreCheckIDs: string[] | null;
  /** Only passing instances (warning ones are left out too); critical ones are always left out. */
  OnlyPassing: boolean;
  /** Tags every instance must have; `!tag`: a tag none may have. Compared without case. */
  Tags: string[] | null;
  NodeMeta: Record<string, string> | null;
  ServiceMeta: Record<string, string> | null;
  Connect: boolean;
}

export interface QueryDNSOptions {
  /** A Go duration ("10s"); "" for the agent's own. */
  TTL: string;
}

/** A template (`Type` "name_prefix_match"): the query answers every name its Name begins, its fields filled from the name asked. */
export interface QueryTemplate {
  Type: string;
  Regexp: string;
  RemoveEmptyTags: boolean;
}

/** A stored prepared query. */
export interface PreparedQuery {
  ID: string;
  /** "" for a query reached by its ID only (which must then be bound to a session, unless it is a template). */
  Name: string;
  /** The session the query lives as long as; "": it does not expire. */
  Session: string;
  /** The ACL token the query executes with; "": the one of the request that executes it. */
  Token: string;
  Template: QueryTemplate;
  Service: ServiceQuery;
  DNS: QueryDNSOptions;
  CreateIndex: number;
  ModifyIndex: number;
}

/** What Consul shows in place of a query's token to a token that may not see it. */
export const REDACTED_TOKEN = "<hidden>";

/** The one template type Consul has. */
export const NAME_PREFIX_MATCH = "name_prefix_match";

/** A query body read: the query (ID and indexes left to the caller), or what is wrong with it and where. */
export type QueryBodyResult = { ok: true; query: Omit<PreparedQuery, "ID" | "CreateIndex" | "ModifyIndex"> & { ID: string } } | { ok: false; error: string };

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === "object" && x !== null && !Array.isArray(x);
}

/** A struct field of a body as Go's JSON decoder finds it: the exact key, else one that differs only in case (clients send `service`, `nearestn`). */
function field(o: Record<string, unknown>, key: string): unknown {
  if (key in o) return o[key];
  const lower = key.toLowerCase();
  const found = Object.keys(o).find((k) => k.toLowerCase() === lower);
  return found === undefined ? undefined : o[found];
}

/**
 * A prepared query's body (`POST /v1/query`, `PUT /v1/query/:id`) → the query to store, with
 * Consul's checks and words ("Must provide a Service name to query", "Bad NearestN ..."). Field
 * names match whatever their case, as Go's decoder matches them (python-consul sends them in
 * lower case); map keys (`NodeMeta`, `ServiceMeta`) are kept as sent.
 * Consul's fields that Ruche does not have are refused by name, never ignored: `Targets`
 * (peers), `SamenessGroup`, `Peer`, `Connect: true`, Enterprise's `Namespace` and `Partition`.
 */
export function parseQueryBody(body: unknown): QueryBodyResult {
  const errors: string[] = [];
  const fail = (path: string, what: string): void => {
    errors.push(`${path}: ${what}`);
  };
  if (!isRecord(body)) return { ok: false, error: "Request decode failed: the body must be a JSON object (a prepared query)" };
  const str = (o: Record<string, unknown>, key: string, path: string): string => {
    const v = field(o, key);
    if (v === undefined || v === null) return "";
    if (typeof v !== "string") {
      fail(path, "must be a string");
      return "";
    }
    return v;
  };
  const bool = (o: Record<string, unknown>, key: string, path: string): boolean => {
    const v = field(o, key);
    if (v === undefined || v === null) return false;
    if (typeof v !== "boolean") {
      fail(path, "must be true or false");
      return false;
    }
    return v;
  };
  const strings = (o: Record<string, unknown>, key: string, path: string): string[] | null => {
    const v = field(o, key);
    if (v === undefined || v === null) return null;
    if (!Array.isArray(v) || !v.every((x) => typeof x === "string")) {
      fail(path, "must be a list of strings");
      return null;
    }
    return v;
  };
  const meta = (o: Record<string, unknown>, key: string, path: string): Record<string, string> | null => {
    const v = field(o, key);
    if (v === undefined || v === null) return null;
    if (!isRecord(v) || !Object.values(v).every((x) => typeof x === "string")) {
      fail(path, "must map strings to strings");
      return null;
    }
    return v as Record<string, string>;
  };
  const obj = (o: Record<string, unknown>, key: string, path: string): Record<string, unknown> => {
    const v = field(o, key);
    if (v === undefined || v === null) return {};
    if (!isRecord(v)) {
      fail(path, "must be an object");
      return {};
    }
    return v;
  };
  const refuse = (o: Record<string, unknown>, key: string, path: string, why: string): void => {
    const v = field(o, key);
    if (v === undefined || v === null || v === "" || v === false || (Array.isArray(v) && v.length === 0)) return;
    fail(path, why);
  };

  const svc = obj(body, "Service", "Service");
  const failover = obj(svc, "Failover", "Service.Failover");
  const nearestRaw = field(failover, "NearestN");
  let nearestN = 0;
  if (nearestRaw !== undefined && nearestRaw !== null) {
    if (typeof nearestRaw !== "number" || !Number.isSafeInteger(nearestRaw)) fail("Service.Failover.NearestN", "must be a whole number");
    else nearestN = nearestRaw;
  }
  refuse(failover, "Targets", "Service.Failover.Targets", "failover targets (cluster peers) are not offered by Ruche; use NearestN and Datacenters");
  refuse(svc, "SamenessGroup", "Service.SamenessGroup", "sameness groups (cluster peering) are not offered by Ruche");
  refuse(svc, "Peer", "Service.Peer", "cluster peering is not offered by Ruche");
  refuse(svc, "Connect", "Service.Connect", "Ruche has no service mesh (Connect): there are no Connect-capable instances to answer");
  refuse(svc, "Namespace", "Service.Namespace", "Consul's namespaces (Enterprise) are not offered by Ruche");
  refuse(svc, "Partition", "Service.Partition", "Consul's admin partitions (Enterprise) are not offered by Ruche");
  const template = obj(body, "Template", "Template");
  const dns = obj(body, "DNS", "DNS");
  const query = {
    ID: str(body, "ID", "ID"),
    Name: str(body, "Name", "Name"),
    Session: str(body, "Session", "Session"),
    Token: str(body, "Token", "Token"),
    Template: { Type: str(template, "Type", "Template.Type"), Regexp: str(template, "Regexp", "Template.Regexp"), RemoveEmptyTags: bool(template, "RemoveEmptyTags", "Template.RemoveEmptyTags") },
    Service: {
      Service: str(svc, "Service", "Service.Service"),
      Near: str(svc, "Near", "Service.Near"),
      Failover: { NearestN: nearestN, Datacenters: strings(failover, "Datacenters", "Service.Failover.Datacenters") },
      IgnoreCheckIDs: strings(svc, "IgnoreCheckIDs", "Service.IgnoreCheckIDs"),
      OnlyPassing: bool(svc, "OnlyPassing", "Service.OnlyPassing"),
      Tags: strings(svc, "Tags", "Service.Tags"),
      NodeMeta: meta(svc, "NodeMeta", "Service.NodeMeta"),
      ServiceMeta: meta(svc, "ServiceMeta", "Service.ServiceMeta"),
      Connect: false,
    },
    DNS: { TTL: str(dns, "TTL", "DNS.TTL") },
  };
  if (errors.length > 0) return { ok: false, error: `Request decode failed: ${errors.join("; ")}` };

  // Consul's parseQuery, in its order and words.
  if (query.Name === "" && query.Template.Type === "" && query.Session === "") return invalid("Must be bound to a session");
  if (query.Token === REDACTED_TOKEN) return invalid(`Bad Token '${REDACTED_TOKEN}', it looks like a query definition with a redacted token was submitted`);
  if (query.Service.Service === "") return invalid("Must provide a Service name to query");
  if (nearestN < 0) return invalid(`Bad NearestN '${nearestN}', must be >= 0`);
  for (const k of Object.keys(query.Service.NodeMeta ?? {})) if (k === "") return invalid("Couldn't load metadata pair ('', ...): key cannot be blank");
  if (query.DNS.TTL !== "") {
    // Go's parser takes a sign; Ruche's refuses one: a negative TTL is Consul's "must be >=0".
    if (query.DNS.TTL.startsWith("-") && parseDuration(query.DNS.TTL.slice(1)) !== undefined) return invalid(`DNS TTL '${query.DNS.TTL}', must be >=0`);
    if (parseDuration(query.DNS.TTL) === undefined) return invalid(`Bad DNS TTL '${query.DNS.TTL}': not a duration such as "10s" or "1m30s"`);
  }
  if (query.Template.Type !== "" && query.Template.Type !== NAME_PREFIX_MATCH) return invalid(`Bad Template.Type '${query.Template.Type}': the one type is "${NAME_PREFIX_MATCH}"`);
  if (query.Template.Type === "" && (query.Template.Regexp !== "" || query.Template.RemoveEmptyTags)) return invalid(`Template.Regexp and Template.RemoveEmptyTags need Template.Type "${NAME_PREFIX_MATCH}"`);
  if (query.Template.Regexp !== "") {
    try {
      new RegExp(query.Template.Regexp);
    } catch (err) {
      return invalid(`Bad Regexp: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  return { ok: true, query };
}

function invalid(why: string): { ok: false; error: string } {
  return { ok: false, error: `Invalid prepared query: ${why}` };
}

/** The name a query's ACL rules are checked on (`query` / `query_prefix`), when they apply: a named query's or a template's (Consul's `GetACLPrefix`). */
export function queryAclName(q: Pick<PreparedQuery, "Name" | "Template">): string | undefined {
  return q.Name !== "" || q.Template.Type !== "" ? q.Name : undefined;
}

/** A query's DNS TTL in seconds, or undefined when it sets none. */
export function queryDnsTtlSeconds(q: Pick<PreparedQuery, "DNS">): number | undefined {
  if (q.DNS.TTL === "") return undefined;
  const ns = parseDuration(q.DNS.TTL);
  return ns === undefined ? undefined : Math.floor(ns / NS.second);
}

/**
 * A template's query rendered for the name asked (Consul's `prepared_query/template.go`): each
 * string field's `${name.full}`, `${name.prefix}` (the template's Name), `${name.suffix}` (the
 * rest) and `${match(N)}` (the Nth group of `Regexp` on the full name, "" when none) filled
 * in; with `RemoveEmptyTags`, tags left empty are dropped. Any other interpolation is an
 * error naming it.
 */
export function renderTemplate(q: PreparedQuery, name: string): PreparedQuery {
  if (q.Template.Type === "") return q;
  const groups = q.Template.Regexp === "" ? [] : (new RegExp(q.Template.Regexp).exec(name) ?? []);
  const vars: Record<string, string> = { "name.full": name, "name.prefix": q.Name, "name.suffix": name.startsWith(q.Name) ? name.slice(q.Name.length) : "" };
  const fill = (s: string): string =>
    s.replace(/\$\{\s*([^}]*?)\s*\}/g, (_all, expr: string) => {
      const v = vars[expr];
      if (v !== undefined) return v;
      const m = /^match\(\s*(\d+)\s*\)$/.exec(expr);
      if (m !== null) return groups[Number(m[1])] ?? "";
      throw new Error(`Failed to render template: unknown variable or function "\${${expr}}" (known: name.full, name.prefix, name.suffix, match(N))`);
    });
  const list = (l: string[] | null): string[] | null => (l === null ? null : l.map(fill));
  const map = (m: Record<string, string> | null): Record<string, string> | null => (m === null ? null : Object.fromEntries(Object.entries(m).map(([k, v]) => [fill(k), fill(v)])));
  let tags = list(q.Service.Tags);
  if (q.Template.RemoveEmptyTags && tags !== null) tags = tags.filter((t) => t !== "");
  return {
    ...q,
    Session: fill(q.Session),
    Service: {
      ...q.Service,
      Service: fill(q.Service.Service),
      Near: fill(q.Service.Near),
      Failover: { NearestN: q.Service.Failover.NearestN, Datacenters: list(q.Service.Failover.Datacenters) },
      IgnoreCheckIDs: list(q.Service.IgnoreCheckIDs),
      Tags: tags,
      NodeMeta: map(q.Service.NodeMeta),
      ServiceMeta: map(q.Service.ServiceMeta),
    },
    DNS: { TTL: fill(q.DNS.TTL) },
  };
}
