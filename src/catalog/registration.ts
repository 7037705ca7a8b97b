import { parseDuration, type HealthStatus, type Nanos, type RegisteredCheck, type RegisteredService, type ServiceDetails, type TaggedServiceAddress } from "../structs/index.js";

export type { RegisteredCheck, RegisteredService };

export interface RegisterOptions {
  nodeId: string;
  now: number;
  /** Script checks run code the caller chose: refused unless the agent allows them. */
  allowScriptChecks: boolean;
  /** Where the registration comes from, for the refusal to name the setting that allows it: the agent's config dir, or the API (default). */
  source?: "local" | "api";
}

/**
 * Reads a Consul service registration (`PUT /v1/agent/service/register`, or a definition
 * file's `service` object, whose keys may be lower case) into a service, or the list of
 * what is wrong with it, each naming the field.
 */
export function parseRegistration(body: unknown, o: RegisterOptions): { ok: true; service: RegisteredService } | { ok: false; errors: string[] } {
  const errors: string[] = [];
  const b = lowerKeys(body);
  if (b === null) return { ok: false, errors: ["the body must be a JSON object with Name"] };
  const name = b.name;
  if (typeof name !== "string" || name.trim() === "") errors.push("Name: missing service name");
  const id = b.id === undefined ? name : b.id;
  if (typeof id !== "string" || id === "") errors.push("ID: must be a string");
  const tags = b.tags ?? [];
  if (!Array.isArray(tags) || !tags.every((t) => typeof t === "string")) errors.push("Tags: must be a list of strings");
  const address = b.address ?? "";
  if (typeof address !== "string") errors.push("Address: must be a string");
  const port = b.port ?? 0;
  if (typeof port !== "number" || !Number.isInteger(port) || port < 0 || port > 65535) errors.push("Port: must be a port number");
  const meta = b.meta ?? {};
  if (typeof meta !== "object" || Array.isArray(meta) || !Object.values(meta).every((v) => typeof v === "string")) errors.push("Meta: must map strings to strings");
  const details = parseDetails(b, errors);
  const rawChecks = [...(b.check === undefined || b.check === null ? [] : [b.check]), ...(Array.isArray(b.checks) ? (b.checks as unknown[]) : b.checks === undefined || b.checks === null ? [] : [null])];
  const checks: RegisteredCheck[] = [];
  rawChecks.forEach((c, i) => {
    // Consul's default check IDs: `service:ID` for a service's one check, `service:ID:1`, `service:ID:2`, ... for several.
    const r = parseCheck(c, typeof id === "string" ? id : "", rawChecks.length > 1 ? i + 1 : 0, o, `Checks[${i}]`);
    if ("error" in r) errors.push(...r.error);
    else checks.push(r.check);
  });
  if (errors.length > 0) return { ok: false, errors };
  return {
    ok: true,
    service: { ID: id as string, Name: name as string, Tags: tags as string[], Address: address as string, Port: port as number, Meta: { ...(meta as Record<string, string>) }, NodeID: o.nodeId, ...(details === undefined ? {} : { Details: details }), Checks: checks, CreateIndex: 0, ModifyIndex: 0 },
  };
}

/**
 * Consul's details of a registration: Kind, Weights (`ValidateWeights`: Passing at least 1,
 * Warning at least 0, both at most 65535; absent: 1 and 1), EnableTagOverride,
 * TaggedAddresses (`{"lan": {"Address", "Port"}}`) and Proxy, kept as registered. Undefined
 * when none is given (Consul's defaults).
 */
