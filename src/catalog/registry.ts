import type { StateStore } from "../state/index.js";
import { ErrorCode, NS, RucheError } from "../structs/index.js";
import type { RegisteredCheck, RegisteredService } from "./registration.js";
import { registeredRowProblem } from "./rows.js";
import type { HealthStatus } from "./types.js";

/** The ID of the row that holds a node's own checks (Consul's node-level checks, `_node_maintenance`): not a service. */
export const NODE_CHECKS_ID = "_node";

/** The key of a registered service in the store: its agent's node and its ID. */
export function serviceKey(nodeId: string, id: string): string {
  return `${nodeId}/${id}`;
}

/**
 * Services registered directly (agent API, definition files), kept durably in the store's
 * `services` table. Registering an ID again replaces the service, keeping the status of
 * the checks it keeps, as Consul does. A row that is not a service (`registeredRowProblem`)
 * is left out of every list, so that it stops no one else's checks; the catalog logs it;
 * registering its ID again replaces it.
 */
export class ServiceRegistry {
  constructor(
    private readonly store: StateStore,
    private readonly now: () => number,
  ) {}

  list(): RegisteredService[] {
    return this.store.registeredServices().filter((s) => registeredRowProblem(s) === null);
  }

  async register(svc: RegisteredService): Promise<void> {
    await this.store.write((tx) => {
      const stored = tx.get("services", serviceKey(svc.NodeID, svc.ID));
      const prev = stored !== undefined && registeredRowProblem(stored) === null ? stored : undefined;
      const checks = svc.Checks.map((c) => {
        const old = prev?.Checks.find((p) => p.CheckID === c.CheckID);
        return old === undefined ? c : { ...c, Status: old.Status, Output: old.Output, StatusTime: old.StatusTime };
      });
      tx.put("services", { ...svc, Checks: checks });
    });
  }

  /** The row of this ID on the node (a service, or the node's own checks: `NODE_CHECKS_ID`). */
  get(nodeId: string, id: string): RegisteredService | undefined {
    return this.list().find((s) => s.NodeID === nodeId && s.ID === id);
  }

  /** Removes a check from whichever row of the node holds it; false when none does. */
  async removeCheck(nodeId: string, checkId: string): Promise<boolean> {
    const { result } = await this.store.write((tx) => {
      for (const s of this.list()) {
        if (s.NodeID !== nodeId || !s.Checks.some((c) => c.CheckID === checkId)) continue;
        const cur = tx.get("services", serviceKey(s.NodeID, s.ID));
        if (cur === undefined || registeredRowProblem(cur) !== null) continue;
        tx.put("services", { ...cur, Checks: cur.Checks.filter((c) => c.CheckID !== checkId) });
        return true;
      }
      return false;
    });
    return result;
  }

  /** Removes every row of a node (an external node's services and checks); how many there were. */
  async removeNode(nodeId: string): Promise<number> {
    const { result } = await this.store.write((tx) => {
      let n = 0;
      for (const s of this.store.registeredServices()) {
        if (s.NodeID !== nodeId) continue;
        tx.delete("services", serviceKey(s.NodeID, s.ID));
        n++;
      }
      return n;
    });
    return result;
  }

  /** Removes a service; false when there was none with that ID on the node. */
  async deregister(nodeId: string, id: string): Promise<boolean> {
    const { result } = await this.store.write((tx) => {
      const key = serviceKey(nodeId, id);
      if (tx.get("services", key) === undefined) return false;
      tx.delete("services", key);
      return true;
    });
    return result;
  }

  /** Sets a check's status (a TTL check's pass/warn/fail, or a probe's result); throws NotFound for an unknown check. */
  async setCheck(nodeId: string, checkId: string, status: HealthStatus, output: string): Promise<void> {
    const found = this.list().find((s) => s.NodeID === nodeId && s.Checks.some((c) => c.CheckID === checkId));
    if (found === undefined) throw new RucheError(ErrorCode.NotFound, `Unknown check ID "${checkId}". Ensure that the check ID is passed, not the check name.`);
    await this.store.write((tx) => {
      const cur = tx.get("services", serviceKey(found.NodeID, found.ID));
      if (cur === undefined || registeredRowProblem(cur) !== null) return;
      const now = this.now();
      const checks = cur.Checks.map((c): RegisteredCheck => (c.CheckID === checkId ? { ...c, Status: status, Output: output, StatusTime: c.Status === status ? c.StatusTime : now, LastUpdate: now } : c));
      tx.put("services", { ...cur, Checks: checks });
    });
  }

  /**
   * Housekeeping, once a second: a TTL check not updated within its TTL turns critical;
   * a service whose check has been critical longer than its DeregisterCriticalServiceAfter
   * is removed.
   */
  async tick(): Promise<void> {
    const now = this.now();
    for (const s of this.list()) {
      if (s.NodeLevel !== true && s.Checks.some((c) => c.DeregisterCriticalServiceAfter > 0 && c.Status === "critical" && now - c.StatusTime > c.DeregisterCriticalServiceAfter / NS.millisecond)) {
        await this.deregister(s.NodeID, s.ID);
        continue;
      }
      for (const c of s.Checks) {
        if (c.Type === "ttl" && c.Status !== "critical" && now - (c.LastUpdate ?? c.StatusTime) > c.TTL / NS.millisecond) {
          await this.setCheck(s.NodeID, c.CheckID, "critical", "TTL expired");
        }
      }
    }
  }
}
