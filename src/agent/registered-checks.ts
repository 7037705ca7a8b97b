import type { HealthStatus, ServiceRegistry } from "../catalog/index.js";
import { CheckState, probe } from "../client/index.js";
import { NS, type Logger, type RegisteredCheck, type ServiceCheck } from "../structs/index.js";

/** What the runner does on this server: the leader writes and keeps the registry; a follower probes its own node's checks and sends their statuses. */
export interface RegisteredChecksRole {
  /** Whether this server leads now: it writes statuses itself and keeps the registry (TTLs, DeregisterCriticalServiceAfter). */
  leading(): boolean;
  /** A follower's way to the leader for its node's statuses (through its node's line to the servers); absent, a follower probes nothing. */
  report?(checkId: string, status: HealthStatus, output: string): Promise<void>;
}

/**
 * Runs the http and tcp checks of services registered directly with this agent (as a
 * Consul agent runs its own: each server its own node's, those registered through it),
 * with their thresholds, writing a status only when it changes; and on the leader, once a
 * second, the registry's housekeeping (TTL expiry, deregistering services critical for
 * longer than DeregisterCriticalServiceAfter).
 */
export function runRegisteredChecks(registry: ServiceRegistry, localNode: () => string, log: Logger, role: RegisteredChecksRole = { leading: () => true }): () => void {
  const states = new Map<string, { state: CheckState; due: number; busy: boolean; outputAt: number }>();
  const timer = setInterval(() => {
    void tick();
  }, 250);
  timer.unref();
  let housekeeping = 0;
  async function tick(): Promise<void> {
    const now = Date.now();
    const leading = role.leading();
    // A follower that runs no node has no checks of its own: the leader runs those of services on no node.
    if (!leading && (role.report === undefined || localNode() === "")) return;
    if (leading && now - housekeeping >= 1000) {
      housekeeping = now;
      await registry.tick().catch((err: unknown) => {
        log.warn({ err }, "registered services housekeeping failed");
      });
    }
    const seen = new Set<string>();
    for (const s of registry.list()) {
      if (s.NodeID !== localNode()) continue;
      for (const c of s.Checks) {
        if (c.Type !== "http" && c.Type !== "tcp") continue;
        const key = `${s.ID}/${c.CheckID}`;
        seen.add(key);
        let st = states.get(key);
        if (st === undefined) {
          st = { state: new CheckState(asServiceCheck(c)), due: 0, busy: false, outputAt: 0 };
          st.state.status = c.Status;
          states.set(key, st);
        }
        if (st.busy || now < st.due) continue;
        st.busy = true;
        st.due = now + c.Interval / NS.millisecond;
        const entry = st;
        void probe(asServiceCheck(c), null, null, c.Type === "http" ? c.HTTP : c.TCP)
          .then(async (r) => {
            // A status change is written at once; a new output alone (a failing check's reason, first of all) at once when the
            // check shows none yet, else at most every OUTPUT_EVERY_MS, as Consul's agent syncs an output (check_update_interval).
            const changed = entry.state.record(r) || entry.state.status !== c.Status;
            const outputDue = r.output !== c.Output && (c.Output === "" || Date.now() - entry.outputAt >= OUTPUT_EVERY_MS);
            if (!changed && !outputDue) return;
            entry.outputAt = Date.now();
            if (role.report === undefined || role.leading()) await registry.setCheck(s.NodeID, c.CheckID, entry.state.status, r.output);
            else await role.report(c.CheckID, entry.state.status, r.output);
          })
          .catch((err: unknown) => {
            log.warn({ check: key, err }, "running a registered check failed");
          })
          .finally(() => {
            entry.busy = false;
          });
      }
    }
    for (const k of states.keys()) if (!seen.has(k)) states.delete(k);
  }
  return () => {
    clearInterval(timer);
  };
}

/** How often a check's output alone (its status unchanged) is written: Consul's default check_update_interval. */
const OUTPUT_EVERY_MS = 5 * 60_000;

function asServiceCheck(c: RegisteredCheck): ServiceCheck {
  return {
    Name: c.Name,
    Type: c.Type === "external" || c.Type === "maintenance" ? "ttl" : c.Type,
    Command: c.Args[0] ?? "",
    Args: c.Args.slice(1),
    Path: "",
    Method: c.Method,
    Protocol: "",
    Header: {},
    PortLabel: "",
    AddressMode: "host",
    Interval: c.Interval,
    Timeout: c.Timeout,
    InitialStatus: c.Status,
    TaskName: "",
    SuccessBeforePassing: c.SuccessBeforePassing,
    FailuresBeforeCritical: c.FailuresBeforeCritical,
    TLSSkipVerify: false,
  };
}
