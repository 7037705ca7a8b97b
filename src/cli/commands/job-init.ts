import { writeFile } from "node:fs/promises";
import { resolve } from "node:path";
import { errorMessage } from "../../structs/index.js";
import { flagBool, parseArgs, UsageError } from "../args.js";
import { CommandError } from "../errors.js";
import { Exit, type IO } from "../io.js";
import { EXAMPLE_JOB, EXAMPLE_JOB_SHORT } from "./job-init-examples.js";

/** The file `job init` writes without one named, Nomad's name. */
export const DEFAULT_INIT_NAME = "example.nomad.hcl";

export const usage = `Usage: ruche job init [options] [FILE]

  Writes Nomad's example job file, a redis service explained block by block, to FILE
  (default: ${DEFAULT_INIT_NAME}). A file already there is left alone.

Options:
  -short    the example without its comments and optional blocks
  -connect  refused: Ruche does not run Consul Connect's service mesh
  -template refused: job templates live in Nomad variables, which Ruche does not have
`;

export async function run(argv: readonly string[], io: IO): Promise<number> {
  const p = parseArgs(argv, { short: { value: false }, connect: { value: false }, template: { value: true }, "list-templates": { value: false } });
  if (flagBool(p, "connect")) throw new CommandError("-connect is refused: its example is a Consul Connect service mesh job, which Ruche does not run");
  if (p.flags.has("template") || flagBool(p, "list-templates")) throw new CommandError("-template and -list-templates are refused: job templates are Nomad variables, which Ruche does not have");
  if (p.positional.length > 1) throw new UsageError("This command takes either no arguments or one: <filename>");
  const file = p.positional[0] ?? DEFAULT_INIT_NAME;
  try {
    // "wx": fail when the file exists, checked and created in one step.
    await writeFile(resolve(io.cwd, file), flagBool(p, "short") ? EXAMPLE_JOB_SHORT : EXAMPLE_JOB, { flag: "wx", mode: 0o660 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "EEXIST") throw new CommandError(`Job '${file}' already exists`);
    throw new CommandError(`Failed to write '${file}': ${errorMessage(err)}`);
  }
  io.out(`Example job file written to ${file}\n`);
  return Exit.Ok;
}
