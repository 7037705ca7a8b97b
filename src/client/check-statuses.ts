import { createHash } from "node:crypto";
import type { AllocCheckStatus } from "../structs/index.js";
import type { CheckReport } from "./hooks/index.js";

/**
 * An allocation's service checks as Nomad's `/v1/client/allocation/:id/checks` answers them:
 * by an ID stable for the check (a digest of the allocation, group, task, service and check
 * names, as Nomad's `checks.MakeID`), "success" for a passing check, "failure" for a warning
 * or critical one, "pending" until it was first probed (a check that is never probed — a TTL
 * check — reads its initial status); Mode "readiness" for a check whose `on_update` is
 * "ignore" (its result does not count for health), "healthiness" otherwise.
 */
export function allocCheckStatuses(allocId: string, group: string, reports: readonly CheckReport[]): Record<string, AllocCheckStatus> {
  const out: Record<string, AllocCheckStatus> = {};
  for (const r of reports) {
    const task = r.group ? "" : r.task;
    const id = createHash("md5").update([allocId, group, task, r.service, r.check].join("\u0000")).digest("hex");
    const probed = r.checkedAt > 0;
    out[id] = {
      ID: id,
      Check: r.check,
      Group: group,
      Mode: r.onUpdate === "ignore" ? "readiness" : "healthiness",
      Output: r.output,
      Service: r.service,
      Status: !probed && r.status !== "passing" ? "pending" : r.status === "passing" ? "success" : "failure",
      StatusCode: r.statusCode,
      Task: task,
      Timestamp: Math.floor(r.checkedAt / 1000),
    };
  }
  return out;
}
