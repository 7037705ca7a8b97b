import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import { checkAclPolicy, formatDiagnostic } from "../../jobspec/index.js";
import { flagValues, parseArgs } from "../args.js";
import { API_FLAGS, apiClient, DEFAULT_ADDRESS, JSON_FLAG, positionals, printAs } from "../api.js";
import { CommandError } from "../errors.js";
import { aclPoliciesTable, aclPolicyDetail } from "../format/index.js";
import { Exit, type IO } from "../io.js";

const ADDRESS_HELP = `  -address ADDR   the Ruche API (default: $RUCHE_ADDR, else ${DEFAULT_ADDRESS})
  -token SECRET   a management token (default: $RUCHE_TOKEN, else $NOMAD_TOKEN)`;

export const applyUsage = `Usage: ruche acl policy apply [options] NAME FILE

  Creates or replaces the ACL policy NAME with the rules in FILE (HCL, or JSON for a
  .json file; "-" is not read). The rules are checked first, every mistake reported at
  its file:line:col. Nomad's rules (namespace, node, agent, operator) and Consul's
  (key_prefix, service_prefix, session_prefix, node_prefix, query_prefix,
  event_prefix, and their exact forms) may sit in one policy.

Options:
${ADDRESS_HELP}
  -description D  what the policy is for
`;

export const listUsage = `Usage: ruche acl policy list [options]

  Lists the ACL policies.

Options:
${ADDRESS_HELP}
  -json           print the list as JSON
`;

export const infoUsage = `Usage: ruche acl policy info [options] NAME

  Shows an ACL policy and its rules.

Options:
${ADDRESS_HELP}
  -json           print the policy as JSON
`;

export const deleteUsage = `Usage: ruche acl policy delete [options] NAME

  Deletes an ACL policy. Tokens that name it keep the name; it grants them nothing.

Options:
${ADDRESS_HELP}
`;

export const apply = {
  usage: applyUsage,
  async run(argv: readonly string[], io: IO): Promise<number> {
    const p = parseArgs(argv, { ...API_FLAGS, description: { value: true } });
    const [name = "", file = ""] = positionals(p, "NAME", "FILE");
    let rules: string;
    try {
      rules = await readFile(resolve(io.cwd, file), "utf8");
    } catch (err) {
      throw new CommandError(`Error reading policy file: ${(err as Error).message}`);
    }
    const checked = await checkAclPolicy(rules, file);
    if (!checked.ok) {
      throw new CommandError(`Error parsing the policy in ${file}:\n${checked.diagnostics.map((d) => `  ${formatDiagnostic(d)}`).join("\n")}`);
    }
    const description = flagValues(p, "description").at(-1);
    await apiClient(p, io).aclPolicyApply(name, { Rules: rules, ...(description === undefined ? {} : { Description: description }) });
    io.out(`Successfully wrote "${name}" ACL policy!\n`);
    return Exit.Ok;
  },
};

export const list = {
  usage: listUsage,
  async run(argv: readonly string[], io: IO): Promise<number> {
    const p = parseArgs(argv, { ...API_FLAGS, ...JSON_FLAG });
    positionals(p);
    const { body } = await apiClient(p, io).aclPolicies();
    printAs(io, p, body, aclPoliciesTable);
    return Exit.Ok;
  },
};

export const info = {
  usage: infoUsage,
  async run(argv: readonly string[], io: IO): Promise<number> {
    const p = parseArgs(argv, { ...API_FLAGS, ...JSON_FLAG });
    const [name = ""] = positionals(p, "NAME");
    const { body } = await apiClient(p, io).aclPolicy(name);
    printAs(io, p, body, aclPolicyDetail);
    return Exit.Ok;
  },
};

export const del = {
  usage: deleteUsage,
  async run(argv: readonly string[], io: IO): Promise<number> {
    const p = parseArgs(argv, API_FLAGS);
    const [name = ""] = positionals(p, "NAME");
    await apiClient(p, io).aclPolicyDelete(name);
    io.out(`Successfully deleted "${name}" ACL policy!\n`);
    return Exit.Ok;
  },
};
