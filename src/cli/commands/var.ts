import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import type { Variable, VariableMetadata } from "../../structs/index.js";
import { flagBool, flagValues, parseArgs, UsageError, type Parsed } from "../args.js";
import { API_FLAGS, apiClient, DEFAULT_ADDRESS, printJson, scopeQuery } from "../api.js";
import { CommandError } from "../errors.js";
import { formatKV, formatTable } from "../format/index.js";
import { Exit, processIO, type CommandInput, type IO } from "../io.js";

/**
 * Nomad's variables from the command line, as Nomad's `var get|put|list|purge`
 * (`command/var_*.go`): the same arguments, messages and outputs (`-out table|json|terse`).
 * A variable specification is read as JSON (`-in=json`, Nomad's default); HCL specifications
 * (`-in=hcl`, `@file.hcl`) and Go templates (`-out=go-template`) are refused, saying so.
 */

const ADDRESS_HELP = `  -address ADDR   the Ruche API (default: $RUCHE_ADDR, else $NOMAD_ADDR, else ${DEFAULT_ADDRESS})
  -token SECRET   an ACL token (default: $RUCHE_TOKEN, else $NOMAD_TOKEN)
  -namespace NS   the variable's namespace (default: $RUCHE_NAMESPACE, else $NOMAD_NAMESPACE, else "default")`;

const WILDCARD = 'The wildcard namespace ("*") is not valid for this command.';

/** Nomad's `formatUnixNanoTime`: ISO 8601 in UTC, nothing for an unset time. */
function nanoTime(ns: number): string {
  if (ns < 1e9) return "";
  return new Date(Math.floor(ns / 1e6)).toISOString().replace(/\.\d{3}Z$/, "Z");
}

/** Nomad's `renderSVAsUiTable`: the metadata, then the items sorted by key. */
export function variableTable(v: Variable): string {
  const meta: [string, string][] = [
    ["Namespace", v.Namespace],
    ["Path", v.Path],
    ["Create Time", nanoTime(v.CreateTime)],
  ];
  if (v.CreateTime !== v.ModifyTime) meta.push(["Modify Time", nanoTime(v.ModifyTime)]);
  meta.push(["Check Index", String(v.ModifyIndex)]);
  const items = Object.keys(v.Items)
    .sort()
    .map((k): [string, string] => [k, v.Items[k] ?? ""]);
  return `${formatKV(meta)}\n\nItems\n${formatKV(items)}`;
}

/** Nomad's `formatVarStubs`: Namespace, Path, Last Updated; "No matching variables found" when none. */
export function variablesTable(list: readonly VariableMetadata[]): string {
  if (list.length === 0) return "No matching variables found";
  const sorted = [...list].sort((a, b) => (a.Namespace !== b.Namespace ? (a.Namespace < b.Namespace ? -1 : 1) : a.Path < b.Path ? -1 : a.Path > b.Path ? 1 : 0));
  return formatTable(
    ["Namespace", "Path", "Last Updated"],
    sorted.map((v) => [v.Namespace, v.Path, nanoTime(v.ModifyTime)]),
  );
}

/** The namespace a command names: "*" is refused for one variable, as Nomad's. */
function oneNamespace(p: Parsed, io: IO): string {
  const ns = scopeQuery(p, io).namespace ?? "default";
  if (ns === "*") throw new CommandError(WILDCARD);
  return ns;
}

/**
 * The `-out` format: as given, else `-json`'s, else as Nomad picks it: `fallback` on a
 * terminal, JSON when the process's standard output is not one (a pipe, a file).
 */
function outFormat(p: Parsed, io: IO, allowed: readonly string[], fallback: string): string {
  const piped = io === processIO && !process.stdout.isTTY;
  const out = flagValues(p, "out").at(-1) ?? (flagBool(p, "json") || piped ? "json" : fallback);
  if (out === "go-template") throw new UsageError('-out=go-template is not supported by Ruche: use -out=json and a JSON tool');
  if (!allowed.includes(out)) throw new UsageError(`Invalid value for "-out"; valid values are [${allowed.join(", ")}]`);
  return out;
}

/** Nomad's `-check-index`: a whole number. */
function checkIndexOf(p: Parsed): number | undefined {
  const text = flagValues(p, "check-index").at(-1);
  if (text === undefined || text === "") return undefined;
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(Number(text))) throw new UsageError(`Invalid -check-index value "${text}": not parsable as uint64`);
  return Number(text);
}

/** Nomad's check-and-set conflict message. */
function casConflict(given: number, conflict: Variable): CommandError {
  const last = conflict.ModifyIndex > 0 ? `\n\n    The server-side item was last updated on ${nanoTime(conflict.ModifyTime)}.` : "";
  return new CommandError(
    `Check-and-Set conflict\n\n    Your provided check-index (${given}) does not match the server-side index (${conflict.ModifyIndex}).${last}\n\n    If you are sure you want to perform this operation, add the -force or -check-index=${conflict.ModifyIndex} flag before the positional arguments.`,
  );
}

async function readAll(input: CommandInput): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of input) chunks.push(typeof c === "string" ? Buffer.from(c) : c);
  return Buffer.concat(chunks).toString("utf8");
}

