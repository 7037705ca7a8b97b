import type { JoinTokenStub } from "../../structs/index.js";
import { flagBool, flagValues, parseArgs, UsageError } from "../args.js";
import { API_FLAGS, apiClient, DEFAULT_ADDRESS, JSON_FLAG, positionals, printAs, printJson } from "../api.js";
import { formatTable } from "../format/index.js";
import { Exit, type IO } from "../io.js";

const ADDRESS_HELP = `  -address ADDR   the Ruche API (default: $RUCHE_ADDR, else ${DEFAULT_ADDRESS})
  -token SECRET   the ACL token to send (default: $RUCHE_TOKEN, else $NOMAD_TOKEN)`;

export const createUsage = `Usage: ruche join-token create [options]

  Makes a join token and prints it, with the command a new node runs to join (as
  "docker swarm join-token" does). The token carries the cluster CA's SHA-256 digest, which
  the node checks the servers against before it sends anything, and a secret it trades for
  its certificate. It is shown this once; the servers keep only the secret's hash. Needs a
  management token.

Options:
${ADDRESS_HELP}
  -role ROLE      "client" (default) or "server": what a node that joins with it becomes
  -quiet          print the token alone
  -json           print the API's answer
`;

export const rotateUsage = `Usage: ruche join-token rotate [options]

  Revokes every join token of a role and makes a new one, printed as by "join-token
  create". Nodes that already joined are not affected; a node that has not joined yet
  needs the new token. Needs a management token.

Options:
${ADDRESS_HELP}
  -role ROLE      "client" (default) or "server"
  -quiet          print the token alone
  -json           print the API's answer
`;

export const listUsage = `Usage: ruche join-token list [options]

  Lists the join tokens, revoked ones included, never their secrets.

Options:
${ADDRESS_HELP}
  -json           print the API's answer
`;

export const revokeUsage = `Usage: ruche join-token revoke [options] ID

  Revokes a join token ("join-token list" shows the IDs): a node that presents it is
  refused. Nodes that already joined are not affected. Needs a management token.

Options:
${ADDRESS_HELP}
`;

const CREATE_FLAGS = { ...API_FLAGS, ...JSON_FLAG, role: { value: true }, quiet: { value: false } } as const;

function role(v: string | undefined): "client" | "server" {
  if (v === undefined || v === "client" || v === "server") return v ?? "client";
  throw new UsageError(`-role must be "client" or "server", got "${v}"`);
}

/** The host:port of an API address (`http://10.0.0.1:4646` → `10.0.0.1:4646`). */
function hostPort(address: string): string {
  try {
    return new URL(address).host;
  } catch {
    return address;
  }
}

async function make(argv: readonly string[], io: IO, rotate: boolean): Promise<number> {
  const p = parseArgs(argv, CREATE_FLAGS);
  positionals(p);
  const r = role(flagValues(p, "role").at(-1));
  const api = apiClient(p, io);
  const { body } = await api.joinTokenCreate(r, rotate);
  if (flagBool(p, "json")) printJson(io, body);
  else if (flagBool(p, "quiet")) io.out(`${body.Token}\n`);
  else {
    const as = r === "server" ? "-server" : "-client";
    io.out(
      `${rotate ? `Rotated the ${r} join token: the ones before it no longer work.\n\n` : ""}To add a ${r} to this cluster, run on it:\n\n    ruche agent ${as} -servers ${hostPort(api.address)} -join-token ${body.Token}\n\nToken ID ${body.ID}. The token is shown this once: keep it secret.\n`,
    );
  }
  return Exit.Ok;
}

export const create = { usage: createUsage, run: (argv: readonly string[], io: IO) => make(argv, io, false) };
export const rotate = { usage: rotateUsage, run: (argv: readonly string[], io: IO) => make(argv, io, true) };

/** The list as a table: ID, role, when made, whether it still works. */
export function joinTokensTable(tokens: readonly JoinTokenStub[]): string {
  if (tokens.length === 0) return "No join tokens";
  return formatTable(
    ["ID", "Role", "Created", "Status"],
    tokens.map((t) => [t.ID, t.Role, new Date(t.CreateTime).toISOString(), t.RevokedTime === 0 ? "active" : `revoked ${new Date(t.RevokedTime).toISOString()}`]),
  );
}

export const list = {
  usage: listUsage,
  async run(argv: readonly string[], io: IO): Promise<number> {
    const p = parseArgs(argv, { ...API_FLAGS, ...JSON_FLAG });
    positionals(p);
    const { body } = await apiClient(p, io).joinTokens();
    printAs(io, p, body, joinTokensTable);
    return Exit.Ok;
  },
};

export const revoke = {
  usage: revokeUsage,
  async run(argv: readonly string[], io: IO): Promise<number> {
    const p = parseArgs(argv, API_FLAGS);
    const [id = ""] = positionals(p, "ID");
    await apiClient(p, io).joinTokenRevoke(id);
    io.out(`Join token ${id} revoked\n`);
    return Exit.Ok;
  },
};
