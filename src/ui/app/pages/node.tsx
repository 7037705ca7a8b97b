/** One node: drain and eligibility toggles, its attributes, drivers, resources and allocations. */
import type { JSX } from "preact";
import { put, seg } from "../api.js";
import { Action, Ago, Badge, ErrorBox, Loading, Pairs, Section, Use } from "../components.js";
import { mb, msOfTime, when } from "../format.js";
import { useLive, useLiveList } from "../live.js";
import { active, asStub, nodeState } from "../rows.js";
import type { AllocStub, PublicNode } from "../types.js";
import { AllocTable } from "./job.js";

/** The deadline a drain started here gets, as `ruche node drain -enable` gives it: one hour, in nanoseconds. */
const DRAIN_DEADLINE_NS = 3600 * 1e9;

export function NodePage({ id }: { id: string }): JSX.Element {
  const path = `/v1/node/${seg(id)}`;
  const node = useLive<PublicNode>(path, ["Node"], (e) => e.Key === id);
  const allocs = useLiveList<AllocStub>(`${path}/allocations`, "Allocation", asStub, (a) => a.NodeID === id);
  const n = node.data;
  if (n === undefined) {
    return (
      <div>
        <h1>Node</h1>
        {node.error === undefined ? <Loading what="the node" /> : <ErrorBox error={node.error} />}
      </div>
    );
  }
  const draining = n.DrainStrategy !== null;
  const eligible = n.SchedulingEligibility === "eligible";
  const held = (allocs.data ?? []).filter(active);
  const cpu = held.reduce((s, a) => s + a.Resources.CPU, 0);
  const memory = held.reduce((s, a) => s + a.Resources.MemoryMB, 0);
  return (
    <div>
      <div class="page-head">
        <h1>{n.Name}</h1>
        <Badge status={nodeState(n)} />
        <div class="actions" role="group" aria-label="Node controls">
          <Action
            run={() => put(`${path}/drain`, draining ? { DrainSpec: null, MarkEligible: false } : { DrainSpec: { Deadline: DRAIN_DEADLINE_NS, IgnoreSystemJobs: false } })}
            kind={draining ? "primary" : "normal"}
            pressed={draining}
            title={draining ? "Stop draining (the node stays ineligible until marked eligible)" : "Move this node's allocations elsewhere and place nothing new on it"}
          >
            Drain: {draining ? "on" : "off"}
          </Action>
          <Action run={() => put(`${path}/eligibility`, { Eligibility: eligible ? "ineligible" : "eligible" })} pressed={eligible} disabled={draining && !eligible} title={eligible ? "Place nothing new on this node" : "Let the scheduler place work on this node"}>
            Eligible: {eligible ? "yes" : "no"}
          </Action>
        </div>
      </div>
      <ErrorBox error={node.error} what="Node" />
      <dl class="facts">
        <dt>ID</dt>
        <dd>
          <code>{n.ID}</code>
        </dd>
        <dt>Status</dt>
        <dd>
          {n.Status}
          {n.StatusDescription === "" ? "" : ` — ${n.StatusDescription}`}
        </dd>
        <dt>Datacenter</dt>
        <dd>{n.Datacenter}</dd>
        <dt>Class</dt>
        <dd>{n.NodeClass === "" ? "—" : n.NodeClass}</dd>
        <dt>Pool</dt>
        <dd>{n.NodePool}</dd>
        <dt>Address</dt>
        <dd>{n.HTTPAddr === "" ? n.Resources.IP : n.HTTPAddr}</dd>
        <dt>Heartbeat</dt>
        <dd>
          <Ago ms={n.LastHeartbeat} />
        </dd>
        {n.DrainStrategy === null ? null : (
          <>
            <dt>Drain deadline</dt>
            <dd>{msOfTime(n.DrainStrategy.ForceDeadline) > 0 ? when(msOfTime(n.DrainStrategy.ForceDeadline)) : "none"}</dd>
          </>
        )}
      </dl>

      <Section title="Resources" id="node-resources">
        <div class="meters">
          <div class="meter">
            <div class="muted">CPU held</div>
            <Use used={cpu} total={n.Resources.CPU} text={`${cpu}/${n.Resources.CPU} MHz`} />
            <div class="muted">
              {cpu} of {n.Resources.CPU} MHz ({n.Resources.Cores} cores)
            </div>
          </div>
          <div class="meter">
            <div class="muted">Memory held</div>
            <Use used={memory} total={n.Resources.MemoryMB} text={`${mb(memory)}/${mb(n.Resources.MemoryMB)}`} />
            <div class="muted">
              {mb(memory)} of {mb(n.Resources.MemoryMB)}
            </div>
          </div>
          <div class="meter">
            <div class="muted">Disk</div>
            <div class="meter-value">{n.Resources.DiskMB > 0 ? mb(n.Resources.DiskMB) : "—"}</div>
          </div>
        </div>
      </Section>

      <Section title="Allocations" id="node-allocations">
        <ErrorBox error={allocs.error} what="Allocations" />
        {allocs.data === undefined ? <Loading what="allocations" /> : <AllocTable allocs={allocs.data} show="job" />}
      </Section>

      <Section title="Drivers" id="drivers">
        <ul class="drivers">
          {Object.entries(n.Drivers)
            .sort(([a], [b]) => (a < b ? -1 : 1))
            .map(([name, d]) => (
              <li key={name}>
                <strong>{name}</strong> {!d.Detected ? <Badge status="undetected" label="not detected" /> : d.Healthy ? <Badge status="healthy" /> : <Badge status="unhealthy" />} <span class="muted">{d.HealthDescription}</span>
              </li>
            ))}
        </ul>
      </Section>

      <Section title="Attributes" id="attributes">
        <Pairs data={n.Attributes} label="Attributes" />
      </Section>
      {Object.keys(n.Meta).length === 0 ? null : (
        <Section title="Meta" id="meta">
          <Pairs data={n.Meta} label="Meta" />
        </Section>
      )}
    </div>
  );
}