function parseDetails(b: Record<string, unknown>, errors: string[]): ServiceDetails | undefined {
  const d: ServiceDetails = {};
  if (b.kind !== undefined && b.kind !== "" && b.kind !== null) {
    if (typeof b.kind !== "string" || !SERVICE_KINDS.includes(b.kind)) errors.push(`Kind: must be one of ${SERVICE_KINDS.map((k) => JSON.stringify(k)).join(", ")}`);
    else d.Kind = b.kind;
  }
  if (b.weights !== undefined && b.weights !== null) {
    const w = lowerKeys(b.weights);
    const passing = w?.passing ?? 1;
    const warning = w?.warning ?? 1;
    if (w === null || typeof passing !== "number" || typeof warning !== "number" || !Number.isInteger(passing) || !Number.isInteger(warning)) errors.push("Weights: must be {Passing, Warning} whole numbers");
    else if (passing < 1) errors.push("Invalid Weights: Passing must be greater than 0");
    else if (warning < 0) errors.push("Invalid Weights: Warning must be greater or equal than 0");
    else if (passing > 65535 || warning > 65535) errors.push("Invalid Weights: value must be <= 65535");
    else d.Weights = { Passing: passing, Warning: warning };
  }
  if (b.enabletagoverride !== undefined && b.enabletagoverride !== null) {
    if (typeof b.enabletagoverride !== "boolean") errors.push("EnableTagOverride: must be true or false");
    else if (b.enabletagoverride) d.EnableTagOverride = true;
  }
  if (b.taggedaddresses !== undefined && b.taggedaddresses !== null) {
    const t = lowerKeys(b.taggedaddresses) === null ? null : (b.taggedaddresses as Record<string, unknown>);
    if (t === null) errors.push('TaggedAddresses: must map tags to {"Address", "Port"}');
    else {
      const out: Record<string, TaggedServiceAddress> = {};
      for (const [tag, raw] of Object.entries(t)) {
        const a = lowerKeys(raw);
        const addr = a?.address ?? "";
        const port = a?.port ?? 0;
        if (a === null || typeof addr !== "string" || typeof port !== "number" || !Number.isInteger(port) || port < 0 || port > 65535) errors.push(`TaggedAddresses.${tag}: must be {"Address": string, "Port": port number}`);
        else out[tag] = { Address: addr, Port: port };
      }
      if (Object.keys(out).length > 0) d.TaggedAddresses = out;
    }
  }
  if (b.proxy !== undefined && b.proxy !== null) {
    if (typeof b.proxy !== "object" || Array.isArray(b.proxy)) errors.push("Proxy: must be an object");
    else d.Proxy = b.proxy as Record<string, unknown>;
  }
  return Object.keys(d).length === 0 ? undefined : d;
}

/** Consul's service kinds (`structs.ServiceKind`). */
const SERVICE_KINDS: readonly string[] = ["connect-proxy", "mesh-gateway", "terminating-gateway", "ingress-gateway", "api-gateway"];

