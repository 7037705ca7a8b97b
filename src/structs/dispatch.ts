import type { Job } from "./job.js";

/** The largest payload a dispatch may carry, in bytes (Nomad's `DispatchPayloadSizeLimit`). */
export const DISPATCH_PAYLOAD_SIZE_LIMIT = 16 * 1024;

/** What a dispatched child's ID puts between its parent's ID and the rest (Nomad's `DispatchLaunchSuffix`). */
export const DISPATCH_LAUNCH_SUFFIX = "/dispatch-";

/** A parameterized job is a template: registering it runs nothing; its dispatched children run. */
export function isParameterized(job: Pick<Job, "ParameterizedJob" | "Dispatched">): boolean {
  return job.ParameterizedJob !== undefined && job.ParameterizedJob !== null && job.Dispatched !== true;
}

/** What a dispatch asks for, once its payload is decoded. */
export interface DispatchRequest {
  /** The payload's bytes; empty for none. */
  payload: Uint8Array;
  meta: Record<string, string>;
  /** Put before the time in the child's ID (`-id-prefix-template`); "" for none. */
  idPrefixTemplate: string;
  /** 0: the parent's. */
  priority: number;
}

/** Go's `%v` of a list of strings: `[a b]`. */
function goList(keys: string[]): string {
  return `[${[...keys].sort().join(" ")}]`;
}

/**
 * Why a dispatch of `job` is refused, in Nomad's words (`validateDispatchRequest`), or null.
 * Keys are named in sorted order, where Nomad's order is a map's.
 */
export function dispatchProblem(job: Job, req: DispatchRequest): string | null {
  const cfg = job.ParameterizedJob;
  if (cfg === undefined || cfg === null || job.Dispatched === true) return `Specified job "${job.ID}" is not a parameterized job`;
  if (job.Stop) return `Specified job "${job.ID}" is stopped`;
  const has = req.payload.length !== 0;
  if (cfg.Payload === "required" && !has) return "Payload is not provided but required by parameterized job";
  if (cfg.Payload === "forbidden" && has) return "Payload provided but forbidden by parameterized job";
  if (req.payload.length > DISPATCH_PAYLOAD_SIZE_LIMIT) return `Payload exceeds maximum size; ${req.payload.length} > ${DISPATCH_PAYLOAD_SIZE_LIMIT}`;
  const allowed = new Set([...cfg.MetaRequired, ...cfg.MetaOptional]);
  const unpermitted = Object.keys(req.meta).filter((k) => !allowed.has(k));
  if (unpermitted.length > 0) return `Dispatch request included unpermitted metadata keys: ${goList(unpermitted)}`;
  const missing = cfg.MetaRequired.filter((k) => !Object.hasOwn(req.meta, k));
  if (missing.length > 0) return `Dispatch did not provide required meta keys: ${goList(missing)}`;
  return null;
}

/** A child's ID: `<parent>/dispatch-<unix seconds>-<8 hex>`, with the prefix template before the time when given. */
export function dispatchedJobId(parentId: string, idPrefixTemplate: string, unixSeconds: number, hex8: string): string {
  const prefix = idPrefixTemplate === "" ? "" : `${idPrefixTemplate}-`;
  return `${parentId}${DISPATCH_LAUNCH_SUFFIX}${prefix}${unixSeconds}-${hex8}`;
}

/**
 * The child job a dispatch registers (Nomad's `Job.Dispatch`): the parent's copy under its
 * own ID and name, `ParentID` and `Dispatched` set, the dispatch's meta over the parent's,
 * the payload kept (base64) for the nodes to write where the tasks' `dispatch_payload` says.
 */
export function dispatchedJob(parent: Job, id: string, req: DispatchRequest): Job {
  return {
    ...parent,
    ID: id,
    Name: id,
    ParentID: parent.ID,
    Dispatched: true,
    Priority: req.priority === 0 ? parent.Priority : req.priority,
    Meta: { ...parent.Meta, ...req.meta },
    Payload: Buffer.from(req.payload).toString("base64"),
    Status: "pending",
    Version: 0,
    Stable: false,
    CreateIndex: 0,
    ModifyIndex: 0,
    JobModifyIndex: 0,
    SubmitTime: 0,
  };
}
