import type { ServerResponse } from "node:http";
import type { TableName } from "../../state/index.js";
import { AclResource, ErrorCode, NamespaceCap, RucheError, toWireAlloc, toWireDeployment, toWireEval, toWireNode, type Acl, type Allocation, type Deployment, type Evaluation, type Node } from "../../structs/index.js";
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

/** Whether a token may read a topic's events (Nomad's rules): the job-shaped ones need read-job in their namespace, nodes node:read. */
function mayRead(acl: Acl, topic: string, namespace: string): boolean {
  return topic === "Node" ? acl.allows(AclResource.Node, "read") : acl.namespace(namespace, NamespaceCap.ReadJob);
}

/**
 * Server-sent events of every state change, `?topic=Allocation&topic=Job` to filter. A topic
 * the token may not read is refused (403, as Nomad refuses it); without `?topic`, the stream
 * carries the topics the token may read (Nomad asks for a management token there), and each
 * event is checked against its own namespace.
 */
function stream(ctx: ApiContext, req: Request, res: ServerResponse): Reply {
  const wanted = req.query.getAll("topic");
  for (const t of wanted) if (TOPICS[t] === undefined) throw new RucheError(ErrorCode.BadRequest, `unknown topic "${t}"; topics are ${Object.keys(TOPICS).join(", ")}`, { path: "topic" });
  const acl = req.acl;
  if (wanted.some((t) => !mayRead(acl, t, "default"))) throw new RucheError(ErrorCode.Forbidden, "Permission denied");
  const topics = wanted.length === 0 ? Object.keys(TOPICS).filter((t) => mayRead(acl, t, "default")) : wanted;
  if (topics.length === 0) throw new RucheError(ErrorCode.Forbidden, "Permission denied");
  const tables = new Set(topics.map((t) => TOPICS[t] as TableName));
  const topicOf = Object.fromEntries(Object.entries(TOPICS).map(([k, v]) => [v, k]));
  res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache", connection: "keep-alive", "x-ruche-index": String(ctx.store.index), "x-nomad-index": String(ctx.store.index) });
  res.write(`: connected at index ${ctx.store.index}\n\n`);
  const unsubscribe = ctx.store.subscribe((e) => {
    const events = e.changes
      .filter((c) => tables.has(c.table) && (acl.management || mayRead(acl, topicOf[c.table] ?? "", namespaceOf(c.value))))
      .map((c) => ({ Topic: topicOf[c.table], Type: c.op === "put" ? `${topicOf[c.table] ?? ""}Updated` : `${topicOf[c.table] ?? ""}Deleted`, Key: c.key, Index: e.index, Payload: onWire(c.table, stripSecrets(c.value)) }));
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

/** A changed row as the routes serve it: allocations, evaluations and deployments in Nomad's time types (a deleted row, null, stays null). */
function onWire(table: TableName, v: unknown): unknown {
  if (v === null || typeof v !== "object") return v;
  switch (table) {
    case "allocs":
      return toWireAlloc(v as Allocation);
    case "evals":
      return toWireEval(v as Evaluation);
    case "deployments":
      return toWireDeployment(v as Deployment);
    case "nodes":
      return toWireNode(v as Node);
    default:
      return v;
  }
}

/** The namespace of a changed row ("default" for one without: a node, a deleted row). */
function namespaceOf(v: unknown): string {
  if (v !== null && typeof v === "object" && "Namespace" in v && typeof v.Namespace === "string") return v.Namespace;
  return "default";
}

function stripSecrets(v: unknown): unknown {
  if (v !== null && typeof v === "object" && "SecretID" in v) {
    const { SecretID: _s, ...rest } = v as Record<string, unknown>;
    return rest;
  }
  return v;
}
