import type { KVEntry } from "../../structs/index.js";
import { flagBool, parseArgs } from "../args.js";
import { API_FLAGS, apiClient, DEFAULT_ADDRESS, positionals } from "../api.js";
import { Exit, type IO } from "../io.js";

export const usage = `Usage: ruche kv watch [options] KEY

  Prints KEY's value, then its new value each time it changes, until interrupted. A
  deleted key is said on stderr. With -recurse, watches every key under the prefix KEY
  and prints a line per change: "PUT key value" or "DELETE key".

Options:
  -address ADDR   the Ruche API (default: $RUCHE_ADDR, else ${DEFAULT_ADDRESS})
  -recurse        every key under the prefix
  -once           exit after the first change
`;

/** A key's value as text, for printing. */
function text(e: KVEntry): string {
  return e.Value === null ? "" : Buffer.from(e.Value, "base64").toString("utf8");
}

export async function run(argv: readonly string[], io: IO): Promise<number> {
  const p = parseArgs(argv, { ...API_FLAGS, recurse: { value: false }, once: { value: false } });
  const [key = ""] = positionals(p, "KEY");
  const recurse = flagBool(p, "recurse");
  const once = flagBool(p, "once");
  const api = apiClient(p, io);
  const print = (changes: Change[]): void => {
    for (const c of changes) {
      if (recurse) io.out(c.entry === undefined ? `DELETE ${c.key}\n` : `PUT ${c.key} ${text(c.entry)}\n`);
      else if (c.entry === undefined) io.err(`${c.key} deleted\n`);
      else io.out(`${text(c.entry)}\n`);
    }
  };
  const first = await api.kvRead(key, { recurse });
  let index = first.index;
  let seen = byKey(first.entries);
  print(first.entries.map((e) => ({ key: e.Key, entry: e })));
  for (;;) {
    const next = await api.kvRead(key, { recurse, index, wait: "5m" });
    // An index that went backwards means the store was rebuilt: start again from 0 (Consul's rule).
    index = next.index < index ? 0 : next.index;
    const now = byKey(next.entries);
    const changes = diff(seen, now);
    seen = now;
    print(changes);
    if (once && changes.length > 0) return Exit.Ok;
  }
}

interface Change {
  key: string;
  /** Undefined when the key was deleted. */
  entry: KVEntry | undefined;
}

function byKey(entries: readonly KVEntry[]): Map<string, KVEntry> {
  return new Map(entries.map((e) => [e.Key, e]));
}

/** What changed from one answer to the next: keys written since (by ModifyIndex), and keys gone. */
function diff(before: Map<string, KVEntry>, after: Map<string, KVEntry>): Change[] {
  const out: Change[] = [];
  for (const [k, e] of after) if (before.get(k)?.ModifyIndex !== e.ModifyIndex) out.push({ key: k, entry: e });
  for (const k of before.keys()) if (!after.has(k)) out.push({ key: k, entry: undefined });
  return out;
}
