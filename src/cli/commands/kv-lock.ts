import { spawn } from "node:child_process";
import { hostname } from "node:os";
import { constants } from "node:os";
import type { ApiClient } from "../../apiclient/index.js";
import { NS, parseDuration } from "../../structs/index.js";
import { flagValues, parseArgs, UsageError, type FlagSpec } from "../args.js";
import { API_FLAGS, apiClient, DEFAULT_ADDRESS } from "../api.js";
import { CommandError } from "../errors.js";
import { Exit, type IO } from "../io.js";

export const usage = `Usage: ruche kv lock [options] PREFIX CMD [ARG...]

  Runs CMD while holding the lock PREFIX/.lock, so that of all the "ruche kv lock PREFIX"
  running anywhere, one runs its command at a time. Waits for the lock, runs CMD (its
  arguments as given, no shell), releases the lock when CMD exits, and exits with CMD's
  exit code. The lock belongs to a session this command keeps alive while CMD runs; if
  the lock is lost (the session ended, the key was taken), CMD gets SIGTERM and the
  command exits 1. Interrupting the command passes the signal to CMD.

Options:
  -address ADDR     the Ruche API (default: $RUCHE_ADDR, else ${DEFAULT_ADDRESS})
  -name NAME        the session's name (default: "ruche kv lock PREFIX")
  -ttl DURATION     the session's TTL, renewed at half of it (default 15s)
  -timeout DURATION give up waiting for the lock after this long (default: wait on)
`;

const FLAGS: Readonly<Record<string, FlagSpec>> = { ...API_FLAGS, name: { value: true }, ttl: { value: true }, timeout: { value: true } };

/** The command's own flags come before PREFIX; everything after PREFIX is CMD's, dashes included. */
function splitArgv(argv: readonly string[]): { own: string[]; prefix: string; cmd: string[] } {
  let i = 0;
  while (i < argv.length) {
    const a = argv[i] ?? "";
    if (a === "--") {
      i++;
      break;
    }
    if (!a.startsWith("-") || a === "-") break;
    const name = a.replace(/^--?/, "").split("=")[0] ?? "";
    i += FLAGS[name]?.value === true && !a.includes("=") ? 2 : 1;
  }
  const [prefix, ...cmd] = argv.slice(i);
  if (prefix === undefined || prefix === "") throw new UsageError("this command needs PREFIX and CMD");
  if (cmd.length === 0) throw new UsageError("this command needs CMD to run while holding the lock");
  return { own: argv.slice(0, i).filter((a) => a !== "--"), prefix, cmd };
}

function duration(text: string | undefined, flag: string, dflt: number): number {
  if (text === undefined) return dflt;
  const ns = parseDuration(text);
  if (ns === undefined || ns <= 0) throw new UsageError(`${flag} must be a duration such as "15s", got "${text}"`);
  return ns / NS.millisecond;
}

export async function run(argv: readonly string[], io: IO): Promise<number> {
  const { own, prefix, cmd } = splitArgv(argv);
  const p = parseArgs(own, FLAGS);
  const ttlMs = duration(flagValues(p, "ttl").at(-1), "-ttl", 15_000);
  if (ttlMs < 10_000 || ttlMs > 86_400_000) throw new UsageError("-ttl must be between 10s and 24h");
  const timeoutMs = duration(flagValues(p, "timeout").at(-1), "-timeout", Infinity);
  const api = apiClient(p, io);
  const key = `${prefix.replace(/\/+$/, "")}/.lock`;
  const name = flagValues(p, "name").at(-1) ?? `ruche kv lock ${prefix}`;

  const session = await api.sessionCreate({ Name: name, TTL: `${Math.round(ttlMs / 1000)}s`, Behavior: "release" });
  const stop = new AbortController();
  try {
    const renewing = renew(api, session, ttlMs / 2, stop.signal);
    const held = await acquire(api, key, session, timeoutMs, stop.signal);
    if (!held) throw new CommandError(`Did not get the lock on ${key} within ${flagValues(p, "timeout").at(-1) ?? ""}`);
    const lost = Promise.race([renewing, keepsLock(api, key, session, stop.signal)]);
    const code = await runHolding(cmd, io, lost);
    if (code === "lost") {
      io.err(`==> Lost the lock on ${key}: the command was stopped\n`);
      return Exit.Error;
    }
    // Release before the session ends: a release is not followed by a lock delay, an ended session is.
    await api.kvPut(key, Buffer.alloc(0), { release: session }).catch(() => false);
    return code;
  } finally {
    stop.abort();
    await api.sessionDestroy(session).catch(() => undefined);
  }
}

