import type { ServerResponse } from "node:http";
import type { TableName } from "../../state/index.js";
import { ErrorCode, RucheError } from "../../structs/index.js";
import type { ApiContext } from "../context.js";
import type { Reply, Request, Router } from "../http.js";
import type { Metrics } from "../metrics.js";
import { openapi } from "../openapi.js";

const TOPICS: Readonly<Record<string, TableName>> = {
  Job: "jobs",
  Node: "nodes",
  Allocation: "allocs",
  Evaluation: "evals",
  Deployment: "deployments",
};

/** Metrics, the event stream, the API's own description, GC (the leader and the peers are `servers.ts`'s). */
export function systemRoutes(r: Router, ctx: ApiContext, metrics: Metrics, routes: () => string[]): void {
  r.get("/v1/metrics", () => ({ body: metrics.render(ctx), headers: { "content-type": "text/plain; version=0.0.4" } }));
  r.get("/v1/openapi.json", () => ({ body: openapi(routes()) }));
  r.get("/v1/event/stream", (req, res) => stream(ctx, req, res));
  r.put("/v1/system/gc", async () => ({ body: await ctx.server.gc({ eval: 0, alloc: 0, deployment: 0 }) }));
}

/** Server-sent events of every state change, `?topic=Allocation&topic=Job` to filter. */
function stream(ctx: ApiContext, req: Request, res: ServerResponse): Reply {
  const wanted = req.query.getAll("topic");
  for (const t of wanted) if (TOPICS[t] === undefined) throw new RucheError(ErrorCode.BadRequest, `unknown topic "${t}"; topics are ${Object.keys(TOPICS).join(", ")}`, { path: "topic" });
  const tables = new Set(wanted.length === 0 ? Object.values(TOPICS) : wanted.map((t) => TOPICS[t] as TableName));
  const topicOf = Object.fromEntries(Object.entries(TOPICS).map(([k, v]) => [v, k]));
  res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache", connection: "keep-alive", "x-ruche-index": String(ctx.store.index) });
  res.write(`: connected at index ${ctx.store.index}\n\n`);
  const unsubscribe = ctx.store.subscribe((e) => {
    const events = e.changes
      .filter((c) => tables.has(c.table))
      .map((c) => ({ Topic: topicOf[c.table], Type: c.op === "put" ? `${topicOf[c.table] ?? ""}Updated` : `${topicOf[c.table] ?? ""}Deleted`, Key: c.key, Index: e.index, Payload: stripSecrets(c.value) }));
    if (events.length === 0) return;
    res.write(`id: ${e.index}\ndata: ${JSON.stringify({ Index: e.index, Events: events })}\n\n`);
  });
  const ping = setInterval(() => res.write(": ping\n\n"), 15_000);
  ping.unref();
  req.signal.addEventListener("abort", () => {
    unsubscribe();
    clearInterval(ping);
  });
  return { streamed: true };
}

function stripSecrets(v: unknown): unknown {
  if (v !== null && typeof v === "object" && "SecretID" in v) {
    const { SecretID: _s, ...rest } = v as Record<string, unknown>;
    return rest;
  }
  return v;
}
