import type { AclPolicyInfo, AclPolicyStub, AclTokenInfo, AclTokenStub } from "../../apiclient/index.js";
import { formatKV, formatTable } from "./table.js";

/**
 * An RFC 3339 time as Go's `time.Time.String()` prints it, which Nomad's `acl token` commands
 * show: `2017-08-23 22:47:14.695 +0000 UTC` (trailing zeros of the fraction dropped).
 */
export function goTime(iso: string): string {
  const ms = Date.parse(iso);
  if (Number.isNaN(ms)) return iso;
  const d = new Date(ms);
  const p = (n: number, w = 2): string => String(n).padStart(w, "0");
  const frac = d.getUTCMilliseconds() === 0 ? "" : `.${p(d.getUTCMilliseconds(), 3).replace(/0+$/, "")}`;
  return `${d.getUTCFullYear()}-${p(d.getUTCMonth() + 1)}-${p(d.getUTCDate())} ${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())}${frac} +0000 UTC`;
}

/** A token as `nomad acl token info` prints it (Nomad's `outputACLToken`, without roles, which Ruche has none of). */
export function aclTokenDetail(t: AclTokenInfo): string {
  return formatKV([
    ["Accessor ID", t.AccessorID],
    ["Secret ID", t.SecretID ?? "<hidden>"],
    ["Name", t.Name],
    ["Type", t.Type],
    ["Global", String(t.Global)],
    ["Create Time", goTime(t.CreateTime)],
    ["Expiry Time", t.ExpirationTime === undefined ? "<none>" : goTime(t.ExpirationTime)],
    ["Create Index", String(t.CreateIndex)],
    ["Modify Index", String(t.ModifyIndex)],
    ["Policies", t.Type === "management" ? "n/a" : `[${(t.Policies ?? []).join(" ")}]`],
  ]);
}

/** `nomad acl token list`: name, type, global, accessor, whether it has expired at `nowMs`. */
export function aclTokensTable(tokens: readonly AclTokenStub[], nowMs: number): string {
  if (tokens.length === 0) return "No tokens found";
  return formatTable(
    ["Name", "Type", "Global", "Accessor ID", "Expired"],
    tokens.map((t) => [t.Name, t.Type, String(t.Global), t.AccessorID, String(t.ExpirationTime !== undefined && Date.parse(t.ExpirationTime) < nowMs)]),
  );
}

/** `nomad acl policy list`. */
export function aclPoliciesTable(policies: readonly AclPolicyStub[]): string {
  if (policies.length === 0) return "No policies found";
  return formatTable(
    ["Name", "Description"],
    policies.map((p) => [p.Name, p.Description]),
  );
}

/** `nomad acl policy info`: its fields, then its rules as written. */
export function aclPolicyDetail(p: AclPolicyInfo): string {
  const kv = formatKV([
    ["Name", p.Name],
    ["Description", p.Description],
    ["CreateIndex", String(p.CreateIndex)],
    ["ModifyIndex", String(p.ModifyIndex)],
  ]);
  return `${kv}\n\nRules\n\n${p.Rules.replace(/\n$/, "")}`;
}
