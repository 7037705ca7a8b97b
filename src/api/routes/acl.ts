import { randomUUID } from "node:crypto";
import { readFile } from "node:fs/promises";
import { loadAclPolicyParser, parseAclPolicy } from "../../jobspec/index.js";
import { ACL_BOOTSTRAP_KEY, type StateStore, type Txn } from "../../state/index.js";
import { ANONYMOUS_ACCESSOR, ErrorCode, NS, parseDuration, RucheError, type AclPolicy, type AclToken } from "../../structs/index.js";
import { requestToken } from "../acl-token.js";
import { blocking, type ApiContext } from "../context.js";
import type { Handler, Request, Router } from "../http.js";
import { NEXT_TOKEN_HEADER, pageQuery, paginate, type Tokenizer } from "../paginate.js";

/** Nomad's bounds on a token's `ExpirationTTL` (its `token_min_expiration_ttl` and `token_max_expiration_ttl` defaults). */
export const TOKEN_MIN_TTL_MS = 60_000;
export const TOKEN_MAX_TTL_MS = 24 * 3600_000;

/** Nomad's `ValidPolicyName`; its longest description. */
const POLICY_NAME = /^[a-zA-Z0-9-]{1,128}$/;
const MAX_DESCRIPTION = 256;
const MAX_TOKEN_NAME = 256;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A policy as Nomad's API shows it (`api.ACLPolicy`). */
export function policyAnswer(p: AclPolicy): Record<string, unknown> {
  return { Name: p.Name, Description: p.Description, Rules: p.Rules, JobACL: null, CreateIndex: p.CreateIndex, ModifyIndex: p.ModifyIndex };
}

/** A policy in a list (`api.ACLPolicyListStub`). */
export function policyStub(p: AclPolicy): Record<string, unknown> {
  return { Name: p.Name, Description: p.Description, CreateIndex: p.CreateIndex, ModifyIndex: p.ModifyIndex };
}

/** A token as Nomad's API shows it (`api.ACLToken`); the SecretID only when `withSecret`. Empty lists are Go's nil. */
export function tokenAnswer(t: AclToken, withSecret: boolean): Record<string, unknown> {
  return {
    AccessorID: t.AccessorID,
    ...(withSecret ? { SecretID: t.SecretID } : {}),
    Name: t.Name,
    Type: t.Type,
    Policies: t.Policies.length === 0 ? null : t.Policies,
    Roles: null,
    Global: t.Global,
    CreateTime: t.CreateTime,
    ...(t.ExpirationTime === undefined ? {} : { ExpirationTime: t.ExpirationTime }),
    CreateIndex: t.CreateIndex,
    ModifyIndex: t.ModifyIndex,
  };
}

/** A token in a list (`api.ACLTokenListStub`): never its SecretID. */
export function tokenStub(t: AclToken): Record<string, unknown> {
  return tokenAnswer(t, false);
}

export interface AclRouteOptions {
  /**
   * Nomad's `acl-bootstrap-reset` file in the server's data dir: holding the reset index a
   * refused bootstrap named, it lets the ACL system be bootstrapped again (a lost
   * management token). Read on the leader, where the bootstrap is made.
   */
  bootstrapResetFile?: string;
  /**
   * ACLs off (`acl { enabled = false }`, `-dev`): every route answers Nomad's "ACL support
   * disabled" (400) and touches nothing, rather than managing tokens no request is checked
   * against. Not given: the routes serve (an API started without an ACL setting, in tests).
   */
  enabled?: boolean;
}

/** Nomad's answer on an ACL route when ACLs are off (`nomad/acl_endpoint.go`'s `aclDisabled`). */
export const ACL_DISABLED = "ACL support disabled";

/** The routes `aclRoutes` registers: the router's, or, ACLs off, one that registers a refusal for each. */
type AclRouter = Pick<Router, "get" | "put" | "delete">;

