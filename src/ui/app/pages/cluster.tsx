/**
 * The cluster at a glance, as the Swarm visualizer shows it: the servers (`servers.tsx`),
 * then a column per node, a box per allocation coloured by its job, drawn by its status. A node that goes down or drains
 * changes colour at once; allocations appear and go as the scheduler places them.
 */
import type { JSX } from "preact";
import { useMemo, useState } from "preact/hooks";
import { Badge, ErrorBox, Filter, Loading } from "../components.js";
import { jobHue, short } from "../format.js";
import { useLiveList } from "../live.js";
import { asNode, asStub, nodeState } from "../rows.js";
import { href } from "../router.js";
import type { AllocStub, PublicNode } from "../types.js";
import { ServersTable } from "./servers.js";

/** Boxes drawn in one column before the rest are counted. */
const MAX_BOXES = 48;

export function ClusterPage(): JSX.Element {
  const nodes = useLiveList<PublicNode>("/v1/nodes", "Node", asNode);
  const allocs = useLiveList<AllocStub>("/v1/allocations", "Allocation", asStub);
  const [filter, setFilter] = useState("");
  const [finished, setFinished] = useState(false);

  const byNode = useMemo(() => {
    const m = new Map<string, AllocStub[]>();
    for (const a of allocs.data ?? []) {
      if (!finished && !current(a)) continue;
      if (filter !== "" && !a.JobID.includes(filter)) continue;
      let list = m.get(a.NodeID);
      if (list === undefined) m.set(a.NodeID, (list = []));
      list.push(a);
    }
    for (const list of m.values()) list.sort((x, y) => (x.JobID === y.JobID ? (x.Name < y.Name ? -1 : 1) : x.JobID < y.JobID ? -1 : 1));
    return m;
  }, [allocs.data, filter, finished]);

  const list = [...(nodes.data ?? [])].sort((a, b) => (a.Name < b.Name ? -1 : a.Name > b.Name ? 1 : 0));
  const states = new Map<string, number>();
  for (const n of list) states.set(nodeState(n), (states.get(nodeState(n)) ?? 0) + 1);
  const running = (allocs.data ?? []).filter((a) => a.ClientStatus === "running").length;

  return (
    <div>
      <div class="page-head">
        <h1>Cluster</h1>
        <p class="muted" aria-live="polite">
          {list.length} nodes{[...states].map(([s, n]) => ` · ${n} ${s}`).join("")} · {running} allocations running
        </p>
      </div>
      <ServersTable />
      <ErrorBox error={nodes.error} what="Nodes" />
      <ErrorBox error={allocs.error} what="Allocations" />
      <div class="toolbar">
        <Filter label="Filter allocations by job" placeholder="Filter by job" value={filter} set={setFilter} />
        <label class="check">
          <input type="checkbox" checked={finished} onChange={(e) => { setFinished(e.currentTarget.checked); }} /> Show finished allocations
        </label>
        <Legend />
      </div>
      {nodes.data === undefined ? (
        <Loading what="nodes" />
      ) : list.length === 0 ? (
        <p class="muted">No node has joined the cluster.</p>
      ) : (
        <div class="cluster" role="list" aria-label="Nodes">
          {list.map((n) => (
            <NodeColumn key={n.ID} node={n} allocs={byNode.get(n.ID) ?? []} />
          ))}
        </div>
      )}
    </div>
  );
}

/** What the view shows unless asked for more: allocations at work (or, on a silent node, maybe at work), and failed ones not replaced yet. */
function current(a: AllocStub): boolean {
  return a.ClientStatus === "running" || a.ClientStatus === "pending" || a.ClientStatus === "unknown" || (a.ClientStatus === "failed" && a.NextAllocation === "");
}

function NodeColumn({ node, allocs }: { node: PublicNode; allocs: AllocStub[] }): JSX.Element {
  const state = nodeState(node);
  const shown = allocs.slice(0, MAX_BOXES);
  return (
    <div class={`node-col n-${state}`} role="listitem" data-node={node.Name} data-state={state}>
      <div class="node-col-head">
        <a href={href.node(node.ID)} class="node-name" title={node.Name}>
          {node.Name}
        </a>
        <Badge status={state} />
      </div>
      <div class="node-col-meta muted">
        {node.Datacenter}
        {node.NodeClass === "" ? "" : ` · ${node.NodeClass}`} · {allocs.length} alloc{allocs.length === 1 ? "" : "s"}
      </div>
      <ul class="boxes" aria-label={`Allocations on ${node.Name}`}>
        {shown.map((a) => (
          <li key={a.ID}>
            <a
              href={href.alloc(a.ID)}
              class={`box a-${a.ClientStatus}${a.DesiredStatus === "run" ? "" : " stopping"}${a.DeploymentStatus?.Canary === true ? " canary" : ""}`}
              style={{ "--hue": String(jobHue(a.JobID)) }}
              title={`${a.Name} · ${a.ClientStatus}${a.DesiredStatus === "run" ? "" : ` (desired ${a.DesiredStatus})`} · ${short(a.ID)}`}
              data-alloc={a.ID}
              data-status={a.ClientStatus}
            >
              <span class="box-job">{a.JobID}</span>
              <span class="box-sub">
                {a.TaskGroup} · {short(a.ID)}
              </span>
            </a>
          </li>
        ))}
      </ul>
      {allocs.length > shown.length ? (
        <a href={href.node(node.ID)} class="more">
          + {allocs.length - shown.length} more
        </a>
      ) : null}
    </div>
  );
}

function Legend(): JSX.Element {
  return (
    <ul class="legend" aria-label="Legend">
      {["running", "pending", "unknown", "failed", "complete", "lost"].map((s) => (
        <li key={s}>
          <span class={`box-swatch a-${s}`} aria-hidden="true" /> {s}
        </li>
      ))}
      <li>
        <span class="box-swatch a-running canary" aria-hidden="true" /> canary
      </li>
    </ul>
  );
}
