import type { Options } from "./options.js";

/**
 * Go's regular expressions and replacement templates (what Traefik's tags are written in),
 * read as JavaScript's: `(?P<name>...)` groups, a leading `(?i)`; `$1`, `${1}`, `${name}`.
 */
export function goRegExp(source: string, anchored = false): RegExp | { reason: string } {
  let s = source;
  let flags = "";
  const inline = /^\(\?([imsU]+)\)/.exec(s);
  if (inline !== null) {
    if (/U/.test(inline[1] as string)) return { reason: "the U flag (ungreedy) is not supported" };
    flags = (inline[1] as string).replace(/m/, "m");
    s = s.slice(inline[0].length);
  }
  s = s.replace(/\(\?P</g, "(?<");
  try {
    return new RegExp(anchored ? `^(?:${s})` : s, flags);
  } catch (err) {
    return { reason: `not a regular expression: ${(err as Error).message}` };
  }
}

/** The option `option`, which must be given and be a Go regular expression (else `o` fails naming it); its source. */
export function regexOption(o: Options, option: string): string {
  const regex = o.str(option);
  if (regex === undefined) o.fail(option, "no regular expression is given");
  const re = goRegExp(regex);
  if ("reason" in re) o.fail(option, re.reason);
  return regex;
}

/** Go's `Expand` template as JavaScript's `replace` takes it. */
export function goReplacement(template: string): string {
  return template.replace(/\$(\$|\{([A-Za-z0-9_]+)\}|([A-Za-z0-9_]+))/g, (_m, _all: string, braced: string | undefined, bare: string | undefined) => {
    if (_all === "$") return "$$";
    const name = braced ?? bare ?? "";
    return /^\d+$/.test(name) ? `$${name}` : `$<${name}>`;
  });
}
