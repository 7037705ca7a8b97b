import { UsageError } from "./args.js";
import * as agent from "./commands/agent.js";
import * as jobInspect from "./commands/job-inspect.js";
import * as jobValidate from "./commands/job-validate.js";
import { Exit, type IO } from "./io.js";

interface Command {
  usage: string;
  run(argv: readonly string[], io: IO): Promise<number>;
}

/** Command words → command. Aliases sit beside the full form, as in Nomad (`ruche validate`). */
const COMMANDS: Readonly<Record<string, Command>> = {
  agent,
  "job validate": jobValidate,
  validate: jobValidate,
  "job inspect": jobInspect,
  inspect: jobInspect,
};

const USAGE = `Usage: ruche <command> [args]

Ruche runs containers and processes on a cluster of machines, finds them
again, and routes traffic to them.

Commands:
  agent -dev               run the server and its API on this machine
  job validate FILE        check a job file and report every mistake in it
  job inspect --local FILE print a job file as the canonical job (JSON)

Run "ruche <command> -help" for a command's flags.
`;

/** Runs one command line; returns the exit code. Never throws. */
export async function runCli(argv: readonly string[], io: IO): Promise<number> {
  if (argv.length === 0 || argv[0] === "-help" || argv[0] === "--help" || argv[0] === "-h") {
    io.out(USAGE);
    return argv.length === 0 ? Exit.Error : Exit.Ok;
  }
  const two = `${argv[0] ?? ""} ${argv[1] ?? ""}`;
  const [cmd, rest] = COMMANDS[two] !== undefined ? [COMMANDS[two], argv.slice(2)] : [COMMANDS[argv[0] ?? ""], argv.slice(1)];
  if (cmd === undefined) {
    io.err(`unknown command: ${argv.slice(0, 2).join(" ")}\n\n${USAGE}`);
    return Exit.Error;
  }
  if (rest.some((a) => a === "-help" || a === "--help" || a === "-h")) {
    io.out(cmd.usage);
    return Exit.Ok;
  }
  try {
    return await cmd.run(rest, io);
  } catch (err) {
    if (err instanceof UsageError) {
      io.err(`Error: ${err.message}\n\n${cmd.usage}`);
      return Exit.Error;
    }
    io.err(`Error: ${err instanceof Error ? err.message : String(err)}\n`);
    return Exit.Fatal;
  }
}
