import { ErrorCode, RucheError } from "../../structs/index.js";
import type { Router } from "../http.js";
import type { NodeLocal } from "../node-local.js";
import { forward, resolveAllocId, type AllocLookup } from "./alloc-fs.js";

/**
 * Nomad's `/v1/client/allocation/:id/checks` (check ID → `api.AllocCheckStatus`, `alloc
 * checks`) and `/v1/client/allocation/:id/stats` (`api.AllocResourceUsage`, `?task=` for one
 * task; `alloc status`, the dashboard): read on the agent that runs the allocation, forwarded
 * there from any other agent as exec is.
 */
export function allocStatsRoutes(r: Router, lookup: AllocLookup, local: NodeLocal | undefined): void {
  r.get("/v1/client/allocation/:alloc/checks", async (req, res) => {
    const allocId = resolveAllocId(lookup.ids(), req.params.alloc ?? "");
    if (local?.has(allocId) !== true) return forward(lookup, allocId, req, res);
    if (local.checks === undefined) throw new RucheError(ErrorCode.BadRequest, "this agent cannot read checks");
    return { body: local.checks(allocId) };
  });

  r.get("/v1/client/allocation/:alloc/stats", async (req, res) => {
    const allocId = resolveAllocId(lookup.ids(), req.params.alloc ?? "");
    if (local?.has(allocId) !== true) return forward(lookup, allocId, req, res);
    if (local.stats === undefined) throw new RucheError(ErrorCode.BadRequest, "this agent cannot read resource usage");
    const task = req.query.get("task") ?? "";
    return { body: await local.stats(allocId, task === "" ? undefined : task) };
  });
}
