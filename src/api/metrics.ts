import { TABLES } from "../state/index.js";
import type { ApiContext } from "./context.js";

/** Prometheus metrics: request counts and durations per route, and the state of the cluster. */
export class Metrics {
  private readonly requests = new Map<string, { count: number; seconds: number }>();

  observe(method: string, route: string, status: number, ms: number): void {
    const key = `method="${method}",route="${route.replace(/"/g, "")}",code="${status}"`;
    const m = this.requests.get(key) ?? { count: 0, seconds: 0 };
    m.count++;
    m.seconds += ms / 1000;
    if (this.requests.size < 10_000) this.requests.set(key, m);
  }

  render(ctx: ApiContext): string {
    const lines: string[] = [];
    lines.push("# HELP ruche_http_requests_total HTTP requests served.", "# TYPE ruche_http_requests_total counter");
    for (const [k, v] of this.requests) lines.push(`ruche_http_requests_total{${k}} ${v.count}`);
    lines.push("# HELP ruche_http_request_seconds_total Time spent serving HTTP requests.", "# TYPE ruche_http_request_seconds_total counter");
    for (const [k, v] of this.requests) lines.push(`ruche_http_request_seconds_total{${k}} ${v.seconds.toFixed(6)}`);
    const s = ctx.store;
    lines.push("# HELP ruche_state_index The state store's index.", "# TYPE ruche_state_index gauge", `ruche_state_index ${s.index}`);
    lines.push("# HELP ruche_blocking_queries Blocking queries waiting for a table to move past their index.", "# TYPE ruche_blocking_queries gauge");
    for (const t of TABLES) lines.push(`ruche_blocking_queries{table="${t}"} ${s.blockingQueries(t)}`);
    const byStatus = new Map<string, number>();
    for (const n of s.nodes()) byStatus.set(n.Status, (byStatus.get(n.Status) ?? 0) + 1);
    lines.push("# HELP ruche_nodes Nodes by status.", "# TYPE ruche_nodes gauge");
    for (const [st, n] of byStatus) lines.push(`ruche_nodes{status="${st}"} ${n}`);
    const allocs = new Map<string, number>();
    for (const a of s.allocs()) allocs.set(a.ClientStatus, (allocs.get(a.ClientStatus) ?? 0) + 1);
    lines.push("# HELP ruche_allocations Allocations by client status.", "# TYPE ruche_allocations gauge");
    for (const [st, n] of allocs) lines.push(`ruche_allocations{status="${st}"} ${n}`);
    const b = ctx.server.broker.stats;
    lines.push("# HELP ruche_broker_evaluations Evaluations in the broker.", "# TYPE ruche_broker_evaluations gauge");
    for (const [k, v] of Object.entries(b)) lines.push(`ruche_broker_evaluations{state="${k}"} ${v}`);
    return `${lines.join("\n")}\n`;
  }
}
