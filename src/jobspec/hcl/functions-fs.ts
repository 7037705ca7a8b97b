import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { homedir } from "node:os";
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from "node:path";
import type { Value } from "./value.js";

/**
 * Nomad's filesystem functions (HCL's `filesystem` package), as its CLI allows them: paths
 * are taken from `base`, the job file's directory (Nomad's `BaseDir`), except `abspath`,
 * which is from the working directory, as Go's `filepath.Abs`. The API reads no files: its
 * scope has no base, and `evaluate` refuses them there, as Nomad's server does.
 */
export function fsFunction(name: string, args: readonly Value[], base: string): Value {
  const path = (i: number): string => {
    const v = args[i];
    if (typeof v !== "string") throw new Error(`${name}: argument ${i + 1} must be a string, got ${v === null ? "null" : typeof v}`);
    return v;
  };
  const arity = (n: number): void => {
    if (args.length !== n) throw new Error(`${name} takes ${n} argument${n === 1 ? "" : "s"}, got ${args.length}`);
  };
  const from = (p: string): string => resolve(base, expandHome(p));
  switch (name) {
    case "abspath":
      arity(1);
      return resolve(path(0));
    case "basename":
      arity(1);
      return basename(path(0));
    case "dirname":
      arity(1);
      return dirname(path(0));
    case "pathexpand":
      arity(1);
      return expandHome(path(0));
    case "file":
    case "filebase64": {
      arity(1);
      const p = from(path(0));
      let bytes: Buffer;
      try {
        bytes = readFileSync(p);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        throw new Error(`${name}: cannot read ${path(0)} (${p}): ${code === "ENOENT" ? "no such file" : code === "EISDIR" ? "it is a directory" : String(code)}`, { cause: err });
      }
      if (name === "filebase64") return bytes.toString("base64");
      try {
        return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
      } catch (err) {
        throw new Error(`${name}: ${path(0)} is not UTF-8 text; use filebase64`, { cause: err });
      }
    }
    case "fileexists": {
      arity(1);
      const p = from(path(0));
      if (!existsSync(p)) return false;
      if (statSync(p).isDirectory()) throw new Error(`fileexists: ${path(0)} is a directory, not a file`);
      return true;
    }
    case "fileset": {
      arity(2);
      const root = from(path(0));
      const pattern = globRegExp(path(1));
      const out: string[] = [];
      const walk = (dir: string): void => {
        let entries;
        try {
          entries = readdirSync(dir, { withFileTypes: true });
        } catch {
          return;
        }
        for (const e of entries) {
          const full = join(dir, e.name);
          if (e.isDirectory()) walk(full);
          else {
            const rel = relative(root, full).split(sep).join("/");
            if (pattern.test(rel)) out.push(rel);
          }
        }
      };
      walk(root);
      return out.sort();
    }
    default:
      throw new Error(`there is no function named "${name}"`);
  }
}

function expandHome(p: string): string {
  if (p === "~") return homedir();
  if (p.startsWith("~/")) return join(homedir(), p.slice(2));
  return p;
}

/** A glob as Go's `doublestar` reads one (`*`, `**`, `?`, `[...]`, `{a,b}`) as a regular expression over `/`-separated paths. */
function globRegExp(glob: string): RegExp {
  if (isAbsolute(glob)) throw new Error(`fileset: the pattern ${glob} must be relative to the path`);
  let re = "";
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i] as string;
    if (c === "*") {
      if (glob[i + 1] === "*") {
        const slash = glob[i + 2] === "/";
        re += slash ? "(?:.*/)?" : ".*";
        i += slash ? 2 : 1;
      } else re += "[^/]*";
    } else if (c === "?") re += "[^/]";
    else if (c === "[") {
      const end = glob.indexOf("]", i + 1);
      if (end < 0) throw new Error(`fileset: the pattern ${glob} has "[" without "]"`);
      re += `[${glob.slice(i + 1, end).replace(/^!/, "^").replace(/\\/g, "\\\\")}]`;
      i = end;
    } else if (c === "{") {
      const end = glob.indexOf("}", i + 1);
      if (end < 0) throw new Error(`fileset: the pattern ${glob} has "{" without "}"`);
      re += `(?:${glob
        .slice(i + 1, end)
        .split(",")
        .map((alt) => alt.replace(/[.+^$()|\\]/g, "\\$&").replace(/\*/g, "[^/]*").replace(/\?/g, "[^/]"))
        .join("|")})`;
      i = end;
    } else re += c.replace(/[.+^$()|\\]/g, "\\$&");
  }
  return new RegExp(`^${re}$`);
}
