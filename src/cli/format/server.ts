import type { AgentMember, EtcdMember } from "../../apiclient/index.js";
import { formatTable } from "./table.js";
import { formatBytes } from "./units.js";

/** Nomad's member order: by region, then datacenter, then name. */
function sorted(members: readonly AgentMember[]): AgentMember[] {
  const key = (m: AgentMember): string[] => [m.Tags.region ?? "", m.Tags.dc ?? "", m.Name];
  return [...members].sort((a, b) => {
    const [x, y] = [key(a), key(b)];
    for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return (x[i] ?? "") < (y[i] ?? "") ? -1 : 1;
    return 0;
  });
}

/**
 * `ruche server members`: Nomad's columns, its Raft Version column holding the etcd member
 * the server runs ("" when it runs none). A region's leader is the member whose
 * `Addr:Tags.port` is that region's `/v1/status/leader` (`leaders`, by region: a string is
 * the leader of every region listed), as Nomad's CLI finds it.
 */
export function serverMembersTable(members: readonly AgentMember[], leaders: string | Readonly<Record<string, string>>): string {
  const leaderOf = (m: AgentMember): string => (typeof leaders === "string" ? leaders : (leaders[m.Tags.region ?? ""] ?? ""));
  return formatTable(
    ["Name", "Address", "Port", "Status", "Leader", "Etcd Member", "Build", "Datacenter", "Region"],
    sorted(members).map((m) => {
      const leader = leaderOf(m);
      return [m.Name, m.Addr, String(m.Port), m.Status, String(leader !== "" && `${m.Addr.includes(":") ? `[${m.Addr}]` : m.Addr}:${m.Tags.port ?? ""}` === leader), m.Tags.etcd_member ?? "", m.Tags.build ?? "", m.Tags.dc ?? "", m.Tags.region ?? ""];
    }),
  );
}

/** `ruche server members -detailed`: every tag, as Nomad's `Name Address Port Tags`, the tags sorted. */
export function serverMembersDetailed(members: readonly AgentMember[]): string {
  return formatTable(
    ["Name", "Address", "Port", "Tags"],
    sorted(members).map((m) => [
      m.Name,
      m.Addr,
      String(m.Port),
      Object.entries(m.Tags)
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([k, v]) => `${k}=${v}`)
        .join(","),
    ]),
  );
}

/** `ruche operator etcd list`: one line per member, then why each unreachable one did not answer. */
export function etcdMembersTable(members: readonly EtcdMember[]): string {
  const table = formatTable(
    ["ID", "Name", "Leader", "Reachable", "DB Size", "Revision", "Raft Index", "Version", "Peer URLs"],
    members.map((m) => (m.Reachable ? [m.ID, m.Name, String(m.IsLeader), "true", formatBytes(m.DbSize), String(m.Revision), String(m.RaftIndex), m.Version, m.PeerURLs.join(",")] : [m.ID, m.Name, "false", "false", "", "", "", "", m.PeerURLs.join(",")])),
  );
  const errors = members.filter((m) => !m.Reachable).map((m) => `${m.Name === "" ? m.ID : m.Name}: ${m.Error === "" ? "did not answer" : m.Error}`);
  return errors.length === 0 ? table : `${table}\n\nUnreachable\n${errors.join("\n")}`;
}
