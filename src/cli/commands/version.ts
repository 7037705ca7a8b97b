import { readFileSync } from "node:fs";
import { parseArgs } from "../args.js";
import { Exit, type IO } from "../io.js";

export const usage = `Usage: ruche version

  Prints Ruche's version, as "nomad version" prints Nomad's; also "ruche -version"
  and "ruche --version".
`;

/** This build's version: package.json's, two folders above this file in src/ and in dist/ alike. */
export function rucheVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL("../../../package.json", import.meta.url), "utf8")) as { version?: unknown };
  return typeof pkg.version === "string" ? pkg.version : "unknown";
}

export function run(argv: readonly string[], io: IO): Promise<number> {
  parseArgs(argv, {});
  io.out(`Ruche v${rucheVersion()}\n`);
  return Promise.resolve(Exit.Ok);
}
