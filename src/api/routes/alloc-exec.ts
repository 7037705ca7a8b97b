import type { Duplex } from "node:stream";
import { upgrade as dialUpgrade } from "undici";
import { ErrorCode, errorMessage, RucheError, type Logger, type WsConnection } from "../../structs/index.js";
import { errorResponse } from "../errors.js";
import type { Reply, Request, Router } from "../http.js";
import type { LocalExecSession, NodeLocal } from "../node-local.js";
import { acceptWebSocket, spliceWebSocket, wsCloseCode } from "../websocket.js";
import { pickTask, resolveAllocId, type AllocLookup } from "./alloc-fs.js";

/** How often an idle session says it is alive (Nomad's exec heartbeat, both ways). */
const HEARTBEAT_MS = 10_000;

/**
 * Nomad's streaming `alloc exec`: `GET /v1/client/allocation/:alloc/exec?task=&command=[…]&tty=`
 * upgraded to a WebSocket. In: `api.ExecStreamingInput` (`{"stdin":{"data":base64,"close":bool}}`,
 * `{"tty_size":{"height","width"}}`, `{}` heartbeats); out: `api.ExecStreamingOutput`
 * (`{"stdout":{"data"}}`, `{"stderr":…}`, then `{"exited":true,"result":{"exit_code":N}}` and a
 * normal close). An error once upgraded closes the socket with 4000 + its HTTP status (1011 for
 * a 500) and its message, which Nomad's client shows. No time limit: the session lasts as long
 * as the command or the connection.
 */
export function allocExecRoutes(r: Router, lookup: AllocLookup, local: NodeLocal | undefined, log: Logger): void {
  r.get("/v1/client/allocation/:alloc/exec", async (req) => {
    const allocId = resolveAllocId(lookup.ids(), req.params.alloc ?? "");
    if (local?.has(allocId) !== true) return forwardUpgrade(lookup, allocId, req);
    const cmd = parseCommand(req.query.get("command"));
    const tty = parseBool(req.query.get("tty"), "tty");
    const task = pickTask(local, allocId, req.query.get("task") ?? undefined);
    return localSession(req, local, { allocId, task, cmd, tty }, log);
  });

  /**
   * Nomad's task actions (`nomad action`): `GET /v1/job/:id/action?action=&allocID=&group=&task=&tty=`
   * upgraded to a WebSocket, the session of `alloc exec` running the command and args the
   * task's `action` block declares. Nomad's client always names the allocation; so must the
   * caller here (its driver decides the capabilities asked).
   */
  r.get("/v1/job/:id/action", async (req) => {
    const namespace = req.query.get("namespace") ?? "default";
    const jobId = req.params.id ?? "";
    const job = lookup.job?.(namespace, jobId);
    if (job === undefined) throw new RucheError(ErrorCode.NotFound, lookup.job === undefined ? "this agent holds no jobs: ask a server" : `job "${jobId}" not found in namespace "${namespace}"`);
    const name = req.query.get("action") ?? "";
    if (name === "") throw new RucheError(ErrorCode.BadRequest, "action is missing: the name of one of the task's action blocks", { path: "action" });
    const allocParam = req.query.get("allocID") ?? "";
    if (allocParam === "") throw new RucheError(ErrorCode.BadRequest, "allocID is missing: the allocation to run the action in", { path: "allocID" });
    const allocId = resolveAllocId(lookup.ids(), allocParam);
    const owner = lookup.allocJob?.(allocId);
    if (owner === undefined || owner.JobID !== job.ID || owner.Namespace !== job.Namespace) throw new RucheError(ErrorCode.BadRequest, `allocation ${allocId} is not one of job "${job.ID}"'s (namespace "${job.Namespace}")`, { path: "allocID" });
    const task = req.query.get("task") ?? "";
    const group = req.query.get("group") ?? "";
    const t = job.TaskGroups.find((g) => group === "" || g.Name === group)?.Tasks.find((x) => x.Name === task);
    if (t === undefined) throw new RucheError(ErrorCode.NotFound, `job "${job.ID}" has no task "${task}"${group === "" ? "" : ` in group "${group}"`}`, { path: "task" });
    const action = (t.Actions ?? []).find((a) => a.Name === name);
    if (action === undefined) throw new RucheError(ErrorCode.NotFound, `action "${name}" not found in task "${task}"`, { path: "action" });
    const tty = parseBool(req.query.get("tty"), "tty");
    const exec = `/v1/client/allocation/${encodeURIComponent(allocId)}/exec?task=${encodeURIComponent(task)}&tty=${String(tty)}&command=${encodeURIComponent(JSON.stringify([action.Command, ...action.Args]))}`;
    if (local?.has(allocId) !== true) return forwardUpgrade(lookup, allocId, req, exec);
    return localSession(req, local, { allocId, task, cmd: [action.Command, ...action.Args], tty }, log);
  });
}

