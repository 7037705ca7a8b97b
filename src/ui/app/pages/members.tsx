/**
 * The federation's servers (Nomad's UI: Servers): every region's, as `/v1/agent/members`
 * lists them, with each region's leader and the round trip measured to it (`members.ts`).
 * Members come and go with no event and no blocking query to say so: the page reads them
 * again every five seconds.
 */
import type { JSX } from "preact";
import { get, message } from "../api.js";
import { Badge, ErrorBox, Loading } from "../components.js";
import { usePolled } from "../live.js";
import { memberRows, rttText, type AgentMembers, type DatacenterCoords, type MemberRow, type RegionLeader } from "../members.js";
import { currentRegion } from "../region.js";

const EVERY_MS = 5000;

interface Read {
  members: AgentMembers;
  leaders: Map<string, RegionLeader>;
  /** undefined when the coordinates could not be read (the Consul-compatible API is off): no round trip is known. */
  coords: DatacenterCoords[] | undefined;
}

/** The members, the regions' leaders (each asked of its region, as Nomad's UI asks), the round trips. */
async function read(signal: AbortSignal): Promise<Read> {
  const [members, regions, coords] = await Promise.all([
    get<AgentMembers>("/v1/agent/members", { signal }),
    get<string[]>("/v1/regions", { signal }),
    get<DatacenterCoords[]>("/v1/coordinate/datacenters", { signal, prompt: false }).then(
      (a) => (Array.isArray(a.body) ? a.body : undefined),
      () => undefined,
    ),
  ]);
  const names = [...new Set([...regions.body, ...members.body.Members.map((m) => m.Tags.region ?? "")])].filter((r) => r !== "");
  const asked = await Promise.all(
    names.map((region) =>
      get<string>("/v1/status/leader", { signal, query: { region }, prompt: false }).then(
        (a): RegionLeader => ({ ok: true, addr: typeof a.body === "string" ? a.body : "" }),
        (err: unknown): RegionLeader => ({ ok: false, reason: message(err) }),
      ),
    ),
  );
  return { members: members.body, leaders: new Map(names.map((r, i) => [r, asked[i] ?? { ok: false, reason: "not asked" }])), coords };
}

function Leader({ row }: { row: MemberRow }): JSX.Element | null {
  if (row.leader === undefined) return <span class="muted" title={row.leaderUnknown}>unknown</span>;
  return row.leader ? <Badge status="leader" label="leader" /> : null;
}

export function MembersPage(): JSX.Element {
  const region = currentRegion();
  const polled = usePolled<Read>(region, read, EVERY_MS);
  const data = polled.data;
  const asked = region === "" ? (data?.members.ServerRegion ?? "") : region;
  const rows = data === undefined ? [] : memberRows(data.members.Members, data.leaders, data.coords, asked);
  const regions = new Set(rows.map((r) => r.region));
  const alive = rows.filter((r) => r.status === "alive").length;
  return (
    <div>
      <div class="page-head">
        <h1>Servers</h1>
        <p class="muted" aria-live="polite">
          {rows.length} servers in {regions.size} region{regions.size === 1 ? "" : "s"} · {alive} alive
          {data === undefined ? "" : ` · as ${data.members.ServerName} (region ${data.members.ServerRegion}) knows them`}
        </p>
      </div>
      <ErrorBox error={polled.error} what="Servers" />
      {data === undefined ? (
        polled.error === undefined ? <Loading what="servers" /> : null
      ) : (
        <div class="table-wrap">
          <table class="table" aria-label="Federation servers">
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Address</th>
                <th scope="col">Status</th>
                <th scope="col">Leader</th>
                <th scope="col">Datacenter</th>
                <th scope="col">Region</th>
                <th scope="col">Version</th>
                <th scope="col" title={`Measured by a server of region ${asked} to the other regions' servers`}>
                  RTT from {asked}
                </th>
              </tr>
            </thead>
            <tbody>
              {rows.map((r) => (
                <tr key={r.name} data-member={r.name} data-status={r.status} data-region={r.region} data-leader={String(r.leader)}>
                  <td>{r.name}</td>
                  <td>
                    <code>{r.address}</code>
                  </td>
                  <td>
                    <Badge status={r.status} />
                  </td>
                  <td>
                    <Leader row={r} />
                  </td>
                  <td>{r.datacenter}</td>
                  <td>{r.region}</td>
                  <td class="muted">{r.version}</td>
                  <td>{r.rttMs !== undefined ? rttText(r.rttMs) : r.region === asked ? <span class="muted">same region</span> : <span class="muted" title={r.status === "alive" ? "no round trip to it measured yet" : `it is ${r.status}: no round trip to it now`}>—</span>}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </div>
  );
}