/** A router whose every route answers `refuse` instead of its handler: the same routes, listed and matched, doing nothing. */
export function refusingRoutes(r: Router, refuse: Handler): AclRouter {
  return {
    get: (p) => r.get(p, refuse),
    put: (p) => r.put(p, refuse),
    delete: (p) => r.delete(p, refuse),
  };
}

/** Why a bootstrap was refused: it was done (reset index `done`), and the reset file names no index or another one (`specified`). */
export type BootstrapResult = { ok: true; accessor: string } | { ok: false; resetIndex: number; specified: number };

/**
 * The one-time bootstrap shared by Nomad's and Consul's routes: a management token with
 * `secret`, named `name`, and the anonymous token (no policy it names exists yet, so it may do
 * nothing). Refused once done, unless the reset file (Nomad's `acl-bootstrap-reset`) holds
 * the reset index the refusal named.
 */
export async function bootstrapAcl(store: StateStore, secret: string, name: string, resetFile: string | undefined): Promise<BootstrapResult> {
  const now = new Date().toISOString();
  const reset = await resetIndexIn(resetFile);
  const { result } = await store.write((tx): BootstrapResult => {
    const done = tx.get("aclBootstrap", ACL_BOOTSTRAP_KEY);
    if (done !== undefined && reset !== done.ModifyIndex) return { ok: false, resetIndex: done.ModifyIndex, specified: reset };
    secretUnused(tx, secret);
    const accessor = randomUUID();
    tx.put("aclTokens", { AccessorID: accessor, SecretID: secret, Name: name, Type: "management", Policies: [], Global: true, CreateTime: now, CreateIndex: 0, ModifyIndex: 0 });
    // Nomad's anonymous token names the policy "anonymous": writing that policy opens what it grants to requests without a token.
    if (tx.get("aclTokens", ANONYMOUS_ACCESSOR) === undefined) {
      tx.put("aclTokens", { AccessorID: ANONYMOUS_ACCESSOR, SecretID: ANONYMOUS_ACCESSOR, Name: "Anonymous Token", Type: "client", Policies: ["anonymous"], Global: false, CreateTime: now, CreateIndex: 0, ModifyIndex: 0 });
    }
    tx.put("aclBootstrap", { ID: ACL_BOOTSTRAP_KEY, AccessorID: accessor, CreateIndex: 0, ModifyIndex: 0 });
    return { ok: true, accessor };
  });
  return result;
}

/** The reset index the file holds: 0 when there is no file (or nothing usable in it, as Nomad reads it). */
async function resetIndexIn(file: string | undefined): Promise<number> {
  if (file === undefined) return 0;
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch {
    return 0;
  }
  const n = Number(text.trim());
  return /^\d+$/.test(text.trim()) && Number.isSafeInteger(n) ? n : 0;
}

/**
 * Nomad's ACL routes: the bootstrap, policies, tokens (and the anonymous one, whose policies
 * apply to a request without a token). Every write goes through the store, so a follower
 * forwards it to the leader like any other. Who may call which route is the door's
 * (`authorize`); a SecretID is shown only in the answer that creates it, and when a token is
 * read by a management token or by itself.
 */
