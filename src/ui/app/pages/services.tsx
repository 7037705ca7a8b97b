/** The service catalog: every service with the health of its checks, and a service's instances. */
import type { JSX } from "preact";
import { useState } from "preact/hooks";
import { seg } from "../api.js";
import { Badge, ErrorBox, Filter, Loading, THead, VirtualTable } from "../components.js";
import { useBlocking } from "../live.js";
import { href } from "../router.js";
import type { HealthEntry } from "../types.js";

interface CheckRow {
  ServiceName: string;
  Status: string;
}

/** A service's or an instance's health: its worst check. */
function worst(statuses: readonly string[]): string {
  if (statuses.includes("critical")) return "critical";
  if (statuses.includes("warning")) return "warning";
  return "passing";
}

export function ServicesPage(): JSX.Element {
  const services = useBlocking<Record<string, string[]>>("/v1/catalog/services");
  const checks = useBlocking<CheckRow[]>("/v1/health/state/any");
  const [filter, setFilter] = useState("");
  const byService = new Map<string, string[]>();
  for (const c of checks.data ?? []) byService.set(c.ServiceName, [...(byService.get(c.ServiceName) ?? []), c.Status]);
  const list = Object.entries(services.data ?? {})
    .filter(([name]) => filter === "" || name.includes(filter))
    .sort(([a], [b]) => (a < b ? -1 : 1));
  return (
    <div>
      <div class="page-head">
        <h1>Services</h1>
        <Filter label="Filter services" value={filter} set={setFilter} />
      </div>
      <ErrorBox error={services.error} what="Catalog" />
      <ErrorBox error={checks.error} what="Checks" />
      {services.data === undefined ? (
        <Loading what="the catalog" />
      ) : (
        <VirtualTable
          items={list}
          label="Services"
          columns="minmax(12em, 2fr) 8em 10em minmax(12em, 3fr)"
          minWidth={640}
          rowKey={([name]) => name}
          empty="The catalog has no service."
          heads={["Service", "Health", "Checks", "Tags"]}
          row={([name, tags]) => {
            const statuses = byService.get(name) ?? [];
            return [
              <span role="cell">
                <a href={href.service(name)}>{name}</a>
              </span>,
              <span role="cell">{statuses.length === 0 ? <span class="muted">no checks</span> : <Badge status={worst(statuses)} />}</span>,
              <span role="cell" class="muted">
                {statuses.filter((s) => s === "passing").length}/{statuses.length} passing
              </span>,
              <span role="cell" title={tags.join(", ")}>
                {tags.map((t) => (
                  <code key={t} class="tag">
                    {t}
                  </code>
                ))}
              </span>,
            ];
          }}
        />
      )}
    </div>
  );
}

export function ServicePage({ name }: { name: string }): JSX.Element {
  const instances = useBlocking<HealthEntry[]>(`/v1/health/service/${seg(name)}`);
  return (
    <div>
      <div class="page-head">
        <h1>{name}</h1>
        <a href={href.services()}>All services</a>
      </div>
      <ErrorBox error={instances.error} what="Instances" />
      {instances.data === undefined ? (
        <Loading what="instances" />
      ) : instances.data.length === 0 ? (
        <p class="muted">No instance of {name} is registered.</p>
      ) : (
        <div class="table-wrap section">
          <table aria-label={`Instances of ${name}`}>
            <THead cols={["Instance", "Node", "Address", "Health", "Checks"]} />
            <tbody>
              {instances.data.map((i) => (
                <tr key={i.Service.ID}>
                  <td>
                    <code>{i.Service.ID}</code>
                  </td>
                  <td>{i.Node.Node}</td>
                  <td>
                    <code>
                      {i.Service.Address === "" ? i.Node.Address : i.Service.Address}:{i.Service.Port}
                    </code>
                  </td>
                  <td>
                    <Badge status={worst(i.Checks.map((c) => c.Status))} />
                  </td>
                  <td>
                    <ul class="checks">
                      {i.Checks.map((c) => (
                        <li key={c.CheckID}>
                          <Badge status={c.Status} /> {c.Name} {c.Output === "" ? null : <code class="output">{c.Output}</code>}
                        </li>
                      ))}
                    </ul>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </div>
  );
}
