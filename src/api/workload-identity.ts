import { randomUUID } from "node:crypto";
import { identityClaims, KeyCache, newSigningKey, signJwt, verifyJwt, type JwtRefusal } from "../identity/index.js";
import type { StateStore } from "../state/index.js";
import {
  allocTerminal,
  audiences,
  DEFAULT_IDENTITY_AUDIENCE,
  exposedIdentities,
  signedIdentityKey,
  workloadAcl,
  type Acl,
  type Allocation,
  type IdentityClaims,
  type Logger,
  type SigningKey,
} from "../structs/index.js";

/** Signed tokens kept for reuse at most; past it the cache starts again. */
const MAX_CACHED = 50_000;

/**
 * The servers' signing key: the state's oldest, or, when it has none, one made now and
 * written (the leader's write; on a follower the write is refused and the leader's key
 * arrives with the state). Two servers racing write once: the transaction puts only into
 * an empty table.
 */
export async function ensureSigningKey(store: StateStore, now: () => number = Date.now): Promise<SigningKey> {
  const have = oldest(store.signingKeys());
  if (have !== undefined) return have;
  const key = newSigningKey(now());
  await store.write((tx) => {
    if (tx.list("signingKeys", "").length === 0) tx.put("signingKeys", { ...key, CreateIndex: 0, ModifyIndex: 0 });
  });
  const made = oldest(store.signingKeys());
  if (made === undefined) throw new Error("the signing key was written but is not in the state");
  return made;
}

function oldest(keys: readonly SigningKey[]): SigningKey | undefined {
  let best: SigningKey | undefined;
  for (const k of keys) if (best === undefined || k.CreateIndex < best.CreateIndex) best = k;
  return best;
}

/**
 * Signs the workload identities of the allocations a node is sent (`GET
 * /v1/client/allocations/:node`): for each task of a running allocation whose `identity`
 * block asks for its JWT (env or file), a token in `SignedIdentities`. The copies carry
 * the tokens; the state never does, so no other route, event or job version can show them.
 * A token is signed once and reused (one without TTL for the allocation's life, one with a
 * TTL until half of it is gone: the next answer the node gets carries a fresh one).
 */
export class IdentitySigner {
  private readonly keys = new KeyCache();
  private readonly cache = new Map<string, { kid: string; jwt: string; renewAt: number }>();
  private warned = false;

  constructor(
    private readonly store: StateStore,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  async sign(allocs: readonly Allocation[]): Promise<Allocation[]> {
    const wanted = new Set(allocs.filter((a) => !allocTerminal(a) && this.wants(a)));
    if (wanted.size === 0) return [...allocs];
    let key: SigningKey;
    try {
      key = await ensureSigningKey(this.store, this.now);
    } catch (err) {
      // The node's tasks that ask for an identity wait for one: their allocation comes back without it, and the node says so.
      if (!this.warned) this.log.warn({ err }, "no key to sign workload identities with yet");
      this.warned = true;
      return [...allocs];
    }
    this.warned = false;
    const signer = this.keys.signer(key);
    const now = this.now();
    return allocs.map((a) => {
      if (!wanted.has(a)) return a;
      const signed: Record<string, string> = {};
      for (const task of a.Job.TaskGroups.find((g) => g.Name === a.TaskGroup)?.Tasks ?? []) {
        for (const wid of exposedIdentities(task)) {
          const at = signedIdentityKey(task.Name, wid.Name);
          const cacheKey = `${a.ID}/${at}`;
          const hit = this.cache.get(cacheKey);
          if (hit !== undefined && hit.kid === key.ID && hit.renewAt > now) {
            signed[at] = hit.jwt;
            continue;
          }
          const jwt = signJwt(identityClaims(a, task.Name, wid, now, randomUUID()), signer);
          if (this.cache.size >= MAX_CACHED) this.cache.clear();
          this.cache.set(cacheKey, { kid: key.ID, jwt, renewAt: wid.TTL > 0 ? now + wid.TTL / 2_000_000 : Number.POSITIVE_INFINITY });
          signed[at] = jwt;
        }
      }
      return { ...a, SignedIdentities: signed };
    });
  }

  /** When the first token with a TTL among those signed for `allocs` is due for renewal (ms, this signer's clock); Infinity when none is. */
  renewalDue(allocs: readonly Allocation[]): number {
    let due = Number.POSITIVE_INFINITY;
    for (const a of allocs) {
      for (const task of a.Job.TaskGroups.find((g) => g.Name === a.TaskGroup)?.Tasks ?? []) {
        for (const wid of exposedIdentities(task)) {
          const hit = this.cache.get(`${a.ID}/${signedIdentityKey(task.Name, wid.Name)}`);
          if (hit !== undefined && hit.renewAt < due) due = hit.renewAt;
        }
      }
    }
    return due;
  }

  private wants(a: Allocation): boolean {
    return a.Job.TaskGroups.find((g) => g.Name === a.TaskGroup)?.Tasks.some((t) => exposedIdentities(t).length > 0) ?? false;
  }
}

/** What verifying a workload identity reads: the signing keys and the allocations. */
export interface WorkloadState {
  signingKeys(): readonly SigningKey[];
  alloc(id: string): Allocation | undefined;
}

export type WorkloadResolved = { ok: true; acl: Acl; claims: IdentityClaims } | { ok: false; reason: JwtRefusal | "audience" | "allocation" };

/**
 * A workload identity presented as an ACL token → what it may do (`workloadAcl`): its
 * signature by one of the servers' keys, its `exp`, an audience of `nomadproject.io` (the
 * default identity's: another identity is for a third party, not for this API), and its
 * allocation still in the state, not terminal, of the job and namespace it names, with the
 * task it names.
 */
export function resolveWorkload(token: string, state: WorkloadState, keys: KeyCache, nowMs: number): WorkloadResolved {
  const rows = state.signingKeys();
  const v = verifyJwt(token, (kid) => keys.publicKey(rows, kid), nowMs);
  if (!v.ok) return v;
  const c = v.claims;
  if (!audiences(c).includes(DEFAULT_IDENTITY_AUDIENCE)) return { ok: false, reason: "audience" };
  const a = state.alloc(c.nomad_allocation_id);
  if (a === undefined || allocTerminal(a) || a.JobID !== c.nomad_job_id || a.Namespace !== c.nomad_namespace) return { ok: false, reason: "allocation" };
  const tasks = a.Job.TaskGroups.find((g) => g.Name === a.TaskGroup)?.Tasks ?? [];
  if (!tasks.some((t) => t.Name === c.nomad_task)) return { ok: false, reason: "allocation" };
  return { ok: true, acl: workloadAcl(c.nomad_namespace, c.nomad_job_id, { group: a.TaskGroup, task: c.nomad_task }), claims: c };
}
