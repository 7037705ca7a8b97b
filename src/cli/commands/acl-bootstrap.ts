import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import { parseArgs, UsageError } from "../args.js";
import { API_FLAGS, apiClient, DEFAULT_ADDRESS, JSON_FLAG, printAs } from "../api.js";
import { CommandError } from "../errors.js";
import { aclTokenDetail } from "../format/index.js";
import { Exit, type IO } from "../io.js";

export const usage = `Usage: ruche acl bootstrap [options] [PATH]

  Bootstraps the ACL system and prints its first token, a management token. It works
  once; keep the Secret ID safe: it can do everything. With PATH, the Secret ID is the
  UUID in that file instead of one the servers choose.

Options:
  -address ADDR   the Ruche API (default: $RUCHE_ADDR, else ${DEFAULT_ADDRESS})
  -json           print the token as JSON
`;

export async function run(argv: readonly string[], io: IO): Promise<number> {
  const p = parseArgs(argv, { ...API_FLAGS, ...JSON_FLAG });
  if (p.positional.length > 1) throw new UsageError(`unexpected argument "${p.positional[1] ?? ""}"`);
  const file = p.positional[0];
  let secret: string | undefined;
  if (file !== undefined && file !== "") {
    try {
      secret = (await readFile(resolve(io.cwd, file), "utf8")).trim();
    } catch (err) {
      throw new CommandError(`Error reading provided token: ${(err as Error).message}`);
    }
  }
  const { body } = await apiClient(p, io).aclBootstrap(secret);
  printAs(io, p, body, aclTokenDetail);
  return Exit.Ok;
}
