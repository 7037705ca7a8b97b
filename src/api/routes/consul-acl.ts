import { createHash, randomUUID } from "node:crypto";
import { loadAclPolicyParser, parseAclPolicy } from "../../jobspec/index.js";
import type { StateStore, TableName, Txn } from "../../state/index.js";
import { ANONYMOUS_ACCESSOR, ERROR_STATUS, ErrorCode, errorMessage, RucheError, NS, parseDuration, type AclPolicy, type AclToken } from "../../structs/index.js";
import { requestToken } from "../acl-token.js";
import { blockingParams, type Reply, type Request, type Router } from "../http.js";
import { bootstrapAcl, refusingRoutes, TOKEN_MAX_TTL_MS, TOKEN_MIN_TTL_MS } from "./acl.js";
import { consulHeaders } from "./consul.js";

/** Consul's builtin policy of a management token, and its anonymous token's accessor (`structs.ACLPolicyGlobalManagementID`, `ACLTokenAnonymousID`). */
export const GLOBAL_MANAGEMENT = { ID: "00000000-0000-0000-0000-000000000001", Name: "global-management" } as const;
export const CONSUL_ANONYMOUS_ACCESSOR = "00000000-0000-0000-0000-000000000002";

/** Consul's answer on every ACL route when ACLs are off (`agent/acl_endpoint.go`'s `aclDisabled`: 401, plain text). */
export const CONSUL_ACL_DISABLED = "ACL support disabled";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const POLICY_NAME = /^[a-zA-Z0-9_-]{1,128}$/;

/**
 * A policy's Consul ID. Ruche's policies are keyed by name (Nomad's model): the ID is a UUID
 * made from the name, the same on every server and across restarts.
 */
