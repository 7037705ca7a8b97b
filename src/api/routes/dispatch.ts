import { ErrorCode, RucheError, type DispatchRequest } from "../../structs/index.js";
import type { ApiContext } from "../context.js";
import type { Request, Router } from "../http.js";
import { queryNamespace } from "../namespace.js";
import { mustAllowRegistration } from "./scheduler-config.js";

function isPlainRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Nomad's `JobDispatchRequest` body → what the server checks against the parameterized job. */
export function dispatchRequestOf(body: unknown, jobId: string): DispatchRequest {
  const b: Record<string, unknown> = body === null || body === undefined ? {} : isPlainRecord(body) ? body : bad("", 'the body must be {"Payload": "<base64>", "Meta": {...}}');
  if (b.JobID !== undefined && b.JobID !== "" && b.JobID !== jobId) bad("JobID", "Job ID does not match");
  let payload = new Uint8Array();
  if (b.Payload !== undefined && b.Payload !== null) {
    if (typeof b.Payload !== "string" || !BASE64.test(b.Payload)) bad("Payload", "Payload must be base64 (standard alphabet, padded), as Nomad's API sends bytes");
    payload = new Uint8Array(Buffer.from(b.Payload, "base64"));
  }
  const meta: Record<string, string> = {};
  if (b.Meta !== undefined && b.Meta !== null) {
    if (!isPlainRecord(b.Meta)) bad("Meta", "Meta must map keys to strings");
    for (const [k, v] of Object.entries(b.Meta)) {
      if (typeof v !== "string") bad(`Meta.${k}`, `Meta.${k} must be a string, got ${typeof v}`);
      meta[k] = v;
    }
  }
  const prefix = b.IdPrefixTemplate ?? "";
  if (typeof prefix !== "string") bad("IdPrefixTemplate", "IdPrefixTemplate must be a string");
  const priority = b.Priority ?? 0;
  if (typeof priority !== "number") bad("Priority", "Priority must be a number");
  return { payload, meta, idPrefixTemplate: prefix, priority };
}

function bad(path: string, message: string): never {
  throw new RucheError(ErrorCode.BadRequest, message, path === "" ? {} : { path });
}

/** `POST /v1/job/:id/dispatch`: a run of a parameterized job (Nomad's `nomad job dispatch`). */
export function dispatchRoutes(r: Router, ctx: ApiContext): void {
  r.put("/v1/job/:id/dispatch", async (req: Request) => {
    mustAllowRegistration(ctx, req);
    const id = req.params.id ?? "";
    const res = await ctx.server.dispatchJob(queryNamespace(req), id, dispatchRequestOf(req.body, id));
    return { body: res, index: res.Index };
  });
}
