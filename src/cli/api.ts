import type { Dispatcher } from "undici";
import { ApiClient, fetchOver, tlsDispatcher } from "../apiclient/index.js";
import { flagBool, flagValues, UsageError, type Parsed } from "./args.js";
import { CommandError } from "./errors.js";
import type { IO } from "./io.js";
import { cliTls, TLS_FLAGS } from "./tls.js";

export const DEFAULT_ADDRESS = "127.0.0.1:4646";

/** Flags every command that talks to the API takes: where it is, how to reach it, and the ACL token to send. */
export const API_FLAGS = { address: { value: true }, token: { value: true }, region: { value: true }, namespace: { value: true }, ...TLS_FLAGS } as const;
/** Print the API's JSON instead of text. */
export const JSON_FLAG = { json: { value: false } } as const;
/** Show whole IDs instead of their first 8 characters. */
export const VERBOSE_FLAG = { verbose: { value: false } } as const;
/** Return once the change is accepted, without following it. */
export const DETACH_FLAG = { detach: { value: false } } as const;
/** Say yes to the confirmation a command would ask for. */
export const YES_FLAG = { yes: { value: false } } as const;

/**
 * The API client for `-address`, else `RUCHE_ADDR`, else `NOMAD_ADDR`, else 127.0.0.1:4646,
 * over TLS as `cliTls` says: an address without a scheme is https:// once a CA or a client
 * certificate is given, http:// otherwise; sending the ACL token `requestTokenOf` finds.
 * `jobRegion`: the region of the job a command submits (`job run`, `job plan`): every request
 * goes there, whatever -region says, as Nomad's CLI forces its client to the job's region;
 * "global" (a job that names none) leaves the region to -region and the environment.
 */
export function apiClient(p: Parsed, io: IO, jobRegion?: string): ApiClient {
  const address = flagValues(p, "address").at(-1) ?? io.env.RUCHE_ADDR ?? io.env.NOMAD_ADDR ?? DEFAULT_ADDRESS;
  if (address.trim() === "") throw new UsageError("-address must not be empty");
  const tls = cliTls(p, io.env, io.cwd);
  const token = requestTokenOf(p, io);
  const query = scopeQuery(p, io);
  if (jobRegion !== undefined && jobRegion !== "" && jobRegion !== "global") query.region = jobRegion;
  const base = { ...(token === undefined ? {} : { token }), ...(Object.keys(query).length === 0 ? {} : { query }) };
  if (tls === undefined) return new ApiClient(address, base);
  const dispatcher = tlsDispatcher(tls);
  opened.set(io, [...(opened.get(io) ?? []), dispatcher]);
  return new ApiClient(address, { tls, fetch: fetchOver(dispatcher), ...base });
}

/**
 * The `region` and `namespace` every request carries as query parameters, as Nomad's client
 * sends them: `-region`, else `RUCHE_REGION`, else `NOMAD_REGION`; `-namespace`, else
 * `RUCHE_NAMESPACE`, else `NOMAD_NAMESPACE`; absent when none is given (the servers take
 * "default"). "*" is sent as it is: lists span every namespace, and a job named by its ID is
 * found in whichever namespace holds it.
 */
export function scopeQuery(p: Parsed, io: IO): Record<string, string> {
  /** The first value given, flag first. */
  const pick = (flag: string, ...vars: string[]): string | undefined =>
    [flagValues(p, flag).at(-1), ...vars.map((v) => io.env[v])].map((v) => v?.trim() ?? "").find((v) => v !== "");
  const region = pick("region", "RUCHE_REGION", "NOMAD_REGION");
  const namespace = pick("namespace", "RUCHE_NAMESPACE", "NOMAD_NAMESPACE");
  return { ...(region === undefined ? {} : { region }), ...(namespace === undefined ? {} : { namespace }) };
}

/** The TLS connections each command line's clients opened, closed when it ends (`closeApiClients`). */
const opened = new WeakMap<IO, Dispatcher[]>();

/**
 * Closes the connections a command line's API clients opened, once it is done: a command run
 * in a process that goes on (`runCli` in an agent's tests, a watch) leaves none open behind it.
 */
export async function closeApiClients(io: IO): Promise<void> {
  const list = opened.get(io) ?? [];
  opened.delete(io);
  await Promise.all(list.map((d) => d.close().catch(() => undefined)));
}

/** The ACL token a command sends (as `X-Nomad-Token`): `-token`, else `RUCHE_TOKEN`, else `NOMAD_TOKEN`; none when all are empty. */
export function requestTokenOf(p: Parsed, io: IO): string | undefined {
  for (const t of [flagValues(p, "token").at(-1), io.env.RUCHE_TOKEN, io.env.NOMAD_TOKEN]) if (t !== undefined && t.trim() !== "") return t.trim();
  return undefined;
}

export function printJson(io: IO, value: unknown): void {
  io.out(`${JSON.stringify(value, null, 2)}\n`);
}

/** Prints `value` as JSON under `-json`, else as `text(value)` says, a line. */
export function printAs<T>(io: IO, p: Parsed, value: T, text: (value: T) => string): void {
  if (flagBool(p, "json")) printJson(io, value);
  else io.out(`${text(value)}\n`);
}

/** The positional arguments, checked to be exactly `names`. */
export function positionals(p: Parsed, ...names: string[]): string[] {
  if (p.positional.length < names.length) throw new UsageError(`this command needs ${names.join(" ")}`);
  if (p.positional.length > names.length) throw new UsageError(`unexpected argument "${p.positional[names.length] ?? ""}"`);
  return p.positional;
}

/** A whole number from the command line. */
export function wholeNumber(text: string, what: string): number {
  if (!/^\d+$/.test(text)) throw new UsageError(`${what} must be a whole number, got "${text}"`);
  const n = Number(text);
  if (!Number.isSafeInteger(n)) throw new UsageError(`${what} is too large: ${text}`);
  return n;
}

/**
 * Asks for a yes unless `-yes` was given. Without a terminal to ask on, the command stops
 * with `whyAsk` (what made it ask) and the advice to pass `-yes`.
 */
export async function confirm(p: Parsed, io: IO, question: string, whyAsk: string): Promise<boolean> {
  if (flagBool(p, "yes")) return true;
  if (io.ask === undefined) throw new CommandError(`${whyAsk}; pass -yes to go ahead without confirming`);
  const answer = (await io.ask(`${question} [y/N]`)).trim().toLowerCase();
  return answer === "y" || answer === "yes";
}