export function aclRoutes(router: Router, ctx: ApiContext, opts: AclRouteOptions = {}): void {
  const { store } = ctx;
  const r: AclRouter =
    opts.enabled === false
      ? refusingRoutes(router, () => {
          throw new RucheError(ErrorCode.BadRequest, ACL_DISABLED);
        })
      : router;

  r.put("/v1/acl/bootstrap", async (req) => {
    const body = objectBody(req.body ?? {});
    const given = body.BootstrapSecret;
    if (given !== undefined && given !== "" && (typeof given !== "string" || !UUID.test(given))) {
      throw new RucheError(ErrorCode.BadRequest, "BootstrapSecret must be a UUID (8-4-4-4-12 hexadecimal digits)", { path: "BootstrapSecret" });
    }
    const secret = typeof given === "string" && given !== "" ? given : randomUUID();
    const done = await bootstrapAcl(store, secret, "Bootstrap Token", opts.bootstrapResetFile);
    if (!done.ok && done.specified === 0) throw new RucheError(ErrorCode.BadRequest, `ACL bootstrap already done (reset index: ${done.resetIndex})`);
    if (!done.ok) throw new RucheError(ErrorCode.BadRequest, `Invalid bootstrap reset index (specified ${done.specified}, reset index: ${done.resetIndex})`);
    return { body: tokenAnswer(mustToken(ctx, done.accessor), true), index: store.index };
  });

  r.get("/v1/acl/policies", async (req) =>
    blocking(ctx, req, ["aclPolicies"], () => {
      const prefix = req.query.get("prefix") ?? "";
      return store
        .aclPolicies()
        .filter((p) => p.Name.startsWith(prefix))
        .sort((a, b) => (a.Name < b.Name ? -1 : a.Name > b.Name ? 1 : 0))
        .map(policyStub);
    }),
  );
  r.get("/v1/acl/policy/:name", async (req) =>
    blocking(ctx, req, ["aclPolicies"], () => {
      const p = store.aclPolicy(req.params.name ?? "");
      if (p === undefined) throw new RucheError(ErrorCode.NotFound, `ACL policy "${req.params.name ?? ""}" not found`);
      return policyAnswer(p);
    }),
  );
  r.put("/v1/acl/policy/:name", async (req) => {
    const name = req.params.name ?? "";
    const body = objectBody(req.body);
    if (body.Name !== undefined && body.Name !== name) throw new RucheError(ErrorCode.BadRequest, `the policy's Name ${JSON.stringify(body.Name)} does not match the path's "${name}"`, { path: "Name" });
    if (!POLICY_NAME.test(name)) throw new RucheError(ErrorCode.BadRequest, `policy name "${name}" is not valid: letters, digits and "-", 1 to 128 of them`, { path: "Name" });
    const description = optionalString(body, "Description") ?? "";
    if (description.length > MAX_DESCRIPTION) throw new RucheError(ErrorCode.BadRequest, `Description is ${description.length} characters; the limit is ${MAX_DESCRIPTION}`, { path: "Description" });
    const rules = optionalString(body, "Rules");
    if (rules === undefined) throw new RucheError(ErrorCode.BadRequest, "Rules is missing: the policy's rules, HCL or JSON", { path: "Rules" });
    if (body.JobACL !== undefined && body.JobACL !== null) throw new RucheError(ErrorCode.BadRequest, "JobACL: attaching a policy to a job's workload identity is not offered yet", { path: "JobACL" });
    await loadAclPolicyParser();
    parseAclPolicy(rules, `policy ${name}`);
    await store.write((tx) => {
      tx.put("aclPolicies", { Name: name, Description: description, Rules: rules, CreateIndex: 0, ModifyIndex: 0 });
    });
    return { body: null, index: store.index };
  });
  r.delete("/v1/acl/policy/:name", async (req) => {
    const name = req.params.name ?? "";
    await store.write((tx) => {
      if (tx.get("aclPolicies", name) === undefined) throw new RucheError(ErrorCode.NotFound, `ACL policy "${name}" not found`);
      tx.delete("aclPolicies", name);
    });
    return { body: null, index: store.index };
  });

  r.get("/v1/acl/tokens", async (req) => {
    const q = pageQuery(req.query);
    let next = "";
    const answer = await blocking(ctx, req, ["aclTokens"], () => {
      const prefix = req.query.get("prefix") ?? "";
      const global = req.query.get("global") === "true";
      const tokens = store.aclTokens().filter((t) => t.AccessorID.startsWith(prefix) && (!global || t.Global));
      // Nomad's order: oldest first, or by accessor when a prefix or global filter is given.
      const tok = prefix !== "" || global ? BY_ACCESSOR : BY_CREATE;
      const { page, nextToken } = paginate([...tokens].sort((a, b) => tok.compare(a, tok.token(b))), q, tok);
      next = nextToken;
      return page.map(tokenStub);
    });
    return next === "" ? answer : { ...answer, headers: { [NEXT_TOKEN_HEADER]: next } };
  });
  r.put("/v1/acl/token", async (req) => {
    const body = objectBody(req.body);
    if (body.AccessorID !== undefined && body.AccessorID !== "") {
      throw new RucheError(ErrorCode.BadRequest, "AccessorID is chosen by the servers when a token is created; to change a token, POST it to /v1/acl/token/ACCESSOR", { path: "AccessorID" });
    }
    if (body.SecretID !== undefined && body.SecretID !== "") throw new RucheError(ErrorCode.BadRequest, "SecretID is chosen by the servers when a token is created", { path: "SecretID" });
    const spec = tokenSpec(body, Date.now());
    const accessor = randomUUID();
    const secret = randomUUID();
    await store.write((tx) => {
      policiesExist(tx, spec.Policies);
      secretUnused(tx, secret);
      tx.put("aclTokens", { AccessorID: accessor, SecretID: secret, ...spec, CreateIndex: 0, ModifyIndex: 0 });
    });
    return { body: tokenAnswer(mustToken(ctx, accessor), true), index: store.index };
  });
  r.get("/v1/acl/token/self", async (req) =>
    blocking(ctx, req, ["aclTokens"], () => {
      const secret = requestToken(req);
      const t = secret === undefined ? store.aclToken(ANONYMOUS_ACCESSOR) : store.aclTokenBySecret(secret);
      if (t === undefined) throw new RucheError(ErrorCode.NotFound, "ACL token not found");
      return tokenAnswer(t, secret !== undefined);
    }),
  );
  r.get("/v1/acl/token/:accessor", async (req) =>
    blocking(ctx, req, ["aclTokens"], () => {
      const t = store.aclToken(req.params.accessor ?? "");
      if (t === undefined) throw new RucheError(ErrorCode.NotFound, "ACL token not found");
      return tokenAnswer(t, mayReadSecret(ctx, req, t));
    }),
  );
  r.put("/v1/acl/token/:accessor", async (req) => {
    const accessor = req.params.accessor ?? "";
    const body = objectBody(req.body);
    if (body.AccessorID !== undefined && body.AccessorID !== "" && body.AccessorID !== accessor) {
      throw new RucheError(ErrorCode.BadRequest, `the token's AccessorID ${JSON.stringify(body.AccessorID)} does not match the path's "${accessor}"`, { path: "AccessorID" });
    }
    if (accessor === ANONYMOUS_ACCESSOR) {
      // Consul's model: the anonymous token's policies are what a request without a token may do.
      const policies = stringList(body.Policies, "Policies") ?? [];
      if (body.Type !== undefined && body.Type !== "client") throw new RucheError(ErrorCode.BadRequest, 'the anonymous token is a client token: Type must be "client"', { path: "Type" });
      const now = new Date().toISOString();
      await store.write((tx) => {
        policiesExist(tx, policies);
        const old = tx.get("aclTokens", ANONYMOUS_ACCESSOR);
        tx.put("aclTokens", {
          AccessorID: ANONYMOUS_ACCESSOR,
          SecretID: ANONYMOUS_ACCESSOR,
          Name: optionalString(body, "Name") ?? old?.Name ?? "Anonymous Token",
          Type: "client",
          Policies: policies,
          Global: false,
          CreateTime: old?.CreateTime ?? now,
          CreateIndex: 0,
          ModifyIndex: 0,
        });
      });
      return { body: tokenAnswer(mustToken(ctx, ANONYMOUS_ACCESSOR), false), index: store.index };
    }
    const old = store.aclToken(accessor);
    if (old === undefined) throw new RucheError(ErrorCode.NotFound, "ACL token not found");
    // What the body leaves out stays as it was.
    const spec = tokenSpec({ Name: old.Name, Type: old.Type, Policies: old.Policies, Global: old.Global, ...dropUndefined(body) }, Date.parse(old.CreateTime));
    if (spec.Global !== old.Global) throw new RucheError(ErrorCode.BadRequest, "a token cannot be switched between global and local", { path: "Global" });
    if (spec.ExpirationTime !== undefined && spec.ExpirationTime !== old.ExpirationTime) {
      throw new RucheError(ErrorCode.BadRequest, "a token's expiration cannot be changed; create a new token", { path: body.ExpirationTTL !== undefined ? "ExpirationTTL" : "ExpirationTime" });
    }
    await store.write((tx) => {
      const now = tx.get("aclTokens", accessor);
      if (now === undefined) throw new RucheError(ErrorCode.NotFound, "ACL token not found");
      policiesExist(tx, spec.Policies);
      const { ExpirationTime: _drop, ...rest } = spec;
      tx.put("aclTokens", { ...now, ...rest, ...(now.ExpirationTime === undefined ? {} : { ExpirationTime: now.ExpirationTime }), CreateTime: now.CreateTime });
    });
    return { body: tokenAnswer(mustToken(ctx, accessor), true), index: store.index };
  });
  r.delete("/v1/acl/token/:accessor", async (req) => {
    const accessor = req.params.accessor ?? "";
    if (accessor === ANONYMOUS_ACCESSOR) throw new RucheError(ErrorCode.BadRequest, "the anonymous token cannot be deleted; set its policies to none instead");
    await store.write((tx) => {
      if (tx.get("aclTokens", accessor) === undefined) throw new RucheError(ErrorCode.NotFound, "ACL token not found");
      tx.delete("aclTokens", accessor);
    });
    return { body: null, index: store.index };
  });
}