export function consulPolicyId(name: string): string {
  const h = createHash("sha256").update(`ruche-acl-policy\0${name}`).digest("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

/** Consul's `Hash` of a token or policy: base64 of a digest of what it grants, as Consul's (blake2b there) changes when they do. */
function hashOf(parts: readonly unknown[]): string {
  return createHash("sha256").update(JSON.stringify(parts)).digest("base64");
}

/** The accessor Consul names a token by: Ruche's anonymous token is Consul's `00000000-…-0002`. */
const consulAccessor = (accessor: string): string => (accessor === ANONYMOUS_ACCESSOR ? CONSUL_ANONYMOUS_ACCESSOR : accessor);
const stateAccessor = (accessor: string): string => (accessor === CONSUL_ANONYMOUS_ACCESSOR ? ANONYMOUS_ACCESSOR : accessor);

/** A token as Consul's API shows it (`structs.ACLToken`): a management token holds the builtin global-management policy; Nomad's Name is Consul's Description. */
export function consulTokenAnswer(t: AclToken): Record<string, unknown> {
  const links = t.Type === "management" ? [GLOBAL_MANAGEMENT] : t.Policies.map((name) => ({ ID: consulPolicyId(name), Name: name }));
  return {
    AccessorID: consulAccessor(t.AccessorID),
    SecretID: t.SecretID,
    Description: t.Name,
    ...(links.length === 0 ? {} : { Policies: links }),
    Local: !t.Global,
    ...(t.ExpirationTime === undefined ? {} : { ExpirationTime: t.ExpirationTime }),
    CreateTime: t.CreateTime,
    Hash: hashOf([t.Name, t.Type, t.Policies, t.Global, t.ExpirationTime ?? ""]),
    CreateIndex: t.CreateIndex,
    ModifyIndex: t.ModifyIndex,
  };
}

/** A policy as Consul's API shows it (`structs.ACLPolicy`). */
export function consulPolicyAnswer(p: AclPolicy): Record<string, unknown> {
  return { ID: consulPolicyId(p.Name), Name: p.Name, Description: p.Description, Rules: p.Rules, Hash: hashOf([p.Name, p.Description, p.Rules]), CreateIndex: p.CreateIndex, ModifyIndex: p.ModifyIndex };
}

/** The builtin global-management policy, as Consul lists it: it cannot be changed or deleted; a management token holds it. */
const BUILTIN: AclPolicy = { Name: GLOBAL_MANAGEMENT.Name, Description: "Builtin Policy that grants unlimited access", Rules: "", CreateIndex: 1, ModifyIndex: 1 };

export interface ConsulAclOptions {
  /** The state holding the tokens and policies Nomad's routes manage too. */
  store: StateStore;
  /** ACLs off: every route answers Consul's `401 ACL support disabled` and touches nothing. */
  enabled: boolean;
  /** Nomad's `acl-bootstrap-reset` file in the server's data dir, read by this bootstrap as by Nomad's. */
  bootstrapResetFile?: string;
}

/** Consul's plain-text answers (its `HTTPError`s). */
function text(status: number, body: string): Reply {
  return { status, body, headers: { "content-type": "text/plain; charset=utf-8" } };
}

/** A refusal (a 4xx `RucheError`) as Consul answers it: its status, its words in plain text. Anything else is thrown on. */
function refusal(err: unknown): Reply {
  if (err instanceof RucheError && ERROR_STATUS[err.code] < 500) return text(ERROR_STATUS[err.code], err.message);
  throw err;
}

/**
 * Consul's ACL API (1.4+) on the Consul-compatible listener: the bootstrap, tokens and
 * policies in Consul's JSON, over the same tokens and policies Nomad's `/v1/acl/*` routes
 * manage on the main API (a token's Name is its Description, a client token's policies its
 * policy links by name and ID, a management token holds `global-management`). Who may call
 * which route is the door's (`acl-routes-table.ts`: bootstrap open, `token/self` any token,
 * the rest a management token, where Consul asks for `acl:read`/`acl:write`).
 */
export function consulAclRoutes(router: Router, o: ConsulAclOptions): void {
  const { store } = o;
  // Consul 1.11 removed the legacy ACL API (which python-consul 0.7.1's `acl` calls): 410 Gone, in its words, ACLs on or off.
  const legacy = (req: Request): Reply => text(410, `Endpoint ${req.path} for the legacy ACL system was removed in Consul 1.11.`);
  for (const path of ["/v1/acl/create", "/v1/acl/update", "/v1/acl/destroy/:id", "/v1/acl/clone/:id"]) router.put(path, legacy);
  for (const path of ["/v1/acl/info/:id", "/v1/acl/list"]) router.get(path, legacy);
  const r = o.enabled ? router : refusingRoutes(router, () => text(401, CONSUL_ACL_DISABLED));
  /** A read, as a Consul blocking query on the ACL tables. */
  const read = async (req: Request, tables: TableName[], body: () => unknown): Promise<Reply> => {
    const b = blockingParams(req.query);
    const index = b === null ? Math.max(1, ...tables.map((t) => store.tableIndex(t))) : Math.max(1, await store.waitFor(tables, b.index, b.waitMs, req.signal));
    try {
      return { body: body(), index, headers: consulHeaders(index) };
    } catch (err) {
      return refusal(err);
    }
  };
  /** A write: the answer, or Consul's plain-text refusal. */
  const write = async (answer: () => Promise<unknown>): Promise<Reply> => {
    try {
      const body = await answer();
      return { body, index: store.index, headers: consulHeaders(store.index) };
    } catch (err) {
      return refusal(err);
    }
  };
  const mustToken = (accessor: string): AclToken => {
    const t = store.aclToken(accessor);
    if (t === undefined) throw new RucheError(ErrorCode.Internal, `the token ${consulAccessor(accessor)} just written is not in the state`);
    return t;
  };

  r.put("/v1/acl/bootstrap", (req) =>
    write(async () => {
      const body = objectBody(req.body ?? {}, "Request decoding failed");
      const given = body.BootstrapSecret;
      if (given !== undefined && given !== "" && (typeof given !== "string" || !UUID.test(given))) throw new RucheError(ErrorCode.BadRequest, "Request decoding failed: BootstrapSecret must be a UUID");
      const done = await bootstrapAcl(store, typeof given === "string" && given !== "" ? given : randomUUID(), "Bootstrap Token (Global Management)", o.bootstrapResetFile);
      if (!done.ok) throw new RucheError(ErrorCode.Forbidden, `Permission denied: ACL bootstrap no longer allowed (reset index: ${done.resetIndex})`);
      return consulTokenAnswer(mustToken(done.accessor));
    }),
  );

  r.get("/v1/acl/token/self", (req) =>
    read(req, ["aclTokens"], () => {
      const secret = requestToken(req) ?? (req.query.get("token") || undefined);
      const t = secret === undefined ? store.aclToken(ANONYMOUS_ACCESSOR) : store.aclTokenBySecret(secret);
      if (t === undefined) throw new RucheError(ErrorCode.Forbidden, "ACL not found");
      return consulTokenAnswer(t);
    }),
  );
  r.get("/v1/acl/tokens", (req) =>
    read(req, ["aclTokens"], () => {
      const policy = req.query.get("policy");
      const name = policy === null || policy === "" ? undefined : policy === GLOBAL_MANAGEMENT.ID ? GLOBAL_MANAGEMENT.Name : store.aclPolicies().find((p) => consulPolicyId(p.Name) === policy)?.Name;
      return store
        .aclTokens()
        .filter((t) => policy === null || policy === "" || (name === GLOBAL_MANAGEMENT.Name ? t.Type === "management" : name !== undefined && t.Policies.includes(name)))
        .sort((a, b) => a.CreateIndex - b.CreateIndex || (a.AccessorID < b.AccessorID ? -1 : 1))
        .map(consulTokenAnswer);
    }),
  );
  r.get("/v1/acl/token/:id", (req) =>
    read(req, ["aclTokens"], () => {
      const t = store.aclToken(stateAccessor(req.params.id ?? ""));
      if (t === undefined) throw new RucheError(ErrorCode.NotFound, "Requested token does not exist: ACL not found");
      return consulTokenAnswer(t);
    }),
  );
  r.put("/v1/acl/token", (req) =>
    write(async () => {
      const body = objectBody(req.body, "Token decoding failed");
      const accessor = optionalUuid(body, "AccessorID") ?? randomUUID();
      const secret = optionalUuid(body, "SecretID") ?? randomUUID();
      if (accessor === CONSUL_ANONYMOUS_ACCESSOR || secret === ANONYMOUS_ACCESSOR) throw new RucheError(ErrorCode.BadRequest, "Invalid Token: AccessorID is the anonymous token's");
      const created = Date.now();
      const spec = tokenSpec(body);
      const expiration = expirationOf(body, created);
      await store.write((tx) => {
        if (tx.get("aclTokens", accessor) !== undefined) throw new RucheError(ErrorCode.BadRequest, "Invalid Token: AccessorID already in use");
        if (tx.list("aclTokens", "").some((t) => t.SecretID === secret)) throw new RucheError(ErrorCode.BadRequest, "Invalid Token: SecretID already in use");
        const policies = policyNames(tx, spec.links);
        tx.put("aclTokens", {
          AccessorID: accessor,
          SecretID: secret,
          Name: spec.description,
          Type: policies === "management" ? "management" : "client",
          Policies: policies === "management" ? [] : policies,
          Global: !spec.local,
          CreateTime: new Date(created).toISOString(),
          ...(expiration === undefined ? {} : { ExpirationTime: expiration }),
          CreateIndex: 0,
          ModifyIndex: 0,
        });
      });
      return consulTokenAnswer(mustToken(accessor));
    }),
  );
  r.put("/v1/acl/token/:id", (req) =>
    write(async () => {
      const id = req.params.id ?? "";
      const body = objectBody(req.body, "Token decoding failed");
      if (body.AccessorID !== undefined && body.AccessorID !== "" && body.AccessorID !== id) throw new RucheError(ErrorCode.BadRequest, "Token Accessor ID in URL and payload do not match");
      const accessor = stateAccessor(id);
      const spec = tokenSpec(body);
      await store.write((tx) => {
        const old = tx.get("aclTokens", accessor);
        if (old === undefined) throw new RucheError(ErrorCode.NotFound, "Cannot find token to update");
        if (body.SecretID !== undefined && body.SecretID !== "" && body.SecretID !== old.SecretID) throw new RucheError(ErrorCode.BadRequest, "Changing a tokens SecretID is not permitted");
        if (body.Local !== undefined && spec.local === old.Global) throw new RucheError(ErrorCode.BadRequest, `Cannot toggle local mode of ${id}`);
        const expiry = body.ExpirationTime;
        if ((body.ExpirationTTL !== undefined && body.ExpirationTTL !== "" && body.ExpirationTTL !== 0) || (expiry !== undefined && expiry !== null && expiry !== "" && expiry !== old.ExpirationTime)) {
          throw new RucheError(ErrorCode.BadRequest, "Cannot change expiration time");
        }
        const policies = policyNames(tx, spec.links);
        if (accessor === ANONYMOUS_ACCESSOR && policies === "management") throw new RucheError(ErrorCode.BadRequest, "the anonymous token cannot hold the global-management policy");
        // Consul's update replaces what the token grants: the links sent are its policies now.
        tx.put("aclTokens", { ...old, Name: spec.description, Type: policies === "management" ? "management" : "client", Policies: policies === "management" ? [] : policies });
      });
      return consulTokenAnswer(mustToken(accessor));
    }),
  );
  r.delete("/v1/acl/token/:id", (req) =>
    write(async () => {
      const id = req.params.id ?? "";
      const accessor = stateAccessor(id);
      if (accessor === ANONYMOUS_ACCESSOR) throw new RucheError(ErrorCode.BadRequest, "Delete operation not permitted on the anonymous token");
      const secret = requestToken(req) ?? (req.query.get("token") || undefined);
      await store.write((tx) => {
        const t = tx.get("aclTokens", accessor);
        if (t === undefined) throw new RucheError(ErrorCode.NotFound, "Cannot find token to delete");
        if (secret !== undefined && t.SecretID === secret) throw new RucheError(ErrorCode.Forbidden, "Deletion of the request's authorization token is not permitted");
        tx.delete("aclTokens", accessor);
      });
      return true;
    }),
  );

  // A copy of a token under a new accessor and secret, with its policies, locality and expiry; the body's Description, else the original's.
  r.put("/v1/acl/token/:id/clone", (req) =>
    write(async () => {
      const id = req.params.id ?? "";
      const body = req.body === undefined || req.body === null ? {} : objectBody(req.body, "Token decoding failed");
      const description = optionalString(body, "Description", "Token decoding failed");
      const accessor = randomUUID();
      await store.write((tx) => {
        const old = tx.get("aclTokens", stateAccessor(id));
        if (old === undefined) throw new RucheError(ErrorCode.NotFound, "Cannot find token to clone");
        if (old.AccessorID === ANONYMOUS_ACCESSOR) throw new RucheError(ErrorCode.BadRequest, "Cannot clone the anonymous token");
        tx.put("aclTokens", { ...old, AccessorID: accessor, SecretID: randomUUID(), Name: description === undefined || description === "" ? old.Name : description, CreateTime: new Date().toISOString(), CreateIndex: 0, ModifyIndex: 0 });
      });
      return consulTokenAnswer(mustToken(accessor));
    }),
  );
  // Ruche's tokens link policies only: there are no roles to list, and making one is refused, named.
  r.get("/v1/acl/roles", (req) => read(req, ["aclTokens"], () => []));
  r.get("/v1/acl/role/:id", () => text(404, "Cannot find role: Ruche's ACLs have no roles (tokens link policies)"));
  r.get("/v1/acl/role/name/:name", () => text(404, "Cannot find role: Ruche's ACLs have no roles (tokens link policies)"));
  r.put("/v1/acl/role", () => text(400, "Invalid Role: roles are not offered by Ruche: link policies to tokens instead"));

  r.get("/v1/acl/policies", (req) =>
    read(req, ["aclPolicies"], () =>
      [BUILTIN, ...store.aclPolicies().sort((a, b) => (a.Name < b.Name ? -1 : a.Name > b.Name ? 1 : 0))].map((p) => {
        const { Rules: _rules, ...stub } = p === BUILTIN ? { ...consulPolicyAnswer(p), ID: GLOBAL_MANAGEMENT.ID } : consulPolicyAnswer(p);
        return stub;
      }),
    ),
  );
  const policyRead = (req: Request, find: () => AclPolicy | undefined): Promise<Reply> =>
    read(req, ["aclPolicies"], () => {
      const p = find();
      if (p === undefined) throw new RucheError(ErrorCode.NotFound, "Requested policy does not exist: ACL not found");
      return p === BUILTIN ? { ...consulPolicyAnswer(p), ID: GLOBAL_MANAGEMENT.ID } : consulPolicyAnswer(p);
    });
  r.get("/v1/acl/policy/name/:name", (req) => policyRead(req, () => (req.params.name === GLOBAL_MANAGEMENT.Name ? BUILTIN : store.aclPolicy(req.params.name ?? ""))));
  r.get("/v1/acl/policy/:id", (req) => policyRead(req, () => byPolicyId(store.aclPolicies(), req.params.id ?? "")));
  const policyWrite = async (body: Record<string, unknown>, id: string | undefined): Promise<unknown> => {
    const name = optionalString(body, "Name", "Policy decoding failed") ?? "";
    if (!POLICY_NAME.test(name)) throw new RucheError(ErrorCode.BadRequest, `Invalid Policy: invalid Name ${JSON.stringify(name)}`);
    if (name === GLOBAL_MANAGEMENT.Name || id === GLOBAL_MANAGEMENT.ID) throw new RucheError(ErrorCode.BadRequest, "Changing the Rules for the builtin global-management policy is not permitted");
    const rules = optionalString(body, "Rules", "Policy decoding failed") ?? "";
    const description = optionalString(body, "Description", "Policy decoding failed") ?? "";
    const dcs = body.Datacenters;
    if (dcs !== undefined && dcs !== null && !(Array.isArray(dcs) && dcs.length === 0)) throw new RucheError(ErrorCode.BadRequest, "Invalid Policy: Datacenters: a policy limited to some datacenters is not offered by Ruche (it has one)");
    await loadAclPolicyParser();
    try {
      parseAclPolicy(rules, `policy ${name}`);
    } catch (err) {
      throw new RucheError(ErrorCode.BadRequest, `Invalid Policy: failed to parse rules: ${errorMessage(err)}`);
    }
    await store.write((tx) => {
      if (id === undefined) {
        if (tx.get("aclPolicies", name) !== undefined) throw new RucheError(ErrorCode.BadRequest, `Invalid Policy: A Policy with Name "${name}" already exists`);
      } else {
        const old = tx.list("aclPolicies", "").find((p) => consulPolicyId(p.Name) === id);
        if (old === undefined) throw new RucheError(ErrorCode.BadRequest, `Cannot find policy ${id}`);
        // The ID is made from the name: a policy keeps its name (Nomad's model), as Consul's keeps its ID.
        if (old.Name !== name) throw new RucheError(ErrorCode.BadRequest, `Invalid Policy: renaming a policy ("${old.Name}" to "${name}") is not offered by Ruche; create a new one`);
      }
      tx.put("aclPolicies", { Name: name, Description: description, Rules: rules, CreateIndex: 0, ModifyIndex: 0 });
    });
    const p = store.aclPolicy(name);
    if (p === undefined) throw new RucheError(ErrorCode.Internal, `the policy "${name}" just written is not in the state`);
    return consulPolicyAnswer(p);
  };
  r.put("/v1/acl/policy", (req) =>
    write(() => {
      const body = objectBody(req.body, "Policy decoding failed");
      if (body.ID !== undefined && body.ID !== "") throw new RucheError(ErrorCode.BadRequest, "Cannot specify the ID when creating a new policy");
      return policyWrite(body, undefined);
    }),
  );
  r.put("/v1/acl/policy/:id", (req) =>
    write(() => {
      const id = req.params.id ?? "";
      const body = objectBody(req.body, "Policy decoding failed");
      if (body.ID !== undefined && body.ID !== "" && body.ID !== id) throw new RucheError(ErrorCode.BadRequest, "Policy ID in URL and payload do not match");
      return policyWrite(body, id);
    }),
  );
  r.delete("/v1/acl/policy/:id", (req) =>
    write(async () => {
      const id = req.params.id ?? "";
      if (id === GLOBAL_MANAGEMENT.ID) throw new RucheError(ErrorCode.BadRequest, "Delete operation not permitted on the builtin global-management policy");
      await store.write((tx) => {
        const p = tx.list("aclPolicies", "").find((x) => consulPolicyId(x.Name) === id);
        if (p === undefined) throw new RucheError(ErrorCode.NotFound, "Cannot find policy to delete");
        tx.delete("aclPolicies", p.Name);
      });
      return true;
    }),
  );
}

function byPolicyId(policies: readonly AclPolicy[], id: string): AclPolicy | undefined {
  if (id === GLOBAL_MANAGEMENT.ID) return BUILTIN;
  return policies.find((p) => consulPolicyId(p.Name) === id);
}

/** What a token body asks for: its description, policy links and locality. What Ruche's tokens cannot hold is refused, named. */
function tokenSpec(body: Record<string, unknown>): { description: string; links: { ID?: string; Name?: string }[]; local: boolean } {
  const description = optionalString(body, "Description", "Token decoding failed") ?? "";
  for (const k of ["Roles", "ServiceIdentities", "NodeIdentities", "TemplatedPolicies"]) {
    const v = body[k];
    if (v !== undefined && v !== null && !(Array.isArray(v) && v.length === 0)) throw new RucheError(ErrorCode.BadRequest, `Invalid Token: ${k} are not offered by Ruche: link policies instead`);
  }
  const local = body.Local ?? false;
  if (typeof local !== "boolean") throw new RucheError(ErrorCode.BadRequest, "Token decoding failed: Local must be true or false");
  const links = body.Policies ?? [];
  if (!Array.isArray(links)) throw new RucheError(ErrorCode.BadRequest, "Token decoding failed: Policies must be a list of policy links ({ID} or {Name})");
  const out = links.map((l: unknown, i) => {
    const link = (typeof l === "object" && l !== null ? l : {}) as { ID?: unknown; Name?: unknown };
    const id = typeof link.ID === "string" && link.ID !== "" ? link.ID : undefined;
    const name = typeof link.Name === "string" && link.Name !== "" ? link.Name : undefined;
    if (id === undefined && name === undefined) throw new RucheError(ErrorCode.BadRequest, `Token decoding failed: Policies[${i}] must have an ID or a Name`);
    return { ...(id === undefined ? {} : { ID: id }), ...(name === undefined ? {} : { Name: name }) };
  });
  return { description, links: out, local };
}

/** The links' policy names in the state; "management" for the builtin global-management policy (alone: a management token takes no other). */
function policyNames(tx: Txn, links: readonly { ID?: string; Name?: string }[]): string[] | "management" {
  const names: string[] = [];
  let management = false;
  for (const l of links) {
    if (l.ID === GLOBAL_MANAGEMENT.ID || (l.ID === undefined && l.Name === GLOBAL_MANAGEMENT.Name)) {
      management = true;
      continue;
    }
    const p = l.ID !== undefined ? tx.list("aclPolicies", "").find((x) => consulPolicyId(x.Name) === l.ID) : tx.get("aclPolicies", l.Name ?? "");
    if (p === undefined) throw new RucheError(ErrorCode.BadRequest, l.ID !== undefined ? `cannot find policy ${l.ID}` : `cannot find policy ${JSON.stringify(l.Name)}`);
    if (!names.includes(p.Name)) names.push(p.Name);
  }
  if (management && names.length > 0) throw new RucheError(ErrorCode.BadRequest, "Invalid Token: a token with the global-management policy may do everything: Ruche takes no other policy beside it");
  return management ? "management" : names;
}

/** `ExpirationTTL` (a duration, "1h", or Go's nanoseconds) or `ExpirationTime` (RFC 3339), within Consul's default bounds (1m to 24h). */
function expirationOf(body: Record<string, unknown>, createdMs: number): string | undefined {
  const ttl = body.ExpirationTTL;
  const time = body.ExpirationTime;
  const hasTtl = ttl !== undefined && ttl !== null && ttl !== "" && ttl !== 0;
  const hasTime = time !== undefined && time !== null && time !== "";
  if (hasTtl && hasTime) throw new RucheError(ErrorCode.BadRequest, "Invalid Token: Expiration TTL and Expiration Time cannot both be set");
  let at: number;
  if (hasTtl) {
    const ns = typeof ttl === "number" ? ttl : typeof ttl === "string" ? parseDuration(ttl) : undefined;
    if (ns === undefined || !Number.isFinite(ns)) throw new RucheError(ErrorCode.BadRequest, `Token decoding failed: ExpirationTTL must be a duration such as "1h", got ${JSON.stringify(ttl)}`);
    at = createdMs + ns / NS.millisecond;
  } else if (hasTime) {
    at = typeof time === "string" ? Date.parse(time) : NaN;
    if (Number.isNaN(at)) throw new RucheError(ErrorCode.BadRequest, `Token decoding failed: ExpirationTime must be an RFC 3339 time, got ${JSON.stringify(time)}`);
  } else return undefined;
  if (at - createdMs < TOKEN_MIN_TTL_MS) throw new RucheError(ErrorCode.BadRequest, "Invalid Token: ExpirationTime is below the minimum of 1m0s");
  if (at - createdMs > TOKEN_MAX_TTL_MS) throw new RucheError(ErrorCode.BadRequest, "Invalid Token: ExpirationTime is above the maximum of 24h0m0s");
  return new Date(at).toISOString();
}

function objectBody(body: unknown, what: string): Record<string, unknown> {
  if (typeof body !== "object" || body === null || Array.isArray(body)) throw new RucheError(ErrorCode.BadRequest, `${what}: the body must be a JSON object`);
  return body as Record<string, unknown>;
}

function optionalString(body: Record<string, unknown>, key: string, what: string): string | undefined {
  const v = body[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "string") throw new RucheError(ErrorCode.BadRequest, `${what}: ${key} must be a string`);
  return v;
}

function optionalUuid(body: Record<string, unknown>, key: string): string | undefined {
  const v = optionalString(body, key, "Token decoding failed");
  if (v === undefined || v === "") return undefined;
  if (!UUID.test(v)) throw new RucheError(ErrorCode.BadRequest, `Invalid Token: ${key} must be a UUID (8-4-4-4-12 hexadecimal digits)`);
  return v;
}
