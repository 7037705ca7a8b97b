import { DEFAULT_IDENTITY_AUDIENCE, DEFAULT_IDENTITY_NAME, NS, type Allocation, type IdentityClaims, type WorkloadIdentity } from "../structs/index.js";

/**
 * The claims of a task's identity (Nomad's `IdentityClaimsBuilder.Build`): the allocation's
 * namespace, job and ID, the task, `sub` = `region:namespace:job:group:task:identity`, the
 * identity's audience (the default one's is always `nomadproject.io`), `iat` = `nbf` = now,
 * and `exp` = now + TTL when it has one. Pure: `jti` and the time are given.
 */
export function identityClaims(alloc: Allocation, task: string, wid: WorkloadIdentity, nowMs: number, jti: string): IdentityClaims {
  const now = Math.floor(nowMs / 1000);
  const aud = wid.Name === DEFAULT_IDENTITY_NAME ? [DEFAULT_IDENTITY_AUDIENCE] : wid.Audience;
  const job = alloc.Job;
  const claims: IdentityClaims = {
    nomad_namespace: alloc.Namespace,
    nomad_job_id: alloc.JobID,
    nomad_allocation_id: alloc.ID,
    nomad_task: task,
    sub: [job.Region, alloc.Namespace, alloc.JobID, alloc.TaskGroup, task, wid.Name].join(":"),
    aud: aud.length === 1 ? (aud[0] as string) : [...aud],
    jti,
    iat: now,
    nbf: now,
  };
  if (wid.TTL > 0) claims.exp = now + Math.max(1, Math.round(wid.TTL / NS.second));
  return claims;
}