/** `n`: the check's number among several (its default ID's suffix), 0 when it is the only one. */
function parseCheck(raw: unknown, serviceId: string, n: number, o: RegisterOptions, at: string): { check: RegisteredCheck } | { error: string[] } {
  const c = lowerKeys(raw);
  if (c === null) return { error: [`${at}: must be an object`] };
  const errors: string[] = [];
  const dur = (k: string, field: string): Nanos => {
    const v = c[k];
    if (v === undefined || v === "") return 0;
    const d = typeof v === "string" ? parseDuration(v) : undefined;
    if (d === undefined) errors.push(`${at}.${field}: must be a duration such as "10s"`);
    return d ?? 0;
  };
  const interval = dur("interval", "Interval");
  const timeout = dur("timeout", "Timeout");
  const ttl = dur("ttl", "TTL");
  const deregister = dur("deregistercriticalserviceafter", "DeregisterCriticalServiceAfter");
  let type: RegisteredCheck["Type"];
  if (typeof c.http === "string" && c.http !== "") type = "http";
  else if (typeof c.tcp === "string" && c.tcp !== "") type = "tcp";
  else if (ttl > 0) type = "ttl";
  else if (Array.isArray(c.args) && c.args.length > 0) type = "script";
  else return { error: [...errors, `${at}: a check needs one of HTTP, TCP, TTL or Args`] };
  if (type === "script" && !o.allowScriptChecks) errors.push(`${at}: script checks are disabled on this agent (they run any command ${o.source === "local" ? "a definition file names" : "the caller sends"}); ${o.source === "local" ? "enable_local_script_checks = true (-enable-local-script-checks) or enable_script_checks" : "enable_script_checks = true (-enable-script-checks)"} in the agent config allows them`);
  if ((type === "http" || type === "tcp" || type === "script") && interval <= 0) errors.push(`${at}.Interval: required for a ${type.toUpperCase()} check`);
  const status = c.status ?? "critical";
  if (status !== "passing" && status !== "warning" && status !== "critical") errors.push(`${at}.Status: must be passing, warning or critical`);
  const count = (k: string, field: string): number => {
    const v = c[k] ?? 0;
    if (typeof v !== "number" || !Number.isInteger(v) || v < 0) {
      errors.push(`${at}.${field}: must be a whole number`);
      return 0;
    }
    return v;
  };
  const check: RegisteredCheck = {
    CheckID: typeof c.checkid === "string" && c.checkid !== "" ? c.checkid : typeof c.id === "string" && c.id !== "" ? c.id : `service:${serviceId}${n > 0 ? `:${n}` : ""}`,
    Name: typeof c.name === "string" && c.name !== "" ? c.name : `Service '${serviceId}' check`,
    Type: type,
    HTTP: typeof c.http === "string" ? c.http : "",
    Method: typeof c.method === "string" ? c.method : "GET",
    TCP: typeof c.tcp === "string" ? c.tcp : "",
    Args: Array.isArray(c.args) ? c.args.map(String) : [],
    Interval: interval,
    Timeout: timeout > 0 ? timeout : 10_000_000_000,
    TTL: ttl,
    DeregisterCriticalServiceAfter: deregister,
    SuccessBeforePassing: count("successbeforepassing", "SuccessBeforePassing"),
    FailuresBeforeCritical: count("failuresbeforecritical", "FailuresBeforeCritical"),
    Status: status as HealthStatus,
    Output: "",
    ...(typeof c.notes === "string" && c.notes !== "" ? { Notes: c.notes } : {}),
    StatusTime: o.now,
  };
  return errors.length > 0 ? { error: errors } : { check };
}

/**
 * Reads a check registered on its own (`PUT /v1/agent/check/register`, Consul's
 * `CheckDefinition`): its ID defaults to its Name, as Consul's; `ServiceID` names the
 * service it belongs to ("" for a check of the node itself).
 */
export function parseCheckRegistration(body: unknown, o: RegisterOptions): { ok: true; serviceId: string; check: RegisteredCheck } | { ok: false; errors: string[] } {
  const b = lowerKeys(body);
  if (b === null) return { ok: false, errors: ["the body must be a JSON object with Name"] };
  const name = b.name;
  if (typeof name !== "string" || name === "") return { ok: false, errors: ["Missing check name"] };
  const serviceId = b.serviceid ?? "";
  if (typeof serviceId !== "string") return { ok: false, errors: ["ServiceID: must be a string"] };
  const id = typeof b.checkid === "string" && b.checkid !== "" ? b.checkid : typeof b.id === "string" && b.id !== "" ? b.id : name;
  const r = parseCheck({ ...b, checkid: id }, serviceId, 0, o, "check");
  if ("error" in r) return { ok: false, errors: r.error };
  return { ok: true, serviceId, check: r.check };
}

/** Consul accepts `Name` and `name` alike (definition files are lower case): keys are compared lower-cased. */
function lowerKeys(v: unknown): Record<string, unknown> | null {
  if (v === null || typeof v !== "object" || Array.isArray(v)) return null;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) out[k.toLowerCase().replace(/_/g, "")] = x;
  return out;
}
