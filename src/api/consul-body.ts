import { ErrorCode, RucheError } from "../structs/index.js";

/**
 * How one of Consul's request structs is read from JSON. Consul decodes bodies with Go's
 * encoding/json, which matches a key to a field case-insensitively (`name`, `NAME` and
 * `Name` all fill `Name`; of two keys for one field the later wins), ignores keys no field
 * takes, and some structs also take snake_case spellings through `UnmarshalJSON` aliases or
 * `lib.TranslateKeys` (`enable_tag_override`, `deregister_critical_service_after`), where
 * the field's own name wins over an alias.
 */
export interface ConsulShape {
  /** The fields, spelled as Consul's structs spell them. */
  readonly fields: readonly string[];
  /** Other spellings, lower-case, each to its field: `{ enable_tag_override: "EnableTagOverride" }`. */
  readonly aliases?: Readonly<Record<string, string>>;
  /** Fields holding structs of their own: an object, a list of objects (`list`), or a map of them (`map`). */
  readonly nested?: Readonly<Record<string, ConsulShape | { readonly list: ConsulShape } | { readonly map: ConsulShape }>>;
}

/**
 * A body's object with its keys spelled as `shape` spells them, recursively where the shape
 * says so; the values of other fields (a `Meta` map, a list of tags) are left as sent, keys
 * and all. Keys no field takes are kept as sent (the reader ignores them, as Consul does).
 * Returns undefined for null or undefined (no body); anything else that is not an object
 * is RUCHE_BAD_REQUEST naming `path`, in Consul's words ("Request decode failed").
 */
export function consulBody(value: unknown, shape: ConsulShape, path = ""): Record<string, unknown> | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "object" || Array.isArray(value)) {
    throw new RucheError(ErrorCode.BadRequest, `Request decode failed: ${path === "" ? "the body" : path} must be a JSON object`, { path: path === "" ? undefined : path });
  }
  const folded = foldedFields(shape);
  const out: Record<string, unknown> = {};
  /** Fields set under their own name (any case): an alias does not override them. */
  const byName = new Set<string>();
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    const lower = k.toLowerCase();
    const field = folded.get(lower);
    if (field !== undefined) {
      out[field] = v;
      byName.add(field);
      continue;
    }
    const alias = shape.aliases?.[lower];
    if (alias !== undefined) {
      if (!byName.has(alias)) out[alias] = v;
      continue;
    }
    out[k] = v;
  }
  for (const [field, inner] of Object.entries(shape.nested ?? {})) {
    const v = out[field];
    if (v === undefined || v === null) continue;
    const at = path === "" ? field : `${path}.${field}`;
    if ("list" in inner) {
      if (!Array.isArray(v)) throw new RucheError(ErrorCode.BadRequest, `Request decode failed: ${at} must be a list`, { path: at });
      out[field] = v.map((x, i) => consulBody(x, inner.list, `${at}[${i}]`) ?? null);
    } else if ("map" in inner) {
      if (typeof v !== "object" || Array.isArray(v)) throw new RucheError(ErrorCode.BadRequest, `Request decode failed: ${at} must be an object`, { path: at });
      out[field] = Object.fromEntries(Object.entries(v as Record<string, unknown>).map(([k, x]) => [k, consulBody(x, inner.map, `${at}.${k}`) ?? null]));
    } else {
      out[field] = consulBody(v, inner, at);
    }
  }
  return out;
}

/** A list of shaped objects (a `/v1/txn` body): each item read with `shape`. */
export function consulBodyList(value: unknown, shape: ConsulShape, path = ""): (Record<string, unknown> | undefined)[] {
  if (!Array.isArray(value)) throw new RucheError(ErrorCode.BadRequest, `Request decode failed: ${path === "" ? "the body" : path} must be a JSON list`, { path: path === "" ? undefined : path });
  return value.map((x, i) => consulBody(x, shape, `${path}[${i}]`));
}

const foldCache = new WeakMap<ConsulShape, Map<string, string>>();
function foldedFields(shape: ConsulShape): Map<string, string> {
  let m = foldCache.get(shape);
  if (m === undefined) {
    m = new Map(shape.fields.map((f) => [f.toLowerCase(), f]));
    foldCache.set(shape, m);
  }
  return m;
}

// --- Consul's request structs ------------------------------------------------------------

