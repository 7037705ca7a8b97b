import { parseArgs, UsageError } from "../args.js";
import { API_FLAGS, apiClient, DEFAULT_ADDRESS } from "../api.js";
import { Exit, type IO } from "../io.js";

export const usage = `Usage: ruche server join [options] ADDR [ADDR...]

  Joins the server at -address to other regions' servers: each ADDR is host:port of a
  server's HTTP API (a host alone is port 4646), asked now. Once one answers, the servers
  of every region it knows are known here too, and kept up to date (as retry_join_wan at
  start). Servers of one region form their cluster with retry_join when they start, not
  with a join. Between servers with TLS on it is mutual TLS under the federation's one CA
  (another region's first server takes it up with -join-wan-token): a server whose
  certificate is not of that CA, or names no server of the region it says it is, is not
  joined, and the error says why; with TLS off it is plain HTTP.

Options:
  -address ADDR   the Ruche API (default: $RUCHE_ADDR, else ${DEFAULT_ADDRESS})
`;

/** Nomad's `server join`: "Joined N servers successfully", or its error when none answered. */
export async function run(argv: readonly string[], io: IO): Promise<number> {
  const p = parseArgs(argv, API_FLAGS);
  const addresses = p.positional;
  if (addresses.length === 0) throw new UsageError("One or more node addresses must be given as arguments");
  const r = (await apiClient(p, io).serverJoin(addresses)).body;
  const problem = [r.error, r.warning ?? ""].filter((t) => t !== "").join("; ");
  if (problem !== "") {
    if (r.num_joined === 0) {
      io.err(`Error joining: failed joining: ${problem}\n`);
      return Exit.Error;
    }
    io.err(`Joined ${r.num_joined} servers successfully but got warning: ${problem}\n`);
    return Exit.Ok;
  }
  io.out(`Joined ${r.num_joined} servers successfully\n`);
  return Exit.Ok;
}