const byString = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
const BY_ACCESSOR: Tokenizer<AclToken> = { token: (t) => t.AccessorID, compare: (t, k) => byString(t.AccessorID, k) };
const BY_CREATE: Tokenizer<AclToken> = {
  token: (t) => `${t.CreateIndex}.${t.AccessorID}`,
  compare: (t, k) => {
    const dot = k.indexOf(".");
    const index = dot > 0 && /^\d+$/.test(k.slice(0, dot)) ? Number(k.slice(0, dot)) : NaN;
    if (Number.isNaN(index)) return byString(`${t.CreateIndex}.${t.AccessorID}`, k);
    return t.CreateIndex !== index ? t.CreateIndex - index : byString(t.AccessorID, k.slice(dot + 1));
  },
};

/** Whether the request's own token may see `t`'s secret: a management token (unexpired), or `t` itself. */
function mayReadSecret(ctx: ApiContext, req: Request, t: AclToken): boolean {
  const secret = requestToken(req);
  if (secret === undefined) return false;
  const caller = ctx.store.aclTokenBySecret(secret);
  if (caller === undefined) return false;
  if (caller.AccessorID === t.AccessorID) return true;
  const expired = caller.ExpirationTime !== undefined && Date.parse(caller.ExpirationTime) <= Date.now();
  return caller.Type === "management" && !expired;
}

