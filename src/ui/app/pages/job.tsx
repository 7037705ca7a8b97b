/**
 * One job: its groups with their counts and scale buttons, its latest deployment with
 * Promote and Fail, its allocations, and its versions with the difference between any two.
 */
import type { JSX } from "preact";
import { useState } from "preact/hooks";
import { del, get, message, put, seg } from "../api.js";
import { Action, Ago, Badge, ErrorBox, Loading, Section, THead, VirtualTable } from "../components.js";
import { diffVersions } from "../diff.js";
import type { StreamEvent } from "../events.js";
import { jobHue, msOfNanos, msOfTime, short, when } from "../format.js";
import { useLive, useLiveList, usePolled } from "../live.js";
import { asStub, byNewest, COUNTS } from "../rows.js";
import { href } from "../router.js";
import type { AllocStub, Deployment, Job } from "../types.js";

export function JobPage({ id }: { id: string }): JSX.Element {
  const path = `/v1/job/${seg(id)}`;
  // The job's namespace comes with its link (`?namespace=`); "default" without one.
  const q = namespaceQuery();
  const ofJob = (e: StreamEvent): boolean => (e.Topic === "Job" ? e.Key.endsWith(`/${id}`) || e.Key === id : (e.Payload as { JobID?: string } | null)?.JobID === id || e.Type.endsWith("Deleted"));
  const job = useLive<Job>(`${path}${q}`, ["Job", "Allocation"], ofJob);
  const summary = useLive<{ Summary: Record<string, Record<string, number>> }>(`${path}/summary${q}`, ["Allocation"], ofJob);
  const deployment = useLive<Deployment | null>(`${path}/deployment${q}`, ["Deployment"], ofJob);
  const allocs = useLiveList<AllocStub>(`${path}/allocations${q}`, "Allocation", asStub, (a) => a.JobID === id);
  const j = job.data;

  if (j === undefined) {
    return (
      <div>
        <h1>Job {id}</h1>
        {job.error === undefined ? <Loading what="the job" /> : <ErrorBox error={job.error} />}
      </div>
    );
  }
  const start = (): Promise<unknown> => put("/v1/jobs", { Job: { ...j, Stop: false } });
  return (
    <div>
      <div class="page-head">
        <h1>
          <span class="swatch" style={{ "--hue": String(jobHue(j.ID)) }} aria-hidden="true" />
          {j.ID}
        </h1>
        <Badge status={j.Status} />
        <div class="actions">
          {j.Stop ? (
            <Action run={start} kind="primary">
              Start
            </Action>
          ) : (
            <Action run={() => del(`${path}${q}`)} kind="danger" confirm="Confirm stop">
              Stop
            </Action>
          )}
        </div>
      </div>
      <ErrorBox error={job.error} what="Job" />
      <dl class="facts">
        <dt>Type</dt>
        <dd>{j.Type}</dd>
        <dt>Version</dt>
        <dd>v{j.Version}</dd>
        <dt>Priority</dt>
        <dd>{j.Priority}</dd>
        <dt>Datacenters</dt>
        <dd>{j.Datacenters.join(", ")}</dd>
        <dt>Namespace</dt>
        <dd>{j.Namespace}</dd>
        <dt>Submitted</dt>
        <dd>
          <Ago ms={msOfNanos(j.SubmitTime)} />
        </dd>
      </dl>

      <Section title="Task groups" id="groups">
        <ErrorBox error={summary.error} what="Summary" />
        <div class="table-wrap">
          <table>
            <THead cols={["Group", "Count", ...COUNTS, "Scale"]} />
            <tbody>
              {j.TaskGroups.map((g) => {
                const s = summary.data?.Summary[g.Name] ?? {};
                return (
                  <tr key={g.Name} data-group={g.Name}>
                    <th scope="row">{g.Name}</th>
                    <td class="num" data-count={g.Count}>
                      {g.Count}
                    </td>
                    {COUNTS.map((c) => (
                      <td key={c} class={`num${(s[c] ?? 0) > 0 ? ` c-${c.toLowerCase()}` : " muted"}`}>
                        {s[c] ?? 0}
                      </td>
                    ))}
                    <td>
                      <span class="scale">
                        {([-1, 1] as const).map((by) => (
                          <Action key={by} run={() => put(`${path}/scale${q}`, { Count: g.Count + by, Target: { Group: g.Name } })} disabled={j.Stop || g.Count + by < 0} title={`Scale ${g.Name} to ${g.Count + by}`}>
                            {by < 0 ? "−" : "+"}
                            <span class="sr-only"> one allocation of {g.Name}</span>
                          </Action>
                        ))}
                      </span>
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      </Section>

      <Section title="Latest deployment" id="deployment">
        <ErrorBox error={deployment.error} what="Deployment" />
        {deployment.data === undefined ? deployment.error === undefined ? <Loading what="the deployment" /> : null : deployment.data === null ? <p class="muted">This job has had no deployment.</p> : <DeploymentView d={deployment.data} />}
        {deployment.data?.IsMultiregion === true ? <RegionDeployments job={j} d={deployment.data} /> : null}
      </Section>

      <Section title="Allocations" id="allocations">
        <ErrorBox error={allocs.error} what="Allocations" />
        {allocs.data === undefined ? <Loading what="allocations" /> : <AllocTable allocs={allocs.data} />}
      </Section>

      <Versions path={path} q={q} current={j} />
    </div>
  );
}

/**
 * A multiregion job's deployment in each of its regions, for the same job version (as `job
 * status`'s "Multiregion Deployment"): each region asked with `?region=`, read again every few
 * seconds (another region's deployments are not on this region's event stream). A blocked one
 * can be unblocked here.
 */
function RegionDeployments({ job, d }: { job: Job; d: Deployment }): JSX.Element | null {
  const regions = job.Multiregion?.Regions.map((r) => r.Name) ?? [];
  const rows = usePolled(
    `${job.ID}@${d.JobVersion}:${regions.join(",")}`,
    (signal) =>
      Promise.all(
        regions.map(async (region) => {
          try {
            const list = (await get<Deployment[]>(`/v1/job/${seg(job.ID)}/deployments`, { query: { region, namespace: job.Namespace }, signal, prompt: false })).body;
            return { region, d: list.find((x) => x.JobVersion === d.JobVersion), error: "" };
          } catch (err) {
            return { region, d: undefined, error: message(err) };
          }
        }),
      ),
    3000,
  );
  if (regions.length === 0) return null;
  return (
    <div class="table-wrap" data-multiregion={job.ID}>
      <table>
        <caption>Multiregion deployment of v{d.JobVersion}</caption>
        <THead cols={["Region", "Deployment", "Status", "Description", ""]} />
        <tbody>
          {(rows.data ?? regions.map((region) => ({ region, d: undefined, error: "" }))).map((r) => (
            <tr key={r.region} data-region={r.region}>
              <th scope="row">{r.region}</th>
              <td>{r.d === undefined ? "—" : <code>{short(r.d.ID)}</code>}</td>
              <td>{r.d === undefined ? <span class="muted">{r.error === "" ? "none yet" : "error"}</span> : <Badge status={r.d.Status} />}</td>
              <td class="muted">{r.d?.StatusDescription ?? r.error}</td>
              <td>
                {r.d?.Status === "blocked" ? (
                  <Action run={() => put(`/v1/deployment/unblock/${seg(r.d?.ID ?? "")}`, { DeploymentID: r.d?.ID ?? "" }, { query: { region: r.region } })}>Unblock</Action>
                ) : null}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function DeploymentView({ d }: { d: Deployment }): JSX.Element {
  const active = d.Status === "running" || d.Status === "paused" || d.Status === "pending" || d.Status === "blocked";
  const groups = Object.entries(d.TaskGroups);
  const waiting = active && groups.some(([, g]) => g.DesiredCanaries > 0 && !g.Promoted);
  return (
    <div class="deployment" data-deployment={d.ID} data-status={d.Status}>
      <div class="section-head">
        <p>
          <code>{short(d.ID)}</code> of v{d.JobVersion} <Badge status={d.Status} /> <span class="muted">{d.StatusDescription}</span>
        </p>
        <div class="actions">
          {waiting ? (
            <Action run={() => put(`/v1/deployment/promote/${seg(d.ID)}`, { All: true })} kind="primary">
              Promote
            </Action>
          ) : null}
          {active ? (
            <Action run={() => put(`/v1/deployment/pause/${seg(d.ID)}`, { DeploymentID: d.ID, Pause: d.Status !== "paused" })}>{d.Status === "paused" ? "Resume" : "Pause"}</Action>
          ) : null}
          {active ? (
            <Action run={() => put(`/v1/deployment/fail/${seg(d.ID)}`, {})} kind="danger" confirm="Confirm fail">
              Fail
            </Action>
          ) : null}
        </div>
      </div>
      <div class="table-wrap">
        <table>
          <THead cols={["Group", "Promoted", "Canaries", "Desired", "Placed", "Healthy", "Unhealthy", "Progress by"]} />
          <tbody>
            {groups.map(([name, g]) => (
              <tr key={name}>
                <th scope="row">{name}</th>
                <td>{g.DesiredCanaries === 0 ? "—" : g.Promoted ? "yes" : "no"}</td>
                <td class="num">
                  {g.PlacedCanaries.length}/{g.DesiredCanaries}
                </td>
                <td class="num">{g.DesiredTotal}</td>
                <td class="num">{g.PlacedAllocs}</td>
                <td class="num">{g.HealthyAllocs}</td>
                <td class={`num${g.UnhealthyAllocs > 0 ? " c-failed" : ""}`}>{g.UnhealthyAllocs}</td>
                <td class="muted">{msOfTime(g.RequireProgressBy) > 0 ? when(msOfTime(g.RequireProgressBy)) : "—"}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </div>
  );
}

/** Allocations, newest first; used on the job's page and on a node's. */
export function AllocTable({ allocs, show = "node" }: { allocs: readonly AllocStub[]; show?: "node" | "job" }): JSX.Element {
  const list = [...allocs].sort(byNewest);
  return (
    <VirtualTable
      items={list}
      label="Allocations"
      columns="6em minmax(10em, 2fr) minmax(8em, 1.5fr) 6em 7em 6em minmax(8em, 1fr)"
      minWidth={760}
      rowKey={(a) => a.ID}
      heads={["ID", "Name", show === "node" ? "Node" : "Job", "Version", "Status", "Desired", "Health"]}
      row={(a) => [
        <span role="cell">
          <a href={href.alloc(a.ID)} data-alloc={a.ID}>
            <code>{short(a.ID)}</code>
          </a>
        </span>,
        <span role="cell" title={a.Name}>
          {a.Name}
        </span>,
        <span role="cell">{show === "node" ? <a href={href.node(a.NodeID)}>{a.NodeName}</a> : <a href={href.job(a.JobID)}>{a.JobID}</a>}</span>,
        <span role="cell">v{a.JobVersion}</span>,
        <span role="cell">
          <Badge status={a.ClientStatus} />
        </span>,
        <span role="cell" class="muted">
          {a.DesiredStatus}
        </span>,
        <span role="cell">
          {a.DeploymentStatus?.Canary === true ? <Badge status="canary" /> : null} {a.DeploymentStatus === null ? "" : a.DeploymentStatus.Healthy === null ? <span class="muted">checking</span> : a.DeploymentStatus.Healthy ? <Badge status="healthy" /> : <Badge status="unhealthy" />}
        </span>,
      ]}
      empty="No allocation."
    />
  );
}

function Versions({ path, q, current }: { path: string; q: string; current: Job }): JSX.Element {
  const versions = useLive<{ Versions: Job[] }>(`${path}/versions${q}`, ["Job"], (e) => e.Key.endsWith(`/${current.ID}`) || e.Key === current.ID);
  const list = [...(versions.data?.Versions ?? [])].sort((a, b) => b.Version - a.Version);
  const [from, setFrom] = useState<number | null>(null);
  const [to, setTo] = useState<number | null>(null);
  const newest = list[0]?.Version ?? current.Version;
  const a = list.find((v) => v.Version === (from ?? newest - 1));
  const b = list.find((v) => v.Version === (to ?? newest));
  const changes = a !== undefined && b !== undefined ? diffVersions(a, b) : [];
  const pick = (label: string, value: number | undefined, set: (n: number) => void): JSX.Element => (
    <label>
      {label}{" "}
      <select
        value={value}
        onChange={(e) => {
          set(Number(e.currentTarget.value));
        }}
      >
        {list.map((v) => (
          <option key={v.Version} value={v.Version}>
            v{v.Version}
          </option>
        ))}
      </select>
    </label>
  );
  return (
    <Section title="Versions" id="versions">
      <ErrorBox error={versions.error} what="Versions" />
      {versions.data === undefined ? (
        <Loading what="versions" />
      ) : (
        <div class="versions">
          <ul class="version-list">
            {list.map((v) => (
              <li key={v.Version}>
                <strong>v{v.Version}</strong> <span class="muted">{when(msOfNanos(v.SubmitTime))}</span> {v.Stable ? <Badge status="stable" /> : null}{" "}
                {v.Version === current.Version ? (
                  <span class="muted">current</span>
                ) : (
                  <Action run={() => put(`${path}/revert${q}`, { JobVersion: v.Version })} confirm={`Confirm revert to v${v.Version}`}>
                    Revert
                  </Action>
                )}
              </li>
            ))}
          </ul>
          {list.length < 2 ? (
            <p class="muted">One version only: nothing to compare.</p>
          ) : (
            <div class="diff">
              <div class="toolbar">
                {pick("From", a?.Version, setFrom)}
                {pick("to", b?.Version, setTo)}
              </div>
              {changes.length === 0 ? (
                <p class="muted">No difference.</p>
              ) : (
                <table class="diff-table" aria-label={`Changes from v${a?.Version ?? "?"} to v${b?.Version ?? "?"}`}>
                  <THead cols={["Field", `v${a?.Version ?? "?"}`, `v${b?.Version ?? "?"}`]} />
                  <tbody>
                    {changes.map((c) => (
                      <tr key={c.path} class={`d-${c.kind}`}>
                        <th scope="row">
                          <code>{c.path}</code>
                        </th>
                        <td>
                          <code>{c.before ?? ""}</code>
                        </td>
                        <td>
                          <code>{c.after ?? ""}</code>
                        </td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              )}
            </div>
          )}
        </div>
      )}
    </Section>
  );
}

/** `?namespace=NS` of the page's own address, for the API paths of a job outside "default"; "" otherwise. */
function namespaceQuery(): string {
  const ns = new URLSearchParams(location.search).get("namespace");
  return ns === null || ns === "" || ns === "default" ? "" : `?namespace=${encodeURIComponent(ns)}`;
}