/** `structs.CheckType` / `api.AgentServiceCheck`, with CheckType's snake_case aliases. */
export const CHECK_TYPE: ConsulShape = {
  fields: [
    "CheckID", "ID", "Name", "Notes", "Status", "ServiceID",
    "Args", "ScriptArgs", "HTTP", "Header", "Method", "Body", "DisableRedirects", "TCP", "TCPUseTLS", "UDP", "Interval", "Timeout", "TTL",
    "H2PING", "H2PingUseTLS", "GRPC", "GRPCUseTLS", "OSService", "DockerContainerID", "Shell", "AliasNode", "AliasService",
    "TLSServerName", "TLSSkipVerify", "OutputMaxSize", "SuccessBeforePassing", "FailuresBeforeWarning", "FailuresBeforeCritical",
    "DeregisterCriticalServiceAfter", "Namespace", "Partition",
  ],
  aliases: {
    check_id: "CheckID",
    service_id: "ServiceID",
    script_args: "Args",
    docker_container_id: "DockerContainerID",
    tls_server_name: "TLSServerName",
    tls_skip_verify: "TLSSkipVerify",
    grpc_use_tls: "GRPCUseTLS",
    tcp_use_tls: "TCPUseTLS",
    h2ping_use_tls: "H2PingUseTLS",
    alias_node: "AliasNode",
    alias_service: "AliasService",
    output_max_size: "OutputMaxSize",
    success_before_passing: "SuccessBeforePassing",
    failures_before_warning: "FailuresBeforeWarning",
    failures_before_critical: "FailuresBeforeCritical",
    deregister_critical_service_after: "DeregisterCriticalServiceAfter",
    disable_redirects: "DisableRedirects",
    os_service: "OSService",
  },
};

/** `structs.ServiceDefinition` / `api.AgentServiceRegistration` (`PUT /v1/agent/service/register`), with the keys AgentRegisterService translates. */
export const SERVICE_DEFINITION: ConsulShape = {
  fields: ["Kind", "ID", "Name", "Tags", "Address", "TaggedAddresses", "Meta", "Port", "SocketPath", "Weights", "EnableTagOverride", "Check", "Checks", "Proxy", "Connect", "Namespace", "Partition", "Locality"],
  aliases: { enable_tag_override: "EnableTagOverride", tagged_addresses: "TaggedAddresses" },
  nested: { Check: CHECK_TYPE, Checks: { list: CHECK_TYPE }, Weights: { fields: ["Passing", "Warning"] } },
};

/** `structs.CheckDefinition` (`PUT /v1/agent/check/register`): a check type with its ID, name, notes and service. */
export const CHECK_DEFINITION: ConsulShape = { ...CHECK_TYPE, fields: [...CHECK_TYPE.fields, "Token"] };

/** `structs.NodeService` (`RegisterRequest.Service`): a registration whose name is spelled `Service`. */
const NODE_SERVICE: ConsulShape = { ...SERVICE_DEFINITION, fields: [...SERVICE_DEFINITION.fields, "Service"] };

/** The name of a `NodeService` read with its shape: `Service`, else an agent registration's `Name`. */
export function nodeServiceName(s: Record<string, unknown>): unknown {
  return s.Service ?? s.Name;
}

/** `structs.RegisterRequest` (`PUT /v1/catalog/register`). */
export const REGISTER_REQUEST: ConsulShape = {
  fields: ["ID", "Node", "Address", "Datacenter", "TaggedAddresses", "NodeMeta", "Service", "Check", "Checks", "SkipNodeUpdate", "Token", "Namespace", "Partition", "Locality"],
  nested: { Service: NODE_SERVICE, Check: CHECK_TYPE, Checks: { list: CHECK_TYPE } },
};

/** `structs.DeregisterRequest` (`PUT /v1/catalog/deregister`). */
export const DEREGISTER_REQUEST: ConsulShape = { fields: ["Node", "ServiceID", "CheckID", "Datacenter", "Namespace", "Partition"] };

/** `structs.CoordinateUpdateRequest` (`PUT /v1/coordinate/update`). */
export const COORDINATE_UPDATE: ConsulShape = { fields: ["Datacenter", "Node", "Segment", "Coord", "Token", "Partition"], nested: { Coord: { fields: ["Vec", "Error", "Adjustment", "Height"] } } };

/** `structs.Session` (`PUT /v1/session/create`). */
export const SESSION: ConsulShape = {
  fields: ["ID", "Name", "Node", "LockDelay", "Behavior", "TTL", "Checks", "NodeChecks", "ServiceChecks", "Namespace", "Partition"],
  nested: { ServiceChecks: { list: { fields: ["ID", "Namespace"] } } },
};

/** The body of `PUT /v1/agent/check/update/:id`. */
export const CHECK_UPDATE: ConsulShape = { fields: ["Status", "Output"] };

/** `api.KVTxnOp`, one operation of `/v1/txn`. */
export const TXN_KV_OP: ConsulShape = { fields: ["Verb", "Key", "Value", "Flags", "Index", "Session", "Namespace", "Partition"] };

/** `api.TxnOp`: one element of a `/v1/txn` body. */
export const TXN_OP: ConsulShape = { fields: ["KV", "Node", "Service", "Check"], nested: { KV: TXN_KV_OP } };
