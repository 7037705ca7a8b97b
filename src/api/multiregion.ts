import { regionalJob, specOf, type MultiregionPeers, type PeerView, type RegisterResult, type Server } from "../server/index.js";
import type { StateStore } from "../state/index.js";
import { ErrorCode, RucheError, type Job } from "../structs/index.js";
import { requestToken } from "./acl-token.js";
import { MULTIREGION_COPY } from "./federation-forward.js";
import type { Request } from "./http.js";
import { refusalText, type RegionAnswer, type RegionClient } from "./region-client.js";

/** The version a multiregion job's copy is registered at (the same in every region). */
export const MULTIREGION_VERSION = "x-ruche-multiregion-version";

/** What a multiregion submission needs: this region's server and state, and the way to the others. */
export interface MultiregionEdge {
  own: string;
  server: Server;
  store: StateStore;
  /** Absent: this server federates with no other region. */
  client?: RegionClient;
}

/** Nomad's register answer. */
export interface RegisterAnswer {
  EvalID: string;
  EvalCreateIndex: number;
  JobModifyIndex: number;
  Index: number;
  Warnings: string;
}

/** This region's registration or stop, as Nomad's register answer. */
function answerOf(r: RegisterResult): RegisterAnswer {
  return { EvalID: r.EvalID, EvalCreateIndex: r.EvalCreateIndex, JobModifyIndex: r.JobModifyIndex, Index: r.Index, Warnings: "" };
}

/** What one region holds of the job before the submission: its version (null: it has none) and whether the copy changes it. */
interface Before {
  version: number | null;
  changed: boolean;
}

function tokenHeaders(req: Request): Record<string, string> {
  const t = requestToken(req);
  return t === undefined ? {} : { "x-nomad-token": t };
}

function mustRegion(edge: MultiregionEdge, region: string): RegionClient {
  if (edge.client === undefined) throw new RucheError(ErrorCode.NoRegionPath, `No path to region "${region}": this server federates with no other region (server { retry_join_wan }, ruche server join)`, { path: "Job.Multiregion" });
  return edge.client;
}

function refused(region: string, what: string, answer: RegionAnswer): RucheError {
  const code = answer.status === 404 ? ErrorCode.NotFound : answer.status >= 500 ? ErrorCode.BadGateway : ErrorCode.BadRequest;
  return new RucheError(code, `region "${region}" refused ${what} (${answer.status}): ${refusalText(answer)}`, { path: "Job.Multiregion" });
}

/** The job's state in region `region` before the submission, read there (or here). */
async function before(edge: MultiregionEdge, req: Request, copy: Job): Promise<Before> {
  const region = copy.Region;
  const q = `namespace=${encodeURIComponent(copy.Namespace)}`;
  const id = encodeURIComponent(copy.ID);
  if (region === edge.own) {
    const cur = edge.store.job(copy.Namespace, copy.ID);
    // The plan checks the copy against this region (its namespace among others), as the others' do.
    edge.server.planJob(copy);
    return { version: cur?.Version ?? null, changed: cur === null || cur.Stop || specOf(cur) !== specOf(copy) };
  }
  const client = mustRegion(edge, region);
  const headers = tokenHeaders(req);
  const got = await client(region, { method: "GET", path: `/v1/job/${id}?${q}`, headers });
  if (got.status !== 200 && got.status !== 404) throw refused(region, "a read of the job", got);
  const version = got.status === 200 && typeof (got.body as { Version?: unknown }).Version === "number" ? (got.body as { Version: number }).Version : null;
  const plan = await client(region, { method: "PUT", path: `/v1/job/${id}/plan?${q}`, body: { Job: copy, Diff: true }, headers });
  if (plan.status !== 200) throw refused(region, "the job", plan);
  const type = (plan.body as { Diff?: { Type?: unknown } }).Diff?.Type;
  return { version, changed: version === null || type !== "None" };
}

/**
 * Registers a multiregion job (Nomad's `multiregion` block): a copy in every region named
 * (`regionalJob`), at one version — the next after the highest any region holds when any copy
 * changes its region's job. Every region is asked first (reachable, the copy planned there, so
 * that a region that would refuse it refuses before anything is registered anywhere); then each
 * registers its copy, whose deployment waits, pending, for its turn (`server/multiregion.ts`).
 * Answers this region's registration (the first region's when this one is not named).
 */
export async function registerMultiregion(edge: MultiregionEdge, req: Request, job: Job & { Multiregion: NonNullable<Job["Multiregion"]> }, enforceIndex?: number): Promise<RegisterAnswer> {
  const copies = job.Multiregion.Regions.map((r) => regionalJob(job, r));
  const was = await Promise.all(copies.map((c) => before(edge, req, c)));
  const anyChange = was.some((b) => b.changed);
  const version = anyChange ? Math.max(-1, ...was.map((b) => b.version ?? -1)) + 1 : undefined;
  const done: string[] = [];
  let answer: RegisterAnswer | undefined;
  for (const copy of copies) {
    let res: RegisterAnswer;
    try {
      res = await registerCopy(edge, req, copy, version, copy.Region === edge.own || (answer === undefined && !copies.some((c) => c.Region === edge.own)) ? enforceIndex : undefined);
    } catch (err) {
      if (done.length === 0) throw err;
      const e = err instanceof RucheError ? err : new RucheError(ErrorCode.Internal, String(err));
      throw new RucheError(e.code, `${e.message}; registered in ${done.join(", ")}, whose deployments wait for every region: run the job again once region "${copy.Region}" takes it`, { path: "Job.Multiregion", cause: err });
    }
    done.push(copy.Region);
    if (copy.Region === edge.own || answer === undefined) answer = res;
  }
  if (answer === undefined) throw new RucheError(ErrorCode.BadRequest, "a multiregion job needs at least one region", { path: "Job.Multiregion.Regions" });
  return answer;
}

