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
  // Nomad rebuilds its stored job summaries here; Ruche keeps none, it counts a job's summary from
  // its allocations each time one is read, so a summary is never out of step: nothing to mend.
  r.put("/v1/system/reconcile/summaries", () => ({ body: null }));
}

/** Whether a token may read a topic's events (Nomad's rules): the job-shaped ones need read-job in their namespace, nodes node:read. */
function mayRead(acl: Acl, topic: string, namespace: string): boolean {
  return topic === "Node" ? acl.allows(AclResource.Node, "read") : acl.namespace(namespace, NamespaceCap.ReadJob);
}

/**
 * The event stream. Nomad's form (what Nomad's Go client, `api.EventStream`, reads): one
 * `api.Events` JSON object after another, `{"Index","Events":[{Topic,Type,Key,Namespace,
 * FilterKeys,Index,Payload:{Job|Allocation|Evaluation|Deployment|Node}}]}`, and `{}` every
 * 10 s as a heartbeat; `?topic=Topic:Key` (`*` for every topic or every key; a bare topic is
 * `Topic:*`), `?namespace=` (`*` for all, "default" when absent), `?index=N` (events after N:
 * the stream starts at the current state, Ruche keeps no buffer of past events to replay).
 * With `Accept: text/event-stream` (the dashboard), the same changes as server-sent events,
 * every change kept (deletions too), `?topic=` naming topics only.
 *
 * A topic the token may not read is refused (403, as Nomad refuses it); without `?topic`,
 * the stream carries the topics the token may read (Nomad asks for a management token
 * there), and each event is checked against its own namespace.
 */
function stream(ctx: ApiContext, req: Request, res: ServerResponse): Reply {
  const sse = (req.headers.accept ?? "").includes("text/event-stream");
  const filters = parseTopics(req.query.getAll("topic"));
  const acl = req.acl;
  const named = filters.filter((f) => f.topic !== "*").map((f) => f.topic);
  if (named.some((t) => !mayRead(acl, t, "default"))) throw new RucheError(ErrorCode.Forbidden, "Permission denied");
  const all = filters.length === 0 || filters.some((f) => f.topic === "*");
  const topics = all ? Object.keys(TOPICS).filter((t) => mayRead(acl, t, "default")) : named;
  if (topics.length === 0) throw new RucheError(ErrorCode.Forbidden, "Permission denied");
  const tables = new Set(topics.map((t) => TOPICS[t] as TableName));
  const topicOf = Object.fromEntries(Object.entries(TOPICS).map(([k, v]) => [v, k]));
  const namespace = req.query.get("namespace") ?? "default";
  const after = Number(req.query.get("index") ?? "0");
  if (!Number.isSafeInteger(after) || after < 0) throw new RucheError(ErrorCode.BadRequest, `index must be a whole number, got "${req.query.get("index") ?? ""}"`, { path: "index" });
  if (sse) {
    res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache", connection: "keep-alive", "x-ruche-index": String(ctx.store.index), "x-nomad-index": String(ctx.store.index) });
    res.write(`: connected at index ${ctx.store.index}\n\n`);
  } else {
    res.writeHead(200, { "content-type": "application/json", "cache-control": "no-cache", "x-ruche-index": String(ctx.store.index), "x-nomad-index": String(ctx.store.index) });
    res.flushHeaders();
  }
  const unsubscribe = ctx.store.subscribe((e) => {
    const mine = e.changes.filter((c) => tables.has(c.table) && (acl.management || mayRead(acl, topicOf[c.table] ?? "", namespaceOf(c.value))));
    if (sse) {
      const events = mine.map((c) => ({ Topic: topicOf[c.table], Type: c.op === "put" ? `${topicOf[c.table] ?? ""}Updated` : `${topicOf[c.table] ?? ""}Deleted`, Key: c.key, Index: e.index, Payload: onWire(c.table, stripSecrets(c.value)) }));
      if (events.length > 0) res.write(`id: ${e.index}\ndata: ${JSON.stringify({ Index: e.index, Events: events })}\n\n`);
      return;
    }
    if (e.index <= after) return;
    const events = mine.flatMap((c) => {
      const ev = nomadEvent(c.table, c.op, c.key, c.value, e.index);
      if (ev === undefined) return [];
      if (namespace !== "*" && ev.Namespace !== "" && ev.Namespace !== namespace) return [];
      return filters.length === 0 || filters.some((f) => (f.topic === "*" || f.topic === ev.Topic) && (f.key === "*" || f.key === ev.Key || ev.FilterKeys.includes(f.key))) ? [ev] : [];
    });
    if (events.length > 0) res.write(`${JSON.stringify({ Index: e.index, Events: events })}\n`);
  });
  const ping = setInterval(() => res.write(sse ? ": ping\n\n" : "{}\n"), sse ? 15_000 : 10_000);
  ping.unref();
  req.signal.addEventListener("abort", () => {
    unsubscribe();
    clearInterval(ping);
  });
  return { streamed: true };
}