/**
 * Tries to take the key; while another session holds it, waits for the key to change.
 * A free key that cannot be taken is in its lock delay (its last holder's session ended):
 * tried again each second.
 */
async function acquire(api: ApiClient, key: string, session: string, timeoutMs: number, signal: AbortSignal): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  const value = Buffer.from(JSON.stringify({ Session: session, Host: hostname(), Pid: process.pid }));
  const aborted = (): boolean => signal.aborted;
  for (;;) {
    if (await api.kvPut(key, value, { acquire: session })) return true;
    const left = deadline - Date.now();
    if (left <= 0 || aborted()) return false;
    const now = await api.kvRead(key);
    const holder = now.entries[0]?.Session ?? "";
    if (holder === "") await new Promise((res) => setTimeout(res, Math.min(left, 1000)));
    else await api.kvRead(key, { index: now.index, wait: `${Math.max(1, Math.min(left, 60_000))}ms`, signal });
  }
}

/** Renews the session at `everyMs`; resolves "lost" when the session is gone. */
async function renew(api: ApiClient, session: string, everyMs: number, signal: AbortSignal): Promise<"lost"> {
  const aborted = (): boolean => signal.aborted;
  while (!aborted()) {
    await new Promise((res) => setTimeout(res, everyMs).unref());
    if (aborted()) break;
    const alive = await api.sessionRenew(session).catch(() => true);
    if (!alive) return "lost";
  }
  return new Promise(() => undefined);
}

/** Resolves "lost" when the key is no longer held by the session. */
async function keepsLock(api: ApiClient, key: string, session: string, signal: AbortSignal): Promise<"lost"> {
  const aborted = (): boolean => signal.aborted;
  let index = 0;
  while (!aborted()) {
    let r: { entries: { Session: string }[]; index: number };
    try {
      r = await api.kvRead(key, { index, wait: "60s", signal });
    } catch {
      if (aborted()) break;
      await new Promise((res) => setTimeout(res, 1000).unref());
      continue;
    }
    if (r.entries[0]?.Session !== session) return "lost";
    index = r.index < index ? 0 : r.index;
  }
  return new Promise(() => undefined);
}

/** Runs CMD, its output passed on; its exit code (128+n for signal n), or "lost" if the lock went first. */
async function runHolding(cmd: string[], io: IO, lost: Promise<"lost">): Promise<number | "lost"> {
  const [file = "", ...args] = cmd;
  // Its own process group, so that a stop reaches what CMD started too (a shell's children).
  const child = spawn(file, args, { stdio: ["inherit", "pipe", "pipe"], cwd: io.cwd, env: { ...io.env }, detached: true });
  const signalGroup = (sig: NodeJS.Signals): void => {
    try {
      if (child.pid !== undefined) process.kill(-child.pid, sig);
    } catch {
      // Already gone.
    }
  };
  child.stdout.on("data", (b: Buffer) => {
    io.out(b.toString("utf8"));
  });
  child.stderr.on("data", (b: Buffer) => {
    io.err(b.toString("utf8"));
  });
  const forward = (sig: NodeJS.Signals) => (): void => {
    signalGroup(sig);
  };
  const onInt = forward("SIGINT");
  const onTerm = forward("SIGTERM");
  process.on("SIGINT", onInt);
  process.on("SIGTERM", onTerm);
  const exited = new Promise<number>((resolve, reject) => {
    child.once("error", (err) => {
      reject(new CommandError(`cannot run ${file}: ${err.message}`));
    });
    child.once("close", (code, signal) => {
      resolve(code ?? 128 + (signal === null ? 0 : constants.signals[signal]));
    });
  });
  try {
    const first = await Promise.race([exited, lost]);
    if (first !== "lost") return first;
    signalGroup("SIGTERM");
    const killer = setTimeout(() => {
      signalGroup("SIGKILL");
    }, 10_000);
    await exited.catch(() => undefined);
    clearTimeout(killer);
    return "lost";
  } finally {
    process.off("SIGINT", onInt);
    process.off("SIGTERM", onTerm);
  }
}
