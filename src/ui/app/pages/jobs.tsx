/** Every job with its status and its allocations counted by status. */
import type { JSX } from "preact";
import { useState } from "preact/hooks";
import { Ago, Badge, ErrorBox, Filter, Loading, VirtualTable } from "../components.js";
import { msOfNanos } from "../format.js";
import { useLive } from "../live.js";
import { href } from "../router.js";
import type { JobStub } from "../types.js";

export function JobsPage(): JSX.Element {
  // Every namespace's jobs (those the token may read), as Nomad's UI lists them with its namespace filter on "*".
  const jobs = useLive<JobStub[]>("/v1/jobs?namespace=*", ["Job", "Allocation"]);
  const [filter, setFilter] = useState("");
  const list = (jobs.data ?? []).filter((j) => filter === "" || j.ID.includes(filter)).sort((a, b) => (a.ID < b.ID ? -1 : 1));
  return (
    <div>
      <div class="page-head">
        <h1>Jobs</h1>
        <Filter label="Filter jobs" value={filter} set={setFilter} />
      </div>
      <ErrorBox error={jobs.error} what="Jobs" />
      {jobs.data === undefined ? (
        <Loading what="jobs" />
      ) : (
        <VirtualTable
          items={list}
          label="Jobs"
          columns="minmax(10em, 2fr) 6em 7em 5em minmax(16em, 3fr) 8em"
          minWidth={720}
          rowKey={(j) => `${j.Namespace}/${j.ID}`}
          empty={filter === "" ? "No job is registered. Run one with `ruche job run FILE`." : "No job matches."}
          heads={["Job", "Type", "Status", "Version", "Allocations", "Submitted"]}
          row={(j) => [
            <span role="cell">
              <a href={href.job(j.ID, j.Namespace)}>{j.ID}</a>
            </span>,
            <span role="cell">{j.Type}</span>,
            <span role="cell">
              <Badge status={j.Status} />
            </span>,
            <span role="cell">v{j.Version}</span>,
            <span role="cell">
              <Counts summary={j.JobSummary.Summary} />
            </span>,
            <span role="cell" class="muted">
              <Ago ms={msOfNanos(j.SubmitTime)} />
            </span>,
          ]}
        />
      )}
    </div>
  );
}

/** Allocations of every group of a job, added up, as small coloured counts. */
export function Counts({ summary }: { summary: Record<string, Record<string, number>> }): JSX.Element {
  const total: Record<string, number> = {};
  for (const g of Object.values(summary)) for (const [k, n] of Object.entries(g)) total[k] = (total[k] ?? 0) + n;
  const shown = Object.entries(total).filter(([, n]) => n > 0);
  if (shown.length === 0) return <span class="muted">none</span>;
  return (
    <span class="counts">
      {shown.map(([k, n]) => (
        <span key={k} class={`count c-${k.toLowerCase()}`} title={`${n} ${k.toLowerCase()}`}>
          {n} {k.toLowerCase()}
        </span>
      ))}
    </span>
  );
}