function mustToken(ctx: ApiContext, accessor: string): AclToken {
  const t = ctx.store.aclToken(accessor);
  if (t === undefined) throw new RucheError(ErrorCode.Internal, `the token ${accessor} just written is not in the store`);
  return t;
}

/** What a create or update body asks for, checked as Nomad's `ACLToken.Validate` does. */
function tokenSpec(body: Record<string, unknown>, createdMs: number): Pick<AclToken, "Name" | "Type" | "Policies" | "Global" | "CreateTime"> & { ExpirationTime?: string } {
  const name = optionalString(body, "Name") ?? "";
  if (name.length > MAX_TOKEN_NAME) throw new RucheError(ErrorCode.BadRequest, `Name is ${name.length} characters; the limit is ${MAX_TOKEN_NAME}`, { path: "Name" });
  const type = body.Type ?? "client";
  if (type !== "client" && type !== "management") throw new RucheError(ErrorCode.BadRequest, `Type must be "client" or "management", got ${JSON.stringify(type)}`, { path: "Type" });
  const policies = stringList(body.Policies, "Policies") ?? [];
  if (type === "client" && policies.length === 0) throw new RucheError(ErrorCode.BadRequest, "a client token needs at least one policy", { path: "Policies" });
  if (type === "management" && policies.length > 0) throw new RucheError(ErrorCode.BadRequest, "a management token may do everything: it takes no policies", { path: "Policies" });
  const global = body.Global ?? false;
  if (typeof global !== "boolean") throw new RucheError(ErrorCode.BadRequest, "Global must be true or false", { path: "Global" });
  const expiration = expirationOf(body, createdMs);
  return { Name: name, Type: type, Policies: [...new Set(policies)], Global: global, CreateTime: new Date(createdMs).toISOString(), ...(expiration === undefined ? {} : { ExpirationTime: expiration }) };
}

