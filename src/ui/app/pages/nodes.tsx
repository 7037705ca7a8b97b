/** Every node: its state, where it is, and what it holds. */
import type { JSX } from "preact";
import { useMemo, useState } from "preact/hooks";
import { Ago, Badge, ErrorBox, Filter, Loading, Use, VirtualTable } from "../components.js";
import { mb } from "../format.js";
import { useLiveList } from "../live.js";
import { active, asNode, asStub, nodeState } from "../rows.js";
import { href } from "../router.js";
import type { AllocStub, PublicNode } from "../types.js";

interface Held {
  allocs: number;
  cpu: number;
  memory: number;
}

export function NodesPage(): JSX.Element {
  const nodes = useLiveList<PublicNode>("/v1/nodes", "Node", asNode);
  const allocs = useLiveList<AllocStub>("/v1/allocations", "Allocation", asStub);
  const [filter, setFilter] = useState("");
  const held = useMemo(() => {
    const m = new Map<string, Held>();
    for (const a of allocs.data ?? []) {
      if (!active(a)) continue;
      const h = m.get(a.NodeID) ?? { allocs: 0, cpu: 0, memory: 0 };
      h.allocs++;
      h.cpu += a.Resources.CPU;
      h.memory += a.Resources.MemoryMB;
      m.set(a.NodeID, h);
    }
    return m;
  }, [allocs.data]);
  const list = (nodes.data ?? []).filter((n) => filter === "" || n.Name.includes(filter) || n.NodeClass.includes(filter) || n.Datacenter.includes(filter)).sort((a, b) => (a.Name < b.Name ? -1 : 1));
  return (
    <div>
      <div class="page-head">
        <h1>Nodes</h1>
        <Filter label="Filter nodes" placeholder="Filter by name, class, datacenter" value={filter} set={setFilter} />
      </div>
      <ErrorBox error={nodes.error} what="Nodes" />
      <ErrorBox error={allocs.error} what="Allocations" />
      {nodes.data === undefined ? (
        <Loading what="nodes" />
      ) : (
        <VirtualTable
          items={list}
          label="Nodes"
          columns="minmax(10em, 2fr) 7em 7em minmax(7em, 1fr) minmax(5em, 1fr) 5em minmax(9em, 1fr) minmax(9em, 1fr) 7em"
          minWidth={900}
          rowKey={(n) => n.ID}
          empty="No node has joined the cluster."
          heads={["Name", "State", "Eligibility", "Datacenter", "Class", "Allocs", "CPU", "Memory", "Heartbeat"]}
          row={(n) => {
            const h = held.get(n.ID) ?? { allocs: 0, cpu: 0, memory: 0 };
            return [
              <span role="cell">
                <a href={href.node(n.ID)}>{n.Name}</a>
              </span>,
              <span role="cell">
                <Badge status={nodeState(n)} />
              </span>,
              <span role="cell" class="muted">
                {n.SchedulingEligibility}
              </span>,
              <span role="cell">{n.Datacenter}</span>,
              <span role="cell">{n.NodeClass === "" ? <span class="muted">—</span> : n.NodeClass}</span>,
              <span role="cell" class="num">
                {h.allocs}
              </span>,
              <span role="cell">
                <Use used={h.cpu} total={n.Resources.CPU} text={`${h.cpu}/${n.Resources.CPU} MHz`} />
              </span>,
              <span role="cell">
                <Use used={h.memory} total={n.Resources.MemoryMB} text={`${mb(h.memory)}/${mb(n.Resources.MemoryMB)}`} />
              </span>,
              <span role="cell" class="muted">
                <Ago ms={n.LastHeartbeat} />
              </span>,
            ];
          }}
        />
      )}
    </div>
  );
}
