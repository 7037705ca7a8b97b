import type { ApiContext } from "../context.js";
import type { Request, Router } from "../http.js";
import { queryNamespace } from "../namespace.js";

/** `PUT /v1/job/:id/periodic/force`: launches a child of a periodic job now (Nomad's `nomad job periodic force`). */
export function periodicRoutes(r: Router, ctx: ApiContext): void {
  r.put("/v1/job/:id/periodic/force", async (req: Request) => {
    const res = await ctx.server.forcePeriodic(queryNamespace(req), req.params.id ?? "");
    return { body: { EvalID: res.EvalID, EvalCreateIndex: res.EvalCreateIndex, Index: res.Index }, index: res.Index };
  });
}