async function registerCopy(edge: MultiregionEdge, req: Request, copy: Job, version: number | undefined, enforceIndex: number | undefined): Promise<RegisterAnswer> {
  if (copy.Region === edge.own) {
    const r = await edge.server.registerJob(copy, { ...(version === undefined ? {} : { version }), ...(enforceIndex === undefined ? {} : { enforceIndex }) });
    return answerOf(r);
  }
  const client = mustRegion(edge, copy.Region);
  const headers: Record<string, string> = { ...tokenHeaders(req), [MULTIREGION_COPY]: edge.own, ...(version === undefined ? {} : { [MULTIREGION_VERSION]: String(version) }) };
  const body = { Job: copy, ...(enforceIndex === undefined ? {} : { EnforceIndex: true, JobModifyIndex: enforceIndex }) };
  const got = await client(copy.Region, { method: "PUT", path: `/v1/job/${encodeURIComponent(copy.ID)}?namespace=${encodeURIComponent(copy.Namespace)}`, body, headers });
  if (got.status !== 200) throw refused(copy.Region, "the job", got);
  const b = got.body as Partial<RegisterAnswer>;
  return { EvalID: b.EvalID ?? "", EvalCreateIndex: b.EvalCreateIndex ?? 0, JobModifyIndex: b.JobModifyIndex ?? 0, Index: b.Index ?? 0, Warnings: b.Warnings ?? "" };
}

/** The version a copy sent by another region's server is registered at (`MULTIREGION_VERSION`), checked; undefined when none is given. */
export function copyVersion(req: Request): number | undefined {
  const v = req.headers[MULTIREGION_VERSION];
  if (v === undefined) return undefined;
  const text = Array.isArray(v) ? (v[0] ?? "") : v;
  const n = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(n)) throw new RucheError(ErrorCode.BadRequest, `${MULTIREGION_VERSION} must be a job version (a whole number), got "${text}"`, { path: MULTIREGION_VERSION });
  return n;
}

/**
 * `job stop -global` (Nomad's `?global=true`): a multiregion job stopped in every region it
 * runs in, this one through its own server, the others through theirs. Answers this region's
 * stop; a region that refuses is named in the error after the others were asked.
 */
export async function stopMultiregion(edge: MultiregionEdge, req: Request, job: Job & { Multiregion: NonNullable<Job["Multiregion"]> }, purge: boolean): Promise<RegisterAnswer> {
  const failures: string[] = [];
  let answer: RegisterAnswer | undefined;
  for (const r of job.Multiregion.Regions) {
    if (r.Name === edge.own) {
      const res = await edge.server.stopJob(job.Namespace, job.ID, purge);
      answer = answerOf(res);
      continue;
    }
    try {
      const client = mustRegion(edge, r.Name);
      const got = await client(r.Name, { method: "DELETE", path: `/v1/job/${encodeURIComponent(job.ID)}?namespace=${encodeURIComponent(job.Namespace)}&purge=${String(purge)}`, headers: tokenHeaders(req) });
      if (got.status !== 200 && got.status !== 404) failures.push(`${r.Name}: ${refusalText(got)}`);
    } catch (err) {
      failures.push(`${r.Name}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  if (failures.length > 0) throw new RucheError(ErrorCode.BadGateway, `the job was not stopped in every region: ${failures.join("; ")}`, { path: "global" });
  if (answer === undefined) {
    const res = await edge.server.stopJob(job.Namespace, job.ID, purge);
    answer = answerOf(res);
  }
  return answer;
}

/** How a region's deployment watcher reads another region's view of a job: `GET /v1/internal/multiregion/deployments` on one of its servers. */
export function multiregionPeers(client: RegionClient): MultiregionPeers {
  return async (region, namespace, jobId) => {
    const got = await client(region, { method: "GET", path: `/v1/internal/multiregion/deployments?namespace=${encodeURIComponent(namespace)}&job=${encodeURIComponent(jobId)}`, timeoutMs: 3_000 });
    const v = got.body as Partial<PeerView> | null;
    if (got.status !== 200 || typeof v !== "object" || v === null || typeof v.JobVersion !== "number" || typeof v.Settled !== "boolean" || !Array.isArray(v.Deployments)) {
      throw new Error(`region "${region}" answered ${got.status}: ${refusalText(got)}`);
    }
    const deployments = (v.Deployments as unknown[]).filter((d): d is PeerView["Deployments"][number] => {
      const x = d as Record<string, unknown> | null;
      return typeof x === "object" && x !== null && typeof x.ID === "string" && typeof x.JobVersion === "number" && typeof x.Status === "string";
    });
    return { JobVersion: v.JobVersion, Settled: v.Settled, Deployments: deployments };
  };
}
