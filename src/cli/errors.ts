import { ApiError } from "../apiclient/index.js";
import { ErrorCode, errorMessage } from "../structs/index.js";
import { UsageError } from "./args.js";
import { Exit, type IO } from "./io.js";

/** A command that cannot do what it was asked, for a reason the user can act on (exit 1). */
export class CommandError extends Error {}

/**
 * Prints an error the way every command prints it, `Error: <message>` on stderr, and
 * returns the exit code it calls for: 1 for what the user can fix (usage, API refusals,
 * an unreachable API), 255 for anything unexpected.
 */
export function reportError(err: unknown, io: IO, usage: string): number {
  if (err instanceof UsageError) {
    io.err(`Error: ${err.message}\n\n${usage}`);
    return Exit.Error;
  }
  if (err instanceof ApiError) {
    io.err(`Error: ${err.message}\n${detailLines(err.details)}`);
    if (err.code === ErrorCode.Unreachable) io.err(unreachableHint(err.message));
    return Exit.Error;
  }
  if (err instanceof CommandError) {
    io.err(`Error: ${err.message}\n`);
    return Exit.Error;
  }
  io.err(`Error: ${errorMessage(err)}\n`);
  return Exit.Fatal;
}

/** What to do about an API that could not be reached, from why. */
function unreachableHint(message: string): string {
  if (/the server's certificate .*(trust|self-signed)/.test(message)) return "  Give the cluster's CA with -ca-cert or RUCHE_CACERT (on a server it is DATA_DIR/tls/ca.pem).\n";
  if (/the server's certificate/.test(message)) return "  The API's certificate was refused; -tls-server-name names the host it was made for.\n";
  if (/does not speak TLS/.test(message)) return "  The agent serves plain HTTP there: give its address as http://HOST:PORT.\n";
  return "  Is a Ruche agent running there? Give its address with -address or RUCHE_ADDR.\n";
}

function detailLines(details: unknown): string {
  if (details === undefined || details === null) return "";
  const lines = Array.isArray(details) ? details.map((d) => (typeof d === "string" ? d : JSON.stringify(d))) : [typeof details === "string" ? details : JSON.stringify(details)];
  return lines.map((l) => `  ${l}\n`).join("");
}