/** `ExpirationTime` (RFC 3339) or `ExpirationTTL` (a duration, "1h", or Go's nanoseconds), within Nomad's bounds from the create time. */
function expirationOf(body: Record<string, unknown>, createdMs: number): string | undefined {
  const ttl = body.ExpirationTTL;
  const time = body.ExpirationTime;
  const hasTtl = ttl !== undefined && ttl !== null && ttl !== "" && ttl !== 0;
  const hasTime = time !== undefined && time !== null && time !== "";
  if (hasTtl && hasTime) throw new RucheError(ErrorCode.BadRequest, "give ExpirationTTL or ExpirationTime, not both", { path: "ExpirationTTL" });
  let at: number;
  let path: string;
  if (hasTtl) {
    path = "ExpirationTTL";
    const ns = typeof ttl === "number" ? ttl : typeof ttl === "string" ? parseDuration(ttl) : undefined;
    if (ns === undefined || !Number.isFinite(ns)) throw new RucheError(ErrorCode.BadRequest, `ExpirationTTL must be a duration such as "1h", got ${JSON.stringify(ttl)}`, { path });
    at = createdMs + ns / NS.millisecond;
  } else if (hasTime) {
    path = "ExpirationTime";
    at = typeof time === "string" ? Date.parse(time) : NaN;
    if (Number.isNaN(at)) throw new RucheError(ErrorCode.BadRequest, `ExpirationTime must be an RFC 3339 time, got ${JSON.stringify(time)}`, { path });
  } else return undefined;
  if (at - createdMs < TOKEN_MIN_TTL_MS) throw new RucheError(ErrorCode.BadRequest, "the token would expire less than 1m0s after its creation (the shortest TTL)", { path });
  if (at - createdMs > TOKEN_MAX_TTL_MS) throw new RucheError(ErrorCode.BadRequest, "the token would expire more than 24h0m0s after its creation (the longest TTL)", { path });
  return new Date(at).toISOString();
}

function policiesExist(tx: Txn, names: readonly string[]): void {
  for (const name of names) if (tx.get("aclPolicies", name) === undefined) throw new RucheError(ErrorCode.BadRequest, `ACL policy "${name}" not found`, { path: "Policies" });
}

/** A secret is a credential: two tokens never share one. */
function secretUnused(tx: Txn, secret: string): void {
  if (tx.list("aclTokens", "").some((t) => t.SecretID === secret)) throw new RucheError(ErrorCode.BadRequest, "that secret is already a token's SecretID", { path: "BootstrapSecret" });
}

function dropUndefined(body: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(body).filter(([, v]) => v !== undefined && v !== null));
}

function objectBody(body: unknown): Record<string, unknown> {
  if (typeof body !== "object" || body === null || Array.isArray(body)) throw new RucheError(ErrorCode.BadRequest, "the body must be a JSON object");
  return body as Record<string, unknown>;
}

function optionalString(body: Record<string, unknown>, key: string): string | undefined {
  const v = body[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "string") throw new RucheError(ErrorCode.BadRequest, `${key} must be a string`, { path: key });
  return v;
}

function stringList(v: unknown, path: string): string[] | undefined {
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v) || !v.every((x) => typeof x === "string" && x !== "")) throw new RucheError(ErrorCode.BadRequest, `${path} must be a list of names`, { path });
  return v as string[];
}
