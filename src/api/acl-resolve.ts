import { parseAclPolicy } from "../jobspec/index.js";
import { KeyCache, looksLikeJwt } from "../identity/index.js";
import { ANONYMOUS_ACCESSOR, compileAcl, DENY_ALL, managementAcl, type Acl, type AclPolicy, type AclRules, type AclToken, type Allocation, type IdentityClaims, type Logger, type SigningKey } from "../structs/index.js";
import { resolveWorkload } from "./workload-identity.js";

/** What resolution reads: the tokens and policies in the state (the store's accessors). */
export interface AclState {
  aclTokenBySecret(secret: string): AclToken | undefined | null;
  aclToken(accessor: string): AclToken | undefined | null;
  aclPolicy(name: string): AclPolicy | undefined | null;
  /** The servers' signing keys and the allocations: with both, a workload identity (a JWT the servers signed) is a token too. */
  signingKeys?(): readonly SigningKey[];
  alloc?(id: string): Allocation | undefined;
}

/** A request's token and what it may do, or why it is refused before anything is checked. */
export type Resolved =
  | {
      ok: true;
      acl: Acl;
      /** undefined: no token was sent (the anonymous token's policies apply), or it is a workload identity. */
      token: AclToken | undefined;
      /** A workload identity's claims, when the token is one. */
      identity?: IdentityClaims;
    }
  | { ok: false; reason: "not-found" | "expired" };

/** Compiled ACLs kept at most (one per token accessor); past it the cache starts again. */
const MAX_CACHED = 10_000;

/**
 * A secret → what its token may do. A management token may do everything; a client token
 * what its policies compile to (`compileAcl`), cached by the token's accessor and the
 * ModifyIndex of the token and each of its policies, so a changed policy or token takes
 * effect on the next request. No secret: the anonymous token's policies (none: nothing is
 * allowed). An unknown secret or an expired token is refused. A workload identity (a JWT
 * signed by the servers' key, `workload-identity.ts`) may do what `workloadAcl` allows its
 * job; one whose signature, audience or allocation does not hold is not found, one past its
 * `exp` expired.
 */
export class AclResolver {
  private readonly compiled = new Map<string, { key: string; acl: Acl }>();
  private readonly rules = new Map<string, { modifyIndex: number; rules: AclRules | undefined }>();
  private readonly management = managementAcl();
  private readonly keys = new KeyCache();

  constructor(
    private readonly state: AclState,
    private readonly now: () => number = Date.now,
    private readonly log?: Logger,
  ) {}

  resolve(secret: string | undefined): Resolved {
    if (secret === undefined || secret === "") {
      const anonymous = this.state.aclToken(ANONYMOUS_ACCESSOR) ?? undefined;
      return { ok: true, acl: anonymous === undefined ? DENY_ALL : this.aclOf(anonymous), token: undefined };
    }
    const token = this.state.aclTokenBySecret(secret) ?? undefined;
    if (token === undefined) return this.resolveJwt(secret);
    if (token.ExpirationTime !== undefined && token.ExpirationTime !== "" && Date.parse(token.ExpirationTime) <= this.now()) return { ok: false, reason: "expired" };
    return { ok: true, acl: this.aclOf(token), token };
  }

  private resolveJwt(secret: string): Resolved {
    const state = this.state;
    if (!looksLikeJwt(secret) || state.signingKeys === undefined || state.alloc === undefined) return { ok: false, reason: "not-found" };
    const w = resolveWorkload(secret, { signingKeys: () => state.signingKeys?.() ?? [], alloc: (id) => state.alloc?.(id) }, this.keys, this.now());
    if (w.ok) return { ok: true, acl: w.acl, token: undefined, identity: w.claims };
    this.log?.debug({ reason: w.reason }, "a workload identity was refused");
    return { ok: false, reason: w.reason === "expired" ? "expired" : "not-found" };
  }

  private aclOf(token: AclToken): Acl {
    if (token.Type === "management") return this.management;
    const policies = token.Policies.map((name) => ({ name, policy: this.state.aclPolicy(name) ?? undefined }));
    const key = `${token.ModifyIndex}:${policies.map((p) => `${p.name}@${p.policy?.ModifyIndex ?? "-"}`).join(",")}`;
    const hit = this.compiled.get(token.AccessorID);
    if (hit?.key === key) return hit.acl;
    // A policy the token names that is gone grants nothing, as in Nomad.
    const acl = compileAcl(policies.flatMap((p) => (p.policy === undefined ? [] : this.rulesOf(p.policy))));
    if (this.compiled.size >= MAX_CACHED) this.compiled.clear();
    this.compiled.set(token.AccessorID, { key, acl });
    return acl;
  }

  /** A stored policy's rules, parsed once per version (`jobspec.loadAclPolicyParser()` awaited before the first request). One that no longer parses (it was checked when written) grants nothing. */
  private rulesOf(policy: AclPolicy): AclRules[] {
    const hit = this.rules.get(policy.Name);
    if (hit?.modifyIndex === policy.ModifyIndex) return hit.rules === undefined ? [] : [hit.rules];
    let rules: AclRules | undefined;
    try {
      rules = parseAclPolicy(policy.Rules, `policy ${policy.Name}`);
    } catch (err) {
      this.log?.warn({ err, policy: policy.Name }, "a stored ACL policy does not parse; it grants nothing");
    }
    if (this.rules.size >= MAX_CACHED) this.rules.clear();
    this.rules.set(policy.Name, { modifyIndex: policy.ModifyIndex, rules });
    return rules === undefined ? [] : [rules];
  }
}