/** Takes the WebSocket and runs the command as a session in a task this agent runs. */
function localSession(req: Request, local: NodeLocal, s: { allocId: string; task: string; cmd: string[]; tty: boolean }, log: Logger): Reply {
  if (local.execStreaming === undefined) throw new RucheError(ErrorCode.BadRequest, "this agent cannot run interactive commands");
  const execStreaming = local.execStreaming.bind(local);
  const ws = acceptWebSocket(req);
  void runSession(ws, () => execStreaming(s.allocId, s.task, s.cmd, { tty: s.tty, output: (stream, data) => { ws.send(JSON.stringify({ [stream]: { data: data.toString("base64") } })); } }), { log, allocId: s.allocId, task: s.task });
  return { streamed: true };
}

async function runSession(ws: WsConnection, start: () => Promise<LocalExecSession>, who: { log: Logger; allocId: string; task: string }): Promise<void> {
  // Input that comes while the command starts waits for it.
  const early: string[] = [];
  let session: LocalExecSession | undefined;
  // Set by the input handler when a message is not one: the session is over.
  const state = { failed: false };
  const onInput = (text: string): void => {
    if (session === undefined) {
      early.push(text);
      return;
    }
    const problem = applyInput(session, text);
    if (problem !== undefined && !state.failed) {
      state.failed = true;
      session.kill();
      ws.close(wsCloseCode(400), problem);
    }
  };
  ws.message(onInput);
  ws.closing(() => session?.kill());
  const heartbeat = setInterval(() => { ws.send("{}"); }, HEARTBEAT_MS);
  try {
    try {
      session = await start();
    } catch (err) {
      const e = errorResponse(err);
      if (e.status >= 500) who.log.error({ err, allocId: who.allocId, task: who.task }, "starting an interactive exec failed");
      ws.close(wsCloseCode(e.status), e.status >= 500 ? "internal error" : e.body.error.message);
      return;
    }
    if (!ws.isOpen()) {
      session.kill();
      return;
    }
    for (const text of early.splice(0)) onInput(text);
    const code = await session.exited;
    if (state.failed || !ws.isOpen()) return;
    ws.send(JSON.stringify({ exited: true, result: { exit_code: code } }));
    ws.close(1000);
  } finally {
    clearInterval(heartbeat);
  }
}

/** One `api.ExecStreamingInput` applied to the command; a message that is not one is a sentence saying why. */
function applyInput(s: LocalExecSession, text: string): string | undefined {
  let m: unknown;
  try {
    m = JSON.parse(text);
  } catch {
    return "an exec message must be JSON (api.ExecStreamingInput)";
  }
  if (typeof m !== "object" || m === null || Array.isArray(m)) return "an exec message must be a JSON object (api.ExecStreamingInput)";
  const { stdin, tty_size: size } = m as { stdin?: unknown; tty_size?: unknown };
  if (stdin !== undefined && stdin !== null) {
    if (typeof stdin !== "object") return "stdin must be an object: {\"data\": base64, \"close\": bool}";
    const { data, close } = stdin as { data?: unknown; close?: unknown };
    if (data !== undefined && data !== null) {
      if (typeof data !== "string") return "stdin.data must be base64 text";
      if (data !== "") s.write(Buffer.from(data, "base64"));
    }
    if (close === true) s.closeStdin();
  }
  if (size !== undefined && size !== null) {
    if (typeof size !== "object") return "tty_size must be an object: {\"height\": rows, \"width\": columns}";
    const { height, width } = size as { height?: unknown; width?: unknown };
    if (!isDimension(height) || !isDimension(width)) return "tty_size.height and tty_size.width must be whole numbers from 0 to 65535";
    s.resize(height, width);
  }
  return undefined;
}

