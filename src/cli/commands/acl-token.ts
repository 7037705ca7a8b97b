import type { AclTokenRequest } from "../../apiclient/index.js";
import { parseDuration } from "../../structs/index.js";
import { flagBool, flagValues, parseArgs, UsageError } from "../args.js";
import { API_FLAGS, apiClient, DEFAULT_ADDRESS, JSON_FLAG, positionals, printAs } from "../api.js";
import { aclTokenDetail, aclTokensTable } from "../format/index.js";
import { Exit, type IO } from "../io.js";

const ADDRESS_HELP = `  -address ADDR   the Ruche API (default: $RUCHE_ADDR, else ${DEFAULT_ADDRESS})
  -token SECRET   the token to send (default: $RUCHE_TOKEN, else $NOMAD_TOKEN)`;
const JSON_HELP = "  -json           print the token as JSON";

export const createUsage = `Usage: ruche acl token create [options]

  Creates an ACL token and prints it, its Secret ID included (shown this once).
  Needs a management token.

Options:
${ADDRESS_HELP}
  -name NAME      what the token is for
  -type TYPE      "client" (default: its policies decide) or "management" (everything)
  -policy NAME    a policy of the token (repeatable; client tokens only)
  -global         replicate the token to every region
  -ttl D          expire after D ("1h"; from 1m to 24h); without it, never
${JSON_HELP}
`;

export const listUsage = `Usage: ruche acl token list [options]

  Lists the ACL tokens (never their Secret IDs). Needs a management token.

Options:
${ADDRESS_HELP}
  -json           print the list as JSON
`;

export const infoUsage = `Usage: ruche acl token info [options] ACCESSOR

  Shows an ACL token; its Secret ID only to a management token or to the token itself.

Options:
${ADDRESS_HELP}
${JSON_HELP}
`;

export const selfUsage = `Usage: ruche acl token self [options]

  Shows the token this command sends (-token, $RUCHE_TOKEN or $NOMAD_TOKEN).

Options:
${ADDRESS_HELP}
${JSON_HELP}
`;

export const updateUsage = `Usage: ruche acl token update [options] ACCESSOR

  Changes a token's name, type or policies; its secret and expiry stay. Needs a
  management token. With -policy, the policies given replace the token's. The
  anonymous token's policies (ACCESSOR "anonymous") are what a request without a token
  may do.

Options:
${ADDRESS_HELP}
  -name NAME      a new name
  -type TYPE      "client" or "management"
  -policy NAME    a policy of the token (repeatable)
${JSON_HELP}
`;

export const deleteUsage = `Usage: ruche acl token delete [options] ACCESSOR

  Deletes an ACL token: its secret no longer works. Needs a management token.

Options:
${ADDRESS_HELP}
`;

const TYPE = (v: string | undefined): "client" | "management" | undefined => {
  if (v === undefined || v === "client" || v === "management") return v;
  throw new UsageError(`-type must be "client" or "management", got "${v}"`);
};

export const create = {
  usage: createUsage,
  async run(argv: readonly string[], io: IO): Promise<number> {
    const p = parseArgs(argv, { ...API_FLAGS, ...JSON_FLAG, name: { value: true }, type: { value: true }, policy: { value: true, repeat: true }, global: { value: false }, ttl: { value: true } });
    positionals(p);
    const ttl = flagValues(p, "ttl").at(-1);
    if (ttl !== undefined && parseDuration(ttl) === undefined) throw new UsageError(`Failed to parse TTL as time duration: "${ttl}" is not a duration such as "1h"`);
    const t: AclTokenRequest = {
      Name: flagValues(p, "name").at(-1) ?? "",
      Type: TYPE(flagValues(p, "type").at(-1)) ?? "client",
      Policies: flagValues(p, "policy"),
      Global: flagBool(p, "global"),
      ...(ttl === undefined ? {} : { ExpirationTTL: ttl }),
    };
    const { body } = await apiClient(p, io).aclTokenCreate(t);
    printAs(io, p, body, aclTokenDetail);
    return Exit.Ok;
  },
};

export const list = {
  usage: listUsage,
  async run(argv: readonly string[], io: IO): Promise<number> {
    const p = parseArgs(argv, { ...API_FLAGS, ...JSON_FLAG });
    positionals(p);
    const { body } = await apiClient(p, io).aclTokens();
    printAs(io, p, body, (b) => aclTokensTable(b, Date.now()));
    return Exit.Ok;
  },
};

export const info = {
  usage: infoUsage,
  async run(argv: readonly string[], io: IO): Promise<number> {
    const p = parseArgs(argv, { ...API_FLAGS, ...JSON_FLAG });
    const [accessor = ""] = positionals(p, "ACCESSOR");
    const { body } = await apiClient(p, io).aclToken(accessor);
    printAs(io, p, body, aclTokenDetail);
    return Exit.Ok;
  },
};

export const self = {
  usage: selfUsage,
  async run(argv: readonly string[], io: IO): Promise<number> {
    const p = parseArgs(argv, { ...API_FLAGS, ...JSON_FLAG });
    positionals(p);
    const { body } = await apiClient(p, io).aclTokenSelf();
    printAs(io, p, body, aclTokenDetail);
    return Exit.Ok;
  },
};

export const update = {
  usage: updateUsage,
  async run(argv: readonly string[], io: IO): Promise<number> {
    const p = parseArgs(argv, { ...API_FLAGS, ...JSON_FLAG, name: { value: true }, type: { value: true }, policy: { value: true, repeat: true } });
    const [accessor = ""] = positionals(p, "ACCESSOR");
    const api = apiClient(p, io);
    // As Nomad's: read the token, change what the flags name, send it back whole.
    const { body: old } = await api.aclToken(accessor);
    const policies = flagValues(p, "policy");
    const type = TYPE(flagValues(p, "type").at(-1)) ?? old.Type;
    const { body } = await api.aclTokenUpdate(accessor, {
      Name: flagValues(p, "name").at(-1) ?? old.Name,
      Type: type,
      // A management token takes no policies: made one, it drops them.
      Policies: policies.length > 0 || type === "management" ? policies : (old.Policies ?? []),
      Global: old.Global,
    });
    printAs(io, p, body, aclTokenDetail);
    return Exit.Ok;
  },
};

export const del = {
  usage: deleteUsage,
  async run(argv: readonly string[], io: IO): Promise<number> {
    const p = parseArgs(argv, API_FLAGS);
    const [accessor = ""] = positionals(p, "ACCESSOR");
    await apiClient(p, io).aclTokenDelete(accessor);
    io.out(`Token ${accessor} successfully deleted\n`);
    return Exit.Ok;
  },
};
