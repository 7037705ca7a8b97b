/**
 * The federation's members as the Servers page shows them, from Nomad's and Consul's own
 * answers: `/v1/agent/members` (every region's servers, Nomad's `api.AgentMember`), each
 * region's leader (`/v1/status/leader?region=`, compared with a member's `Addr:Tags.port` as
 * Nomad's UI does), and the round trips measured to them (`/v1/coordinate/datacenters`,
 * Consul's WAN coordinates). Pure: the page reads, this puts the answers together.
 */

/** A server as Nomad's `/v1/agent/members` shows it. */
export interface AgentMember {
  Name: string;
  Addr: string;
  Port: number;
  Tags: Record<string, string | undefined>;
  Status: string;
}

/** Nomad's `/v1/agent/members` answer. */
export interface AgentMembers {
  ServerName: string;
  ServerRegion: string;
  ServerDC: string;
  Members: AgentMember[];
}

/** A Vivaldi coordinate, as Consul's coordinate endpoints show it (seconds). */
export interface Coord {
  Vec: number[];
  Error: number;
  Adjustment: number;
  Height: number;
}

/** One datacenter of Consul's `/v1/coordinate/datacenters`, its servers named `name.dc`. */
export interface DatacenterCoords {
  Datacenter: string;
  AreaID: string;
  Coordinates: { Node: string; Coord: Coord }[];
}

/** A region's leader: its address ("" when it has none), or why it could not be asked. */
export type RegionLeader = { ok: true; addr: string } | { ok: false; reason: string };

/** A row of the Servers page. */
export interface MemberRow {
  /** `name.region`, as Nomad names its members. */
  name: string;
  /** host:port of its API. */
  address: string;
  status: string;
  /** Whether it leads its region; undefined when its region's leader could not be asked (`leaderUnknown` says why). */
  leader: boolean | undefined;
  leaderUnknown: string;
  datacenter: string;
  region: string;
  version: string;
  /** Milliseconds of the round trip from the region asked to it; undefined when none was measured, when it is of that region, or when it is not alive (the last one measured is stale). */
  rttMs: number | undefined;
}

/** host:port, a v6 host in brackets (Nomad's UI `formatHost`). */
export function formatHost(host: string, port: string | number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

/** Consul's distance between two coordinates, in seconds (`lib/coordinate` `DistanceTo`): the vectors apart, plus both heights, adjusted when that stays positive. */
export function distance(a: Coord, b: Coord): number {
  const n = Math.max(a.Vec.length, b.Vec.length);
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const d = (a.Vec[i] ?? 0) - (b.Vec[i] ?? 0);
    sum += d * d;
  }
  const raw = Math.sqrt(sum) + a.Height + b.Height;
  const adjusted = raw + a.Adjustment + b.Adjustment;
  return adjusted > 0 ? adjusted : raw;
}

/**
 * Milliseconds from the region asked to each server of the other regions, by `name.dc`: the
 * distance from the coordinate of a server of the asked region (its datacenters' servers are
 * where the answering server stands) to each other server's. Empty when the asked region has
 * no coordinate.
 */
export function roundTrips(coords: readonly DatacenterCoords[], askedDatacenters: ReadonlySet<string>): Map<string, number> {
  const out = new Map<string, number>();
  const origin = coords.find((dc) => askedDatacenters.has(dc.Datacenter) && dc.Coordinates.length > 0)?.Coordinates[0]?.Coord;
  if (origin === undefined) return out;
  for (const dc of coords) {
    if (askedDatacenters.has(dc.Datacenter)) continue;
    for (const c of dc.Coordinates) out.set(c.Node, distance(origin, c.Coord) * 1000);
  }
  return out;
}

/** The server's own name of a member (`Tags.id`, else its `name.region` without the region). */
function serverName(m: AgentMember, region: string): string {
  const id = m.Tags.id;
  if (id !== undefined && id !== "") return id;
  return m.Name.endsWith(`.${region}`) ? m.Name.slice(0, -region.length - 1) : m.Name;
}

/**
 * The Servers page's rows, sorted by region then name. `asked` is the region whose server
 * answered the round trips (the page's region, else the serving server's own).
 */
export function memberRows(members: readonly AgentMember[], leaders: ReadonlyMap<string, RegionLeader>, coords: readonly DatacenterCoords[] | undefined, asked: string): MemberRow[] {
  const askedDcs = new Set(members.filter((m) => m.Tags.region === asked).map((m) => m.Tags.dc ?? ""));
  const rtts = coords === undefined ? new Map<string, number>() : roundTrips(coords, askedDcs);
  return members
    .map((m): MemberRow => {
      const region = m.Tags.region ?? "";
      const datacenter = m.Tags.dc ?? "";
      const lead = leaders.get(region);
      const rpcAddr = formatHost(m.Addr, m.Tags.port ?? m.Port);
      return {
        name: m.Name,
        address: formatHost(m.Addr, m.Port),
        status: m.Status,
        leader: lead === undefined || !lead.ok ? undefined : lead.addr !== "" && lead.addr === rpcAddr,
        leaderUnknown: lead === undefined ? `the leader of region ${region} was not asked` : lead.ok ? "" : lead.reason,
        datacenter,
        region,
        version: m.Tags.build ?? "",
        rttMs: region === asked || m.Status !== "alive" ? undefined : rtts.get(`${serverName(m, region)}.${datacenter}`),
      };
    })
    .sort((a, b) => (a.region === b.region ? (a.name < b.name ? -1 : a.name > b.name ? 1 : 0) : a.region < b.region ? -1 : 1));
}

/** A round trip in words: "0.4 ms", "12 ms", "1.2 s". */
export function rttText(ms: number): string {
  if (ms < 10) return `${ms.toFixed(1)} ms`;
  if (ms < 1000) return `${Math.round(ms)} ms`;
  return `${(ms / 1000).toFixed(1)} s`;
}
