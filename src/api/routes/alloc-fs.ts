import type { ServerResponse } from "node:http";
import { fetch as dialFetch, type Response as DialResponse } from "undici";
import { ErrorCode, errorMessage, RucheError, silentLogger, type Job, type Logger } from "../../structs/index.js";
import { allocExecRoutes } from "./alloc-exec.js";
import { allocStatsRoutes } from "./alloc-stats.js";
import { allocFileRoutes, FrameWriter, originOf, wholeNumber } from "./alloc-files.js";
import type { Dial } from "../forward.js";
import type { Reply, Request, Router } from "../http.js";
import type { NodeLocal } from "../node-local.js";

/** Longest a command run with `alloc exec` may take. */
const MAX_EXEC_MS = 10 * 60_000;

/**
 * A task's output and commands inside it, as `ruche alloc logs` and `ruche alloc exec`
 * use them. Served by the agent that runs the allocation; another agent forwards the
 * request to the node's HTTP address.
 */
export function allocFsRoutes(r: Router, lookup: AllocLookup, local: NodeLocal | undefined, log: Logger = silentLogger): void {
  r.get("/v1/client/fs/logs/:alloc", async (req, res) => {
    const allocId = resolveAllocId(lookup.ids(), req.params.alloc ?? "");
    if (local?.has(allocId) !== true) return forward(lookup, allocId, req, res);
    const task = pickTask(local, allocId, req.query.get("task"));
    const type = req.query.get("type") ?? "stdout";
    if (type !== "stdout" && type !== "stderr") throw new RucheError(ErrorCode.BadRequest, `type must be stdout or stderr, got "${type}"`, { path: "type" });
    const follow = req.query.get("follow") === "true";
    const origin = originOf(req.query.get("origin"));
    const offset = wholeNumber(req.query.get("offset"), "offset", 0);
    const plain = req.query.get("plain") === "true";
    const opts: { follow: boolean; tailBytes?: number; signal: AbortSignal } = { follow, signal: req.signal };
    if (origin === "end") opts.tailBytes = offset;
    // Without plain=true, Nomad's frames (`api.StreamFrame`, heartbeats `{}` while following); with it, the bytes.
    const out = new FrameWriter(res, plain, req.signal);
    let skip = origin === "start" ? offset : 0;
    let pos = skip;
    try {
      for await (let chunk of local.logs(allocId, task, type, opts)) {
        if (skip > 0) {
          const n = Math.min(skip, chunk.length);
          skip -= n;
          chunk = chunk.subarray(n);
          if (chunk.length === 0) continue;
        }
        pos += chunk.length;
        await out.frame({ File: `alloc/logs/${task}.${type}`, Offset: pos }, chunk);
        if (req.signal.aborted) break;
      }
    } finally {
      out.end();
    }
    return { streamed: true };
  });

  r.put("/v1/client/allocation/:alloc/exec", async (req, res) => {
    const allocId = resolveAllocId(lookup.ids(), req.params.alloc ?? "");
    if (local?.has(allocId) !== true) return forward(lookup, allocId, req, res);
    const b = (req.body ?? {}) as { Task?: unknown; Cmd?: unknown; Stdin?: unknown; TimeoutMs?: unknown };
    if (!Array.isArray(b.Cmd) || b.Cmd.length === 0 || !b.Cmd.every((x) => typeof x === "string")) throw new RucheError(ErrorCode.BadRequest, "Cmd must be a non-empty list of strings (the command and its arguments)", { path: "Cmd" });
    if (b.Task !== undefined && typeof b.Task !== "string") throw new RucheError(ErrorCode.BadRequest, "Task must be a task name", { path: "Task" });
    if (b.Stdin !== undefined && typeof b.Stdin !== "string") throw new RucheError(ErrorCode.BadRequest, "Stdin must be base64 text", { path: "Stdin" });
    const timeoutMs = b.TimeoutMs === undefined ? 60_000 : Number(b.TimeoutMs);
    if (!Number.isFinite(timeoutMs) || timeoutMs <= 0 || timeoutMs > MAX_EXEC_MS) throw new RucheError(ErrorCode.BadRequest, `TimeoutMs must be between 1 and ${MAX_EXEC_MS}`, { path: "TimeoutMs" });
    const task = pickTask(local, allocId, b.Task);
    const opts: { timeoutMs: number; stdin?: Buffer } = { timeoutMs };
    if (typeof b.Stdin === "string") opts.stdin = Buffer.from(b.Stdin, "base64");
    // A RucheError of the runner or the driver is answered with its own code (a task that is
    // not running: 409; a config the driver refuses: 400); anything else is a logged 500.
    const r = await local.exec(allocId, task, b.Cmd, opts);
    return { body: { ExitCode: r.exitCode, Stdout: r.stdout.toString("base64"), Stderr: r.stderr.toString("base64"), TimedOut: r.timedOut } };
  });

  lifecycleRoutes(r, lookup, local);
  allocExecRoutes(r, lookup, local, log);
  allocFileRoutes(r, lookup, local);
  allocStatsRoutes(r, lookup, local);
}

