import type { AllocCheckStatus } from "../../structs/index.js";
import { formatKV } from "./table.js";
import { formatTime } from "./time.js";

/**
 * `ruche alloc checks ALLOC`, as `nomad alloc checks` prints it: a count, then a block per
 * check (`ID`, `Name`, `Group`, `Task` — "(group)" for a group service's check —, `Service`,
 * `Status`, `StatusCode` when an HTTP check had one, `Mode`, `Timestamp`, `Output`), in ID
 * order so the same state prints the same.
 */
export function allocChecksText(checks: Readonly<Record<string, AllocCheckStatus>>): string {
  const list = Object.values(checks).sort((a, b) => (a.ID < b.ID ? -1 : a.ID > b.ID ? 1 : 0));
  const blocks = list.map((c) => {
    const pairs: [string, string][] = [
      ["ID", c.ID],
      ["Name", c.Check],
      ["Group", c.Group],
      ["Task", c.Task === "" ? "(group)" : c.Task],
      ["Service", c.Service],
      ["Status", c.Status],
    ];
    if (c.StatusCode > 0) pairs.push(["StatusCode", String(c.StatusCode)]);
    pairs.push(["Mode", c.Mode], ["Timestamp", formatTime(c.Timestamp * 1000)], ["Output", c.Output]);
    return formatKV(pairs);
  });
  return [`Status of ${list.length} Nomad Service Checks`, "", ...blocks.flatMap((b) => [b, ""])].join("\n").trimEnd();
}
