import type { ApiClient } from "../../apiclient/index.js";
import type { ServiceRegistration } from "../../structs/index.js";
import { NomadVarItem, type Dep, type HealthService, type KeyPair, type NomadService, type NomadVarMeta, type ServiceSnippet } from "./deps.js";

/** A dependency's value at an index; `value` null: it does not exist (a missing key, a variable not written). */
export interface Fetched {
  index: number;
  value: unknown;
}

/** Where a template's data comes from: the cluster's API, read with blocking queries. */
export interface TemplateSource {
  /** The dependency's value once the state moves past `index` (at once with 0). */
  fetch(d: Exclude<Dep, { kind: "file" }>, index: number, signal: AbortSignal): Promise<Fetched>;
}

/** How long one blocking query waits at the servers. */
const WAIT = "60s";

/** Consul's KV entry as the API sends it. */
interface KvWire {
  Key: string;
  Value: string | null;
  Flags: number;
  CreateIndex: number;
  ModifyIndex: number;
  LockIndex: number;
  Session?: string;
}

/** Consul's `/v1/health/service` entry. */
interface HealthWire {
  Node: { ID?: string; Node: string; Address: string; Datacenter?: string; TaggedAddresses?: Record<string, string> | null; Meta?: Record<string, string> | null };
  Service: { ID: string; Service: string; Tags?: string[] | null; Address?: string; Port: number; Meta?: Record<string, string> | null; Namespace?: string; Kind?: string; Weights?: { Passing: number; Warning: number } };
  Checks: { Status: string }[];
}

/** Nomad's `api.ServiceRegistration` as read off the wire: its tags may be null. */
type NomadServiceWire = Omit<ServiceRegistration, "Tags"> & { Tags?: string[] | null };

/** The worst of a service instance's checks, as Consul aggregates them. */
export function aggregateStatus(checks: readonly { Status: string }[]): string {
  if (checks.some((c) => c.Status === "critical")) return "critical";
  if (checks.some((c) => c.Status === "maintenance")) return "maintenance";
  if (checks.some((c) => c.Status === "warning")) return "warning";
  return "passing";
}

/** Consul health entries as consul-template's `service` gives them, filtered by status ("passing", "any", or a list). */
export function healthServices(entries: readonly HealthWire[], filter: string): HealthService[] {
  const want = filter.split(",").map((s) => s.trim());
  return entries
    .map((e): HealthService => ({
      Node: e.Node.Node,
      NodeID: e.Node.ID ?? "",
      Kind: e.Service.Kind ?? "",
      Address: e.Service.Address !== undefined && e.Service.Address !== "" ? e.Service.Address : e.Node.Address,
      NodeAddress: e.Node.Address,
      NodeDatacenter: e.Node.Datacenter ?? "",
      NodeTaggedAddresses: e.Node.TaggedAddresses ?? {},
      NodeMeta: e.Node.Meta ?? {},
      ServiceMeta: e.Service.Meta ?? {},
      ID: e.Service.ID,
      Name: e.Service.Service,
      Namespace: e.Service.Namespace ?? "",
      Tags: [...new Set(e.Service.Tags ?? [])],
      Checks: e.Checks,
      Status: aggregateStatus(e.Checks),
      Port: e.Service.Port,
      Weights: e.Service.Weights ?? { Passing: 1, Warning: 1 },
    }))
    .filter((s) => want.includes("any") || want.includes(s.Status))
    .sort((a, b) => (a.Node === b.Node ? (a.ID < b.ID ? -1 : 1) : a.Node < b.Node ? -1 : 1));
}

/** Consul KV entries under a prefix as consul-template's `ls`/`tree` pairs, their keys relative to it. */
export function keyPairs(prefix: string, entries: readonly KvWire[]): KeyPair[] {
  const base = prefix === "" || prefix.endsWith("/") ? prefix : `${prefix}/`;
  return entries
    .filter((e) => e.Key.startsWith(base) || e.Key === prefix)
    .map((e) => ({
      Path: e.Key,
      Key: e.Key === prefix ? "" : e.Key.slice(base.length),
      Value: e.Value === null ? "" : Buffer.from(e.Value, "base64").toString("utf8"),
      Exists: true,
      CreateIndex: e.CreateIndex,
      ModifyIndex: e.ModifyIndex,
      LockIndex: e.LockIndex,
      Flags: e.Flags,
      Session: e.Session ?? "",
    }))
    .sort((a, b) => (a.Key < b.Key ? -1 : 1));
}

