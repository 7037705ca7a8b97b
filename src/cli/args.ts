/**
 * Flags the way Nomad's CLI takes them: `-flag value`, `-flag=value`, `--flag value`,
 * repeated flags, and a boolean flag without a value. Positional arguments stay in order.
 */
export interface FlagSpec {
  /** Takes a value (`-var k=v`) rather than being a switch (`-json`). */
  value: boolean;
  /** May be given several times. */
  repeat?: boolean;
}

export interface Parsed {
  flags: Map<string, string[]>;
  positional: string[];
}

export class UsageError extends Error {}

export function parseArgs(argv: readonly string[], spec: Readonly<Record<string, FlagSpec>>): Parsed {
  const flags = new Map<string, string[]>();
  const positional: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? "";
    if (arg === "--") {
      positional.push(...argv.slice(i + 1));
      break;
    }
    if (!arg.startsWith("-") || arg === "-") {
      positional.push(arg);
      continue;
    }
    const body = arg.replace(/^--?/, "");
    const eq = body.indexOf("=");
    const name = eq < 0 ? body : body.slice(0, eq);
    const s = spec[name];
    if (s === undefined) throw new UsageError(`unknown flag -${name}`);
    let value: string;
    if (!s.value) {
      const text = eq < 0 ? "true" : body.slice(eq + 1);
      if (text !== "true" && text !== "false") throw new UsageError(`-${name} is a switch; it takes no value (or =true / =false)`);
      value = text;
    } else if (eq >= 0) {
      value = body.slice(eq + 1);
    } else {
      const next = argv[i + 1];
      if (next === undefined) throw new UsageError(`-${name} needs a value`);
      value = next;
      i++;
    }
    const prev = flags.get(name);
    if (prev !== undefined && s.repeat !== true) throw new UsageError(`-${name} is given twice`);
    flags.set(name, [...(prev ?? []), value]);
  }
  return { flags, positional };
}

export function flagBool(p: Parsed, name: string): boolean {
  return p.flags.get(name)?.at(-1) === "true";
}

export function flagValues(p: Parsed, name: string): string[] {
  return p.flags.get(name) ?? [];
}
