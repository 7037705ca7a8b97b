import { ErrorCode, NamespaceCap, RucheError, type Acl, type Namespace, type NamespaceCapabilities, type NamespaceNodePoolConfiguration } from "../../structs/index.js";
import type { ApiContext } from "../context.js";
import { blocking } from "../context.js";
import type { Request, Router } from "../http.js";

/** Every capability but `deny`: a token with any of them in a namespace sees the namespace (Nomad's `AllowNamespace`). */
const ANY_CAP = Object.values(NamespaceCap).filter((c) => c !== NamespaceCap.Deny);

/** Whether a token may see namespace `name` at all. */
export function maySeeNamespace(acl: Acl, name: string): boolean {
  return acl.management || ANY_CAP.some((c) => acl.namespace(name, c));
}

type Fail = (path: string, message: string) => never;

const fail: Fail = (path, message) => {
  throw new RucheError(ErrorCode.BadRequest, `${path}: ${message}`, { path });
};

function str(v: unknown, path: string): string {
  if (v === undefined || v === null) return "";
  if (typeof v !== "string") return fail(path, "must be a string");
  return v;
}

function strList(v: unknown, path: string): string[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v) || !v.every((x): x is string => typeof x === "string")) return fail(path, "must be a list of strings");
  return v;
}

function record(v: unknown, path: string): Record<string, unknown> | null {
  if (v === undefined || v === null) return null;
  if (typeof v !== "object" || Array.isArray(v)) fail(path, "must be an object");
  return v as Record<string, unknown>;
}

/**
 * A namespace from a request body, in Nomad's `api.Namespace` shape: absent, null and empty
 * fields are their defaults, unknown fields are ignored as Nomad's decoder ignores them; Vault
 * and Consul configurations (Nomad Enterprise's) are refused.
 */
export function namespaceFromBody(body: unknown): Namespace {
  const b = record(body, "body") ?? fail("body", "must be a namespace: {\"Name\": \"prod\", \"Description\": \"...\"}");
  for (const ent of ["VaultConfiguration", "ConsulConfiguration"] as const) {
    if (b[ent] !== undefined && b[ent] !== null) fail(ent, "per-namespace Vault and Consul clusters are Nomad Enterprise features that Ruche does not have");
  }
  const meta = record(b.Meta, "Meta");
  if (meta !== null) for (const [k, v] of Object.entries(meta)) if (typeof v !== "string") fail(`Meta.${k}`, "must be a string");
  const caps = record(b.Capabilities, "Capabilities");
  const capabilities: NamespaceCapabilities | null =
    caps === null
      ? null
      : {
          EnabledTaskDrivers: strList(caps.EnabledTaskDrivers, "Capabilities.EnabledTaskDrivers"),
          DisabledTaskDrivers: strList(caps.DisabledTaskDrivers, "Capabilities.DisabledTaskDrivers"),
          EnabledNetworkModes: strList(caps.EnabledNetworkModes, "Capabilities.EnabledNetworkModes"),
          DisabledNetworkModes: strList(caps.DisabledNetworkModes, "Capabilities.DisabledNetworkModes"),
        };
  const pools = record(b.NodePoolConfiguration, "NodePoolConfiguration");
  const nodePools: NamespaceNodePoolConfiguration | null =
    pools === null
      ? null
      : {
          Default: str(pools.Default, "NodePoolConfiguration.Default"),
          Allowed: strList(pools.Allowed, "NodePoolConfiguration.Allowed"),
          Denied: strList(pools.Denied, "NodePoolConfiguration.Denied"),
        };
  return {
    Name: str(b.Name, "Name"),
    Description: str(b.Description, "Description"),
    Quota: str(b.Quota, "Quota"),
    Meta: meta === null ? null : (meta as Record<string, string>),
    Capabilities: capabilities,
    NodePoolConfiguration: nodePools,
    CreateIndex: 0,
    ModifyIndex: 0,
  };
}

/** A namespace as Nomad's `api.Namespace` has it: its Enterprise-only configurations are there, null. */
export function toWireNamespace(n: Namespace): Namespace & { VaultConfiguration: null; ConsulConfiguration: null } {
  return { ...n, VaultConfiguration: null, ConsulConfiguration: null };
}

/**
 * Nomad's namespace endpoints (`command/agent/namespace_endpoint.go`): the list (a token sees
 * the namespaces it has a capability in), one namespace, create or update (PUT and POST, with
 * or without the name in the path), delete.
 */
export function namespaceRoutes(r: Router, ctx: ApiContext): void {
  const { store, server } = ctx;

  r.get("/v1/namespaces", async (req) =>
    blocking(ctx, req, ["namespaces"], () => {
      const prefix = req.query.get("prefix") ?? "";
      return store
        .namespaces()
        .filter((n) => n.Name.startsWith(prefix) && maySeeNamespace(req.acl, n.Name))
        .map(toWireNamespace);
    }),
  );
  r.get("/v1/namespace/:name", async (req) =>
    blocking(ctx, req, ["namespaces"], () => {
      if (!maySeeNamespace(req.acl, req.params.name ?? "")) throw new RucheError(ErrorCode.Forbidden, "Permission denied");
      const n = store.namespace(req.params.name ?? "");
      if (n === undefined) throw new RucheError(ErrorCode.NotFound, "Namespace not found");
      return toWireNamespace(n);
    }),
  );

  const apply = async (req: Request) => {
    const ns = namespaceFromBody(req.body);
    const name = req.params.name;
    if (name !== undefined && name !== "" && ns.Name !== name) throw new RucheError(ErrorCode.BadRequest, "Namespace name does not match request path", { path: "Name" });
    const res = await server.upsertNamespace(ns);
    return { body: null, index: res.Index };
  };
  r.put("/v1/namespace", apply);
  r.put("/v1/namespace/:name", apply);
  r.delete("/v1/namespace/:name", async (req) => {
    const res = await server.deleteNamespace(req.params.name ?? "");
    return { body: null, index: res.Index };
  });
}