/** Nomad's `alloc signal` and `alloc restart`, on the agent that runs the allocation (forwarded there like exec). */
function lifecycleRoutes(r: Router, lookup: AllocLookup, local: NodeLocal | undefined): void {
  r.put("/v1/client/allocation/:alloc/signal", async (req, res) => {
    const allocId = resolveAllocId(lookup.ids(), req.params.alloc ?? "");
    if (local?.has(allocId) !== true) return forward(lookup, allocId, req, res);
    const b = (req.body ?? {}) as { Task?: unknown; Signal?: unknown };
    if (b.Task !== undefined && typeof b.Task !== "string") throw new RucheError(ErrorCode.BadRequest, "Task must be a task name", { path: "Task" });
    if (b.Signal !== undefined && typeof b.Signal !== "string") throw new RucheError(ErrorCode.BadRequest, 'Signal must be a signal\'s name, such as "SIGHUP"', { path: "Signal" });
    // Nomad's CLI sends SIGKILL when none is named.
    const signal = (b.Signal === undefined || b.Signal === "" ? "SIGKILL" : b.Signal).toUpperCase();
    if (!/^SIG[A-Z0-9]+$/.test(signal)) throw new RucheError(ErrorCode.BadRequest, `"${signal}" is not a signal's name, such as "SIGHUP"`, { path: "Signal" });
    if (local.signal === undefined) throw new RucheError(ErrorCode.BadRequest, "this agent cannot signal tasks");
    await local.signal(allocId, b.Task === "" ? undefined : b.Task, signal);
    return { body: {} };
  });

  r.put("/v1/client/allocation/:alloc/restart", async (req, res) => {
    const allocId = resolveAllocId(lookup.ids(), req.params.alloc ?? "");
    if (local?.has(allocId) !== true) return forward(lookup, allocId, req, res);
    const b = (req.body ?? {}) as { TaskName?: unknown; AllTasks?: unknown };
    if (b.TaskName !== undefined && typeof b.TaskName !== "string") throw new RucheError(ErrorCode.BadRequest, "TaskName must be a task name", { path: "TaskName" });
    if (b.AllTasks !== undefined && typeof b.AllTasks !== "boolean") throw new RucheError(ErrorCode.BadRequest, "AllTasks must be true or false", { path: "AllTasks" });
    if (b.AllTasks === true && b.TaskName !== undefined && b.TaskName !== "") throw new RucheError(ErrorCode.BadRequest, "AllTasks and TaskName go not together: restart one task or all of them", { path: "AllTasks" });
    if (local.restart === undefined) throw new RucheError(ErrorCode.BadRequest, "this agent cannot restart tasks");
    // AllTasks or none named: each running task (Ruche has no lifecycle tasks that ran and stopped to run again).
    await local.restart(allocId, b.TaskName === "" ? undefined : b.TaskName);
    return { body: {} };
  });
}

/** How the routes find an allocation and the agent that runs it: from the state on a server, from the client alone on a client-only agent. */
export interface AllocLookup {
  /** All allocation ids known here, to resolve a prefix. */
  ids(): Iterable<string>;
  /** The agent that runs the allocation: its node's name and HTTP address. */
  agentOf(allocId: string): { name: string; addr: string } | undefined;
  /** This agent's own address. */
  self(): string;
  /** How to reach the node's agent; plain HTTP when absent. */
  dial?: Dial;
  /** A job as the servers hold it (`job action` reads its actions); absent where the agent holds no state. */
  job?(namespace: string, id: string): Job | undefined;
  /** The job an allocation belongs to (a `job action` runs only in the job's own allocations). */
  allocJob?(allocId: string): { JobID: string; Namespace: string } | undefined;
}

/** A full allocation id from an id or its unique prefix. */
export function resolveAllocId(ids: Iterable<string>, id: string): string {
  const matches: string[] = [];
  for (const x of ids) {
    if (x === id) return x;
    if (x.startsWith(id)) matches.push(x);
  }
  if (matches.length === 1) return matches[0] as string;
  if (matches.length === 0) throw new RucheError(ErrorCode.NotFound, `allocation "${id}" not found`);
  throw new RucheError(ErrorCode.BadRequest, `allocation prefix "${id}" matches ${matches.length} allocations; give more of the id`);
}

export function pickTask(local: NodeLocal, allocId: string, task: unknown): string {
  const names = local.tasks(allocId);
  if (typeof task === "string" && task !== "") {
    if (!names.includes(task)) throw new RucheError(ErrorCode.NotFound, `allocation has no task "${task}"; its tasks are ${names.join(", ")}`, { path: "task" });
    return task;
  }
  if (names.length === 1) return names[0] as string;
  throw new RucheError(ErrorCode.BadRequest, `the allocation has several tasks (${names.join(", ")}); name one`, { path: "task" });
}

/** Sends the request on to the agent of the allocation's node and streams its answer back. */
export async function forward(lookup: AllocLookup, allocId: string, req: Request, res: ServerResponse): Promise<Reply> {
  const node = lookup.agentOf(allocId);
  if (node === undefined || node.addr === "" || node.addr === lookup.self()) {
    throw new RucheError(ErrorCode.NotFound, `allocation "${allocId}" is not running on a node this agent can reach`);
  }
  if (req.headers["x-ruche-forwarded"] !== undefined) throw new RucheError(ErrorCode.BadGateway, `the agent at ${node.addr} does not run allocation "${allocId}"`);
  const dial = lookup.dial;
  const url = `${dial?.scheme ?? "http"}://${node.addr}${req.raw.url ?? req.path}`;
  let up: DialResponse;
  try {
    up = await dialFetch(url, {
      method: req.method,
      headers: { "x-ruche-forwarded": "1", "content-type": "application/json" },
      signal: req.signal,
      ...(req.body === undefined ? {} : { body: JSON.stringify(req.body) }),
      ...(dial?.dispatcher === undefined ? {} : { dispatcher: dial.dispatcher }),
    });
  } catch (err) {
    throw new RucheError(ErrorCode.BadGateway, `the agent of node ${node.name} at ${node.addr} did not answer: ${errorMessage(err)}`, { cause: err });
  }
  res.writeHead(up.status, { "content-type": up.headers.get("content-type") ?? "application/octet-stream" });
  if (up.body !== null) for await (const chunk of up.body) res.write(chunk);
  res.end();
  return { streamed: true };
}
