import { flagBool, flagValues, parseArgs, UsageError } from "../args.js";
import { API_FLAGS, apiClient, DEFAULT_ADDRESS, positionals, wholeNumber } from "../api.js";
import { CommandError } from "../errors.js";
import { Exit, type IO } from "../io.js";

const ADDRESS_HELP = `  -address ADDR   the Ruche API (default: $RUCHE_ADDR, else ${DEFAULT_ADDRESS})`;

export const getUsage = `Usage: ruche kv get [options] KEY

  Prints the value stored at KEY (exit code 1 when there is none).

Options:
${ADDRESS_HELP}
  -detailed       print the entry's fields (indexes, flags, session) too
`;

export const putUsage = `Usage: ruche kv put [options] KEY [VALUE]

  Stores VALUE at KEY (an empty value when VALUE is left out).

Options:
${ADDRESS_HELP}
  -cas INDEX      write only if the entry's modify index is INDEX (0: only if absent)
  -flags N        a number stored with the value
`;

export const deleteUsage = `Usage: ruche kv delete [options] KEY

  Removes KEY, or with -recurse every key that starts with it.

Options:
${ADDRESS_HELP}
  -recurse        every key under the prefix
`;

export const listUsage = `Usage: ruche kv list [options] [PREFIX]

  Lists the keys under PREFIX, one level deep (as folders ending in /) unless -recurse.

Options:
${ADDRESS_HELP}
  -recurse        every key under the prefix
`;

export const get = {
  usage: getUsage,
  async run(argv: readonly string[], io: IO): Promise<number> {
    const p = parseArgs(argv, { ...API_FLAGS, detailed: { value: false } });
    const [key = ""] = positionals(p, "KEY");
    const e = await apiClient(p, io).kvGet(key);
    if (e === null) throw new CommandError(`No key exists at "${key}"`);
    const value = e.Value === null ? "" : Buffer.from(e.Value, "base64").toString("utf8");
    if (flagBool(p, "detailed")) {
      io.out(`CreateIndex      ${e.CreateIndex}\nFlags            ${e.Flags}\nKey              ${e.Key}\nLockIndex        ${e.LockIndex}\nModifyIndex      ${e.ModifyIndex}\nSession          ${e.Session === "" ? "-" : e.Session}\nValue            ${value}\n`);
    } else io.out(`${value}\n`);
    return Exit.Ok;
  },
};

export const put = {
  usage: putUsage,
  async run(argv: readonly string[], io: IO): Promise<number> {
    const p = parseArgs(argv, { ...API_FLAGS, cas: { value: true }, flags: { value: true } });
    const [key, value = "", extra] = p.positional;
    if (key === undefined || key === "") throw new UsageError("this command needs KEY");
    if (extra !== undefined) throw new UsageError(`unexpected argument "${extra}"`);
    const cas = flagValues(p, "cas").at(-1);
    const flags = flagValues(p, "flags").at(-1);
    const o: { cas?: number; flags?: number } = {};
    if (cas !== undefined) o.cas = wholeNumber(cas, "-cas");
    if (flags !== undefined) o.flags = wholeNumber(flags, "-flags");
    const ok = await apiClient(p, io).kvPut(key, Buffer.from(value, "utf8"), o);
    if (!ok) throw new CommandError(`Did not write to "${key}": the check-and-set index ${cas ?? ""} does not match`);
    io.out(`Success! Data written to: ${key}\n`);
    return Exit.Ok;
  },
};

export const del = {
  usage: deleteUsage,
  async run(argv: readonly string[], io: IO): Promise<number> {
    const p = parseArgs(argv, { ...API_FLAGS, recurse: { value: false } });
    const [key = ""] = positionals(p, "KEY");
    await apiClient(p, io).kvDelete(key, flagBool(p, "recurse"));
    io.out(`Success! Deleted key${flagBool(p, "recurse") ? "s under" : ""}: ${key}\n`);
    return Exit.Ok;
  },
};

export const list = {
  usage: listUsage,
  async run(argv: readonly string[], io: IO): Promise<number> {
    const p = parseArgs(argv, { ...API_FLAGS, recurse: { value: false } });
    if (p.positional.length > 1) throw new UsageError(`unexpected argument "${p.positional[1] ?? ""}"`);
    const keys = await apiClient(p, io).kvKeys(p.positional[0] ?? "", flagBool(p, "recurse") ? undefined : "/");
    io.out(keys.map((k) => `${k}\n`).join(""));
    return Exit.Ok;
  },
};