/** `?topic=` values: `Topic:Key`, `Topic` (every key), `*` or `*:*` (every topic). */
export function parseTopics(values: readonly string[]): { topic: string; key: string }[] {
  return values.map((v) => {
    const i = v.indexOf(":");
    const topic = i < 0 ? v : v.slice(0, i);
    const key = i < 0 ? "*" : v.slice(i + 1);
    if (topic !== "*" && TOPICS[topic] === undefined) throw new RucheError(ErrorCode.BadRequest, `unknown topic "${topic}" in "${v}"; topics are ${Object.keys(TOPICS).join(", ")}, or *`, { path: "topic" });
    if (key === "") throw new RucheError(ErrorCode.BadRequest, `topic "${v}" names no key: give Topic:Key, Topic:* or Topic`, { path: "topic" });
    return { topic, key };
  });
}

/** Nomad's `api.Event`. */
export interface NomadEvent {
  Topic: string;
  Type: string;
  Key: string;
  Namespace: string;
  FilterKeys: string[];
  Index: number;
  Payload: Record<string, unknown>;
}

/**
 * A state change as Nomad's event: its type as Nomad names it (JobRegistered, JobDeregistered,
 * AllocationUpdated, EvaluationUpdated, DeploymentStatusUpdate, NodeRegistration,
 * NodeDeregistration), the object's ID as Key, the job (and deployment) it belongs to in
 * FilterKeys. The removal of an allocation, evaluation or deployment (garbage collection) is no
 * event in Nomad: undefined.
 */
export function nomadEvent(table: TableName, op: "put" | "delete", key: string, value: unknown, index: number): NomadEvent | undefined {
  const v = (value ?? {}) as { ID?: string; Namespace?: string; JobID?: string; DeploymentID?: string; Stop?: boolean };
  const ns = typeof v.Namespace === "string" ? v.Namespace : "";
  const job = typeof v.JobID === "string" ? v.JobID : "";
  const dep = typeof v.DeploymentID === "string" ? v.DeploymentID : "";
  const wire = onWire(table, stripSecrets(value));
  switch (table) {
    case "jobs": {
      const slash = key.indexOf("/");
      const id = v.ID ?? (slash < 0 ? key : key.slice(slash + 1));
      return { Topic: "Job", Type: op === "put" && v.Stop !== true ? "JobRegistered" : "JobDeregistered", Key: id, Namespace: ns !== "" ? ns : slash < 0 ? "default" : key.slice(0, slash), FilterKeys: [], Index: index, Payload: { Job: wire } };
    }
    case "allocs":
      if (op === "delete") return undefined;
      return { Topic: "Allocation", Type: "AllocationUpdated", Key: v.ID ?? key, Namespace: ns, FilterKeys: [job, dep].filter((k) => k !== ""), Index: index, Payload: { Allocation: wire } };
    case "evals":
      if (op === "delete") return undefined;
      return { Topic: "Evaluation", Type: "EvaluationUpdated", Key: v.ID ?? key, Namespace: ns, FilterKeys: [job, dep].filter((k) => k !== ""), Index: index, Payload: { Evaluation: wire } };
    case "deployments":
      if (op === "delete") return undefined;
      return { Topic: "Deployment", Type: "DeploymentStatusUpdate", Key: v.ID ?? key, Namespace: ns, FilterKeys: [job].filter((k) => k !== ""), Index: index, Payload: { Deployment: wire } };
    case "nodes":
      return { Topic: "Node", Type: op === "put" ? "NodeRegistration" : "NodeDeregistration", Key: v.ID ?? key, Namespace: "", FilterKeys: [], Index: index, Payload: { Node: wire } };
    default:
      return undefined;
  }
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