export const get = {
  usage: `Usage: ruche var get [options] <path>

  Prints a variable: its metadata and items (-out table, the default), the whole of it as
  JSON (-out json), or with -item KEY only that item's value.

Options:
${ADDRESS_HELP}
  -item KEY       print only the value of item KEY
  -out FORMAT     table (default) or json
  -json           as -out json
`,
  async run(argv: readonly string[], io: IO): Promise<number> {
    const p = parseArgs(argv, { ...API_FLAGS, item: { value: true }, out: { value: true }, json: { value: false } });
    if (p.positional.length !== 1) throw new UsageError("This command takes one argument: <path>");
    const path = trimSlashes(p.positional[0] ?? "");
    oneNamespace(p, io);
    const item = flagValues(p, "item").at(-1);
    const out = item === undefined ? outFormat(p, io, ["json", "table"], "table") : "table";
    const v = await apiClient(p, io).varGet(path);
    if (v === null) throw new CommandError("Variable not found");
    if (item !== undefined) {
      const value = v.Items[item];
      if (value === undefined) throw new CommandError(`Variable does not contain "${item}" item`);
      io.out(`${value}\n`);
      return Exit.Ok;
    }
    if (out === "json") printJson(io, v);
    else io.out(`${variableTable(v)}\n`);
    return Exit.Ok;
  },
};

export const put = {
  usage: `Usage: ruche var put [options] <path> [<key>=<value>]...
       ruche var put [options] <path> - [<key>=<value>]...
       ruche var put [options] - | @<file.json>

  Creates or replaces a variable. Its items come from KEY=VALUE arguments (VALUE "@FILE"
  reads a file, "-" standard input; "KEY=" removes an item), from a JSON specification
  (Nomad's api.Variable: {"Path": ..., "Items": {...}}) on standard input ("-") or in a file
  ("@FILE"), or both, the arguments winning. Without -force or -check-index the write is a
  check-and-set against the specification's ModifyIndex (0: only if the variable does not
  exist yet), as Nomad's.

Options:
${ADDRESS_HELP}
  -check-index N  write only if the variable's modify index is N (0: only if absent)
  -force          write whatever the variable's modify index
  -in json        the format of a specification (JSON only)
  -out FORMAT     none (default: "Created variable ..."), json or table
  -verbose        say where the items come from, on standard error
`,
  async run(argv: readonly string[], io: IO): Promise<number> {
    const p = parseArgs(argv, { ...API_FLAGS, "check-index": { value: true }, force: { value: false }, in: { value: true }, out: { value: true }, json: { value: false }, verbose: { value: false } });
    const inFmt = flagValues(p, "in").at(-1) ?? "json";
    if (inFmt === "hcl") throw new UsageError("-in=hcl: Ruche reads variable specifications as JSON only (-in=json)");
    if (inFmt !== "json") throw new UsageError('Invalid value for "-in"; valid values are [hcl, json]');
    const out = outFormat(p, io, ["none", "json", "table"], "none");
    const ns = oneNamespace(p, io);
    const verbose = (m: string): void => {
      if (flagBool(p, "verbose")) io.err(`${m}\n`);
    };
    const args = [...p.positional];
    if (args.length < 1) throw new UsageError("Not enough arguments (expected >1, got 0)");
    const isRef = (a: string): boolean => a === "-" || a.startsWith("@");
    if (args.length === 1 && !isRef(args[0] ?? "")) throw new UsageError("Must supply data");
    let stdinUsed = false;
    const stdin = async (): Promise<string> => {
      if (stdinUsed) throw new UsageError("stdin already consumed");
      stdinUsed = true;
      return readAll(io.stdin ?? process.stdin);
    };
    let spec: { Path?: unknown; Items?: unknown; ModifyIndex?: unknown } | undefined;
    let parsed: unknown;
    let path = "";
    const readSpec = async (ref: string): Promise<void> => {
      if (/\.(hcl|nv\.hcl)$/.test(ref)) throw new UsageError(`${ref.slice(1)}: Ruche reads variable specifications as JSON only (a .json file, or -in=json on standard input)`);
      const text = ref === "-" ? await stdin() : await readSpecFile(resolve(io.cwd, ref.slice(1)));
      verbose(ref === "-" ? "Reading whole JSON variable specification from stdin" : `Reading whole JSON variable specification from "${ref.slice(1)}"`);
      try {
        parsed = JSON.parse(text);
      } catch (err) {
        throw new CommandError(`Failed to parse variable data: ${(err as Error).message}`);
      }
      if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) throw new CommandError("Failed to parse variable data: the specification must be a JSON object (Nomad's api.Variable)");
      spec = parsed;
    };
    const first = args.shift() ?? "";
    if (isRef(first)) await readSpec(first);
    else {
      path = trimSlashes(first);
      verbose(`Writing to path "${path}"`);
      const next = args[0];
      if (next !== undefined && isRef(next) && !next.includes("=")) {
        args.shift();
        await readSpec(next);
      }
    }
    if (path === "") path = typeof spec?.Path === "string" ? trimSlashes(spec.Path) : "";
    if (path === "") throw new UsageError("the variable needs a path: give it as the first argument or as Path in the specification");
    const items = new Map<string, string>();
    if (spec?.Items !== undefined && spec.Items !== null) {
      if (typeof spec.Items !== "object" || Array.isArray(spec.Items)) throw new CommandError("Failed to parse variable data: Items must map names to strings");
      for (const [k, v] of Object.entries(spec.Items)) {
        if (typeof v !== "string") throw new CommandError(`Failed to parse variable data: Items.${k} must be a string`);
        items.set(k, v);
      }
    }
    for (const a of args) {
      const eq = a.indexOf("=");
      if (eq <= 0) throw new CommandError(`Failed to parse K=V data: invalid key/value pair "${a}": format must be key=value`);
      const k = a.slice(0, eq);
      let v = a.slice(eq + 1);
      if (v.startsWith("@")) v = await readSpecFile(resolve(io.cwd, v.slice(1)));
      else if (v.startsWith("\\@")) v = v.slice(1);
      else if (v === "-") v = await stdin();
      if (v === "") {
        verbose(items.has(k) ? `Removed item "${k}"` : `Item "${k}" does not exist, continuing...`);
        items.delete(k);
        continue;
      }
      const invalid = [...new Set(k.match(/[^\p{N}\p{L}_]/gu) ?? [])].map((c) => `"${c}"`).sort();
      if (invalid.length > 0) io.err(`Variable Warnings:\n* "${k}" contains characters [${invalid.join(",")}] that require the 'index' function for direct access in templates\n`);
      items.set(k, v);
    }
    const specIndex = typeof spec?.ModifyIndex === "number" ? spec.ModifyIndex : 0;
    const cas = flagBool(p, "force") ? undefined : (checkIndexOf(p) ?? specIndex);
    const w = await apiClient(p, io).varPut(path, Object.fromEntries(items), cas);
    if (!w.ok) throw casConflict(cas ?? 0, w.conflict);
    const v = w.variable;
    if (v === null) throw new CommandError("the server answered the write without the variable");
    const msg = `Created variable "${v.Path}" with modify index ${v.ModifyIndex}`;
    if (v.Namespace !== ns) verbose(`in namespace ${v.Namespace}`);
    switch (out) {
      case "json":
        verbose(msg);
        printJson(io, v);
        break;
      case "table":
        verbose(msg);
        io.out(`${variableTable(v)}\n`);
        break;
      default:
        io.out(`${msg}\n`);
    }
    return Exit.Ok;
  },
};