export function nomadServices(entries: readonly NomadServiceWire[]): NomadService[] {
  return entries
    .map((e) => ({ ID: e.ID, Name: e.ServiceName, Namespace: e.Namespace, Node: e.NodeID, Datacenter: e.Datacenter, JobID: e.JobID, AllocID: e.AllocID, Tags: e.Tags ?? [], Address: e.Address, Port: e.Port }))
    .sort((a, b) => (a.ID < b.ID ? -1 : 1));
}

/**
 * A source over the cluster's HTTP API, as the task's workload identity may read it:
 * Consul's KV and health routes, Nomad's service and variable routes, in the
 * allocation's namespace.
 */
export function apiTemplateSource(api: ApiClient, namespace: string): TemplateSource {
  const ns = { namespace };
  return {
    async fetch(d, index, signal) {
      const q = index > 0 ? { index, wait: WAIT, signal } : { signal };
      switch (d.kind) {
        case "kv.block":
        case "kv.get": {
          const r = await api.readIndexed(`/v1/kv/${encodeKey(d.key)}`, q);
          const e = r.found ? (r.body as KvWire[] | undefined)?.[0] : undefined;
          return { index: r.index, value: e === undefined ? null : e.Value === null ? "" : Buffer.from(e.Value, "base64").toString("utf8") };
        }
        case "kv.list": {
          const r = await api.readIndexed(`/v1/kv/${encodeKey(d.prefix)}`, { ...q, query: { recurse: "" } });
          return { index: r.index, value: keyPairs(d.prefix, (r.body as KvWire[] | undefined) ?? []) };
        }
        case "health.service": {
          const query: Record<string, string> = {};
          if (d.tag !== "") query.tag = d.tag;
          if (d.dc !== "") query.dc = d.dc;
          const r = await api.readIndexed(`/v1/health/service/${encodeURIComponent(d.name)}`, { ...q, query });
          return { index: r.index, value: healthServices((r.body as HealthWire[] | undefined) ?? [], d.filter) };
        }
        case "catalog.services": {
          const r = await api.readIndexed("/v1/catalog/services", { ...q, query: d.dc === "" ? {} : { dc: d.dc } });
          const value: ServiceSnippet[] = Object.entries((r.body as Record<string, string[] | null> | undefined) ?? {})
            .map(([Name, Tags]) => ({ Name, Tags: [...new Set(Tags ?? [])].sort() }))
            .sort((a, b) => (a.Name < b.Name ? -1 : 1));
          return { index: r.index, value };
        }
        case "nomad.service": {
          const r = await api.readIndexed(`/v1/service/${encodeURIComponent(d.name)}`, { ...q, query: { ...ns, ...(d.tag === "" ? {} : { tag: d.tag }), ...(d.choose === "" ? {} : { choose: d.choose }) } });
          const all = nomadServices((r.body as NomadServiceWire[] | undefined) ?? []);
          return { index: r.index, value: d.tag === "" ? all : all.filter((s) => s.Tags.includes(d.tag)) };
        }
        case "nomad.service.list": {
          const r = await api.readIndexed("/v1/services", { ...q, query: ns });
          const value: ServiceSnippet[] = ((r.body as { Namespace: string; Services: { ServiceName: string; Tags?: string[] | null }[] }[] | undefined) ?? [])
            .flatMap((n) => n.Services.map((s) => ({ Name: s.ServiceName, Tags: [...new Set(s.Tags ?? [])].sort() })))
            .sort((a, b) => (a.Name < b.Name ? -1 : 1));
          return { index: r.index, value };
        }
        case "nomad.var.block": {
          const r = await api.readIndexed(`/v1/var/${encodeKey(d.path)}`, { ...q, query: ns });
          const v = r.body as { Path: string; Items: Record<string, string> } | undefined;
          if (!r.found || v === undefined) return { index: r.index, value: null };
          const items: Record<string, NomadVarItem> = {};
          for (const [k, x] of Object.entries(v.Items)) items[k] = new NomadVarItem(k, x, v.Path);
          return { index: r.index, value: items };
        }
        case "nomad.var.list": {
          const r = await api.readIndexed("/v1/vars", { ...q, query: { ...ns, prefix: d.prefix } });
          return { index: r.index, value: ((r.body as NomadVarMeta[] | undefined) ?? []).map((m) => ({ Namespace: m.Namespace, Path: m.Path, CreateIndex: m.CreateIndex, ModifyIndex: m.ModifyIndex, CreateTime: m.CreateTime, ModifyTime: m.ModifyTime })) };
        }
        default: {
          const _: never = d;
          return _;
        }
      }
    },
  };
}

function encodeKey(k: string): string {
  return k
    .replace(/^\/+/, "")
    .split("/")
    .map((p) => encodeURIComponent(p))
    .join("/");
}
