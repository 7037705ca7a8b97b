/**
 * The region's servers, on the cluster page: each one's address and status, which one
 * leads, its etcd member, and its lag (how long since it last heard from the cluster's
 * state, as it says itself). Lags change without any event to say so: the list is read
 * again every five seconds (`useBlocking` on an answer without an index).
 */
import type { JSX } from "preact";
import { Badge, ErrorBox } from "../components.js";
import { useBlocking } from "../live.js";
import type { ServerStatus } from "../types.js";

/** A lag in words: "0 ms" on the leader, "—" (with the reason on hover) when the server could not say. */
function lag(s: ServerStatus): JSX.Element {
  if (s.LastContact === null) return <span class="muted" title={s.Error}>—</span>;
  return <span>{s.LastContact < 1000 ? `${s.LastContact} ms` : `${(s.LastContact / 1000).toFixed(1)} s`}</span>;
}

export function ServersTable(): JSX.Element | null {
  const servers = useBlocking<{ Servers: ServerStatus[] }>("/v1/operator/servers");
  const list = [...(servers.data?.Servers ?? [])].sort((a, b) => (a.Name < b.Name ? -1 : a.Name > b.Name ? 1 : 0));
  const leader = list.find((s) => s.Leader);
  return (
    <section aria-label="Servers">
      <ErrorBox error={servers.error} what="Servers" />
      {list.length === 0 ? null : (
        <div class="table-wrap">
          <table class="table" aria-label="Servers">
            <thead>
              <tr>
                <th scope="col">Server</th>
                <th scope="col">Address</th>
                <th scope="col">Status</th>
                <th scope="col">Leader</th>
                <th scope="col">Lag</th>
                <th scope="col">Etcd member</th>
                <th scope="col">Region · DC</th>
              </tr>
            </thead>
            <tbody>
              {list.map((s) => (
                <tr key={s.Name} data-server={s.Name} data-status={s.Status} data-leader={String(s.Leader)}>
                  <td>{s.Name}</td>
                  <td>
                    <code>{s.HTTPAddr}</code>
                  </td>
                  <td>
                    <Badge status={s.Status} />
                  </td>
                  <td>{s.Leader ? <Badge status="leader" label="leader" /> : null}</td>
                  <td>{lag(s)}</td>
                  <td>{s.EtcdMember === "" ? <span class="muted">none</span> : s.EtcdMember}</td>
                  <td class="muted">
                    {s.Region} · {s.Datacenter}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          {leader === undefined ? (
            <p class="error" role="alert">
              No server leads: writes wait until one is elected.
            </p>
          ) : null}
        </div>
      )}
    </section>
  );
}