export const list = {
  usage: `Usage: ruche var list [options] [<prefix>]

  Lists the variables (their namespace, path and last update) whose path starts with
  PREFIX, those the token may list; with -namespace "*", in every namespace.

Options:
${ADDRESS_HELP}
  -out FORMAT     table (default), json, or terse (the paths alone)
  -json           as -out json
`,
  async run(argv: readonly string[], io: IO): Promise<number> {
    const p = parseArgs(argv, { ...API_FLAGS, out: { value: true }, json: { value: false } });
    if (p.positional.length > 1) throw new UsageError("This command takes flags and either no arguments or one: <prefix>");
    const out = outFormat(p, io, ["json", "table", "terse"], "table");
    const prefix = p.positional[0] ?? "";
    const { body } = await apiClient(p, io).varList(prefix);
    if (out === "json") printJson(io, body);
    else if (out === "terse") {
      const all = scopeQuery(p, io).namespace === "*";
      io.out(body.length === 0 ? "No matching variables found\n" : `${formatTable(all ? ["Namespace", "Path"] : ["Path"], body.map((v) => (all ? [v.Namespace, v.Path] : [v.Path]))).split("\n").slice(1).join("\n")}\n`);
    } else io.out(`${variablesTable(body)}\n`);
    return Exit.Ok;
  },
};

export const purge = {
  usage: `Usage: ruche var purge [options] <path>

  Deletes a variable (one that is not there counts as deleted).

Options:
${ADDRESS_HELP}
  -check-index N  delete only if the variable's modify index is N
`,
  async run(argv: readonly string[], io: IO): Promise<number> {
    const p = parseArgs(argv, { ...API_FLAGS, "check-index": { value: true } });
    if (p.positional.length !== 1) throw new UsageError("This command takes one argument: <path>");
    const path = trimSlashes(p.positional[0] ?? "");
    oneNamespace(p, io);
    const cas = checkIndexOf(p);
    const w = await apiClient(p, io).varDelete(path, cas);
    if (!w.ok) throw casConflict(cas ?? 0, w.conflict);
    io.out(`Successfully purged variable "${path}"!\n`);
    return Exit.Ok;
  },
};

/** Nomad's `sanitizePath`: no leading or trailing "/". */
function trimSlashes(path: string): string {
  return path.replace(/^\/+|\/+$/g, "");
}

async function readSpecFile(file: string): Promise<string> {
  try {
    return await readFile(file, "utf8");
  } catch (err) {
    throw new CommandError(`Error reading "${file}": ${(err as Error).message}`);
  }
}