function isDimension(n: unknown): n is number {
  return typeof n === "number" && Number.isInteger(n) && n >= 0 && n <= 65_535;
}

/** `command`: a JSON list of strings, as Nomad's client sends it (`["/bin/sh","-c","echo hi"]`). */
function parseCommand(raw: string | null): string[] {
  if (raw === null || raw === "") throw new RucheError(ErrorCode.BadRequest, 'command is missing: a JSON list of strings, such as ["/bin/sh"]', { path: "command" });
  let cmd: unknown;
  try {
    cmd = JSON.parse(raw);
  } catch {
    throw new RucheError(ErrorCode.BadRequest, `command must be a JSON list of strings, such as ["/bin/sh"]; got ${JSON.stringify(raw)}`, { path: "command" });
  }
  if (!Array.isArray(cmd) || cmd.length === 0 || !cmd.every((x) => typeof x === "string") || cmd[0] === "") {
    throw new RucheError(ErrorCode.BadRequest, 'command must be a non-empty JSON list of strings, such as ["/bin/sh"]', { path: "command" });
  }
  return cmd;
}

function parseBool(raw: string | null, name: string): boolean {
  if (raw === null || raw === "") return false;
  if (raw === "true" || raw === "1") return true;
  if (raw === "false" || raw === "0") return false;
  throw new RucheError(ErrorCode.BadRequest, `${name} must be true or false, got "${raw}"`, { path: name });
}

/** Sends the upgrade on to the agent of the allocation's node, answers the client with its 101 and joins the two sockets. */
async function forwardUpgrade(lookup: AllocLookup, allocId: string, req: Request, path = req.raw.url ?? req.path): Promise<Reply> {
  const node = lookup.agentOf(allocId);
  if (node === undefined || node.addr === "" || node.addr === lookup.self()) {
    throw new RucheError(ErrorCode.NotFound, `allocation "${allocId}" is not running on a node this agent can reach`);
  }
  if (req.headers["x-ruche-forwarded"] !== undefined) throw new RucheError(ErrorCode.BadGateway, `the agent at ${node.addr} does not run allocation "${allocId}"`);
  const client = req.upgrade;
  if (client === undefined) throw new RucheError(ErrorCode.BadRequest, `${req.path} is served over a WebSocket: send the request with "Connection: Upgrade" and "Upgrade: websocket"`);
  const dial = lookup.dial;
  const url = `${dial?.scheme ?? "http"}://${node.addr}${path}`;
  const headers: Record<string, string> = { "x-ruche-forwarded": "1" };
  for (const h of ["sec-websocket-key", "sec-websocket-version", "x-nomad-token", "authorization"]) {
    const v = req.headers[h];
    if (typeof v === "string") headers[h] = v;
  }
  let up: { headers: Record<string, string | string[] | undefined>; socket: Duplex };
  try {
    up = await dialUpgrade(url, { method: "GET", headers, protocol: "websocket", signal: req.signal, ...(dial?.dispatcher === undefined ? {} : { dispatcher: dial.dispatcher }) });
  } catch (err) {
    throw new RucheError(ErrorCode.BadGateway, `the agent of node ${node.name} at ${node.addr} did not take the WebSocket: ${errorMessage(err)}`, { cause: err });
  }
  spliceWebSocket(client, up);
  return { streamed: true };
}
