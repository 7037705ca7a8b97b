import type { Parsed } from "./args.js";
import { apiClient } from "./api.js";
import { formatTable, shortId } from "./format/index.js";
import type { IO } from "./io.js";
import { errorMessage, isMultiregion, type Deployment, type Job } from "../structs/index.js";

/**
 * The `Multiregion Deployment` block of `job status` and `deployment status` (Nomad's
 * `formatMultiregionDeployment`): each region's deployment of the same job version, asked of
 * that region (`?region=`), its row "REGION (error)" when the region does not answer. Null when
 * the deployment is not a multiregion job's.
 */
export async function multiregionDeployments(p: Parsed, io: IO, job: Job | null, d: Deployment, full: boolean): Promise<string | null> {
  if (d.IsMultiregion !== true || !isMultiregion(job)) return null;
  const rows = await Promise.all(
    job.Multiregion.Regions.map(async (r): Promise<string[]> => {
      try {
        const list = (await apiClient(p, io, r.Name).jobDeployments(d.JobID)).body;
        const mine = list.find((x) => x.JobVersion === d.JobVersion);
        if (mine === undefined) return [`${r.Name} (error)`, "", `no deployment of job version ${d.JobVersion}`];
        return [r.Name, shortId(mine.ID, full), mine.Status];
      } catch (err) {
        return [`${r.Name} (error)`, "", errorMessage(err)];
      }
    }),
  );
  rows.sort((a, b) => (a[0] ?? "").localeCompare(b[0] ?? ""));
  return `Multiregion Deployment\n${formatTable(["Region", "ID", "Status"], rows)}`;
}
