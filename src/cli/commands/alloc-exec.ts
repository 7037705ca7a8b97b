import type { ApiClient } from "../../apiclient/index.js";
import { ErrorCode, RucheError, type WsConnection } from "../../structs/index.js";
import { flagBool, flagValues, parseArgs, UsageError, type Parsed } from "../args.js";
import { API_FLAGS, apiClient, DEFAULT_ADDRESS, wholeNumber } from "../api.js";
import type { CommandInput, IO } from "../io.js";
import { resolveAlloc } from "../resolve.js";
import { pickTask } from "./alloc-logs.js";

export const usage = `Usage: ruche alloc exec [options] ALLOC [TASK] COMMAND [ARGS...]

  Runs a command inside a running task of an allocation (ID or the start of one) — the
  same filesystem, environment and limits as the task — as \`nomad alloc exec\` does: an
  interactive session over a WebSocket, the terminal in raw mode and its size followed
  when there is one (-t), your input sent to the command (-i). The exit code is the
  command's. Options go before ALLOC; everything after the command is its own. TASK may
  be left out when the allocation has one task.

  Without -i or -t and with no terminal, the command runs to its end with no input, for
  at most -timeout seconds, and its output is printed when it is done.

Options:
  -address ADDR   the Ruche API (default: $RUCHE_ADDR, else ${DEFAULT_ADDRESS})
  -task NAME      the task (instead of the TASK argument)
  -i              send your input to the command (default: true in a session)
  -t              a terminal for the command (default: when input and output are terminals)
  -timeout SECS   without a session: stop the command after this many seconds (default 60)
`;

const SPEC = { ...API_FLAGS, task: { value: true }, timeout: { value: true }, i: { value: false }, t: { value: false } } as const;

/** How often a quiet session tells the agent it is alive, as Nomad's client does. */
const HEARTBEAT_MS = 10_000;

export async function run(argv: readonly string[], io: IO): Promise<number> {
  // Options end at ALLOC: what follows belongs to the command, dashes and all.
  let i = 0;
  while (i < argv.length && (argv[i] ?? "").startsWith("-")) {
    const arg = argv[i] ?? "";
    const name = arg.replace(/^--?/, "").split("=")[0] ?? "";
    const spec = (SPEC as Record<string, { value: boolean } | undefined>)[name];
    i += spec?.value === true && !arg.includes("=") ? 2 : 1;
  }
  const p = parseArgs(argv.slice(0, i), SPEC);
  const [id, ...rest] = argv.slice(i);
  if (id === undefined || rest.length === 0) throw new UsageError("this command needs ALLOC and a COMMAND");
  const api = apiClient(p, io);
  const alloc = await resolveAlloc(api, id);
  const tasks = Object.keys(alloc.TaskResources);
  let named = flagValues(p, "task").at(-1);
  let cmd = rest;
  if (named === undefined && rest.length > 1 && tasks.includes(rest[0] ?? "")) {
    named = rest[0];
    cmd = rest.slice(1);
  }
  const task = pickTask(named, tasks);
  const input = io.stdin;
  const timeout = flagValues(p, "timeout").at(-1);
  const session = p.flags.has("i") || p.flags.has("t") || input?.isTTY === true;
  if (session) {
    if (timeout !== undefined) throw new UsageError("-timeout goes with a command run without a session (no -i or -t); a session lasts as long as the command");
    return interactive(api, alloc.ID, task, cmd, io, input, p);
  }
  const r = (await api.allocExec(alloc.ID, { Task: task, Cmd: cmd, TimeoutMs: (timeout === undefined ? 60 : wholeNumber(timeout, "-timeout")) * 1000 })).body;
  io.out(Buffer.from(r.Stdout, "base64").toString("utf8"));
  const err = Buffer.from(r.Stderr, "base64").toString("utf8");
  if (err !== "") io.err(err);
  if (r.TimedOut) {
    io.err(`the command was stopped after ${timeout ?? 60}s\n`);
    return 124;
  }
  return r.ExitCode;
}

/** Nomad's exec session: input (raw when a terminal), output as it comes, the terminal's size, the exit code. */
async function interactive(api: ApiClient, allocId: string, task: string, cmd: string[], io: IO, input: CommandInput | undefined, p: Parsed): Promise<number> {
  const stdinOpt = p.flags.has("i") ? flagBool(p, "i") : true;
  const tty = p.flags.has("t") ? flagBool(p, "t") : input?.isTTY === true && process.stdout.isTTY;
  const ws = await api.allocExecSession(allocId, { task, command: cmd, tty });
  const send = (m: unknown): void => { ws.send(JSON.stringify(m)); };
  const raw = tty && stdinOpt && input?.isTTY === true && input.setRawMode !== undefined;
  const cleanups: (() => void)[] = [];
  try {
    if (raw) {
      input.setRawMode?.(true);
      cleanups.push(() => input.setRawMode?.(false));
    }
    if (tty && process.stdout.isTTY) {
      const size = (): void => { send({ tty_size: { height: process.stdout.rows, width: process.stdout.columns } }); };
      size();
      process.stdout.on("resize", size);
      cleanups.push(() => process.stdout.off("resize", size));
    }
    if (stdinOpt && input !== undefined) {
      const onData = (b: Buffer | string): void => { send({ stdin: { data: Buffer.from(b).toString("base64") } }); };
      const onEnd = (): void => { send({ stdin: { close: true } }); };
      input.on("data", onData);
      input.once("end", onEnd);
      input.resume();
      cleanups.push(() => {
        input.off("data", onData);
        input.off("end", onEnd);
        input.pause();
      });
    } else {
      // No input (-i=false, or none to read): the command reads an end of file at once, as Nomad's.
      send({ stdin: { close: true } });
    }
    const heartbeat = setInterval(() => { send({}); }, HEARTBEAT_MS);
    cleanups.push(() => { clearInterval(heartbeat); });
    return await outcome(ws, io);
  } finally {
    for (const c of cleanups.reverse()) c();
    if (ws.isOpen()) ws.close(1000);
  }
}

/** Prints the session's output until the command's exit code comes; a close without one is the agent's error. */
function outcome(ws: WsConnection, io: IO): Promise<number> {
  const out = new TextDecoder();
  const err = new TextDecoder();
  return new Promise((resolve, reject) => {
    ws.message((text) => {
      let m: { stdout?: { data?: string }; stderr?: { data?: string }; exited?: boolean; result?: { exit_code?: number } };
      try {
        m = JSON.parse(text) as typeof m;
      } catch {
        return;
      }
      if (typeof m.stdout?.data === "string") io.out(out.decode(Buffer.from(m.stdout.data, "base64"), { stream: true }));
      if (typeof m.stderr?.data === "string") io.err(err.decode(Buffer.from(m.stderr.data, "base64"), { stream: true }));
      if (m.exited === true && m.result !== undefined) {
        const rest = out.decode();
        if (rest !== "") io.out(rest);
        resolve(m.result.exit_code ?? 0);
      }
    });
    ws.closing((code, reason) => {
      const why = reason === "" ? `the session ended before the command's exit code came (WebSocket close ${code})` : reason;
      // 4000 + an HTTP status: the agent's refusal, with its message.
      reject(new RucheError(code >= 4400 && code < 4500 ? (code === 4404 ? ErrorCode.NotFound : code === 4409 ? ErrorCode.Conflict : ErrorCode.BadRequest) : ErrorCode.BadGateway, why));
    });
  });
}
