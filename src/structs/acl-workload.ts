import { AclPrefixKind, NamespaceCap, type Acl } from "./acl.js";
import { VariableCap, workloadVariablePaths } from "./variables.js";

/** Where a job's own keys are in the KV store: Nomad's variables path for a job, `nomad/jobs/<job>`. */
export function jobKeyPath(job: string): string {
  return `nomad/jobs/${job}`;
}

/**
 * What a workload identity may do (Nomad's implicit workload policy, as Ruche has it), for
 * an allocation of job `job` in namespace `namespace`:
 *
 * - read its own job (`read-job` on that job only: the job, its versions, summary,
 *   allocations, evaluations and deployments, and its allocations by ID); Nomad grants this
 *   through a policy attached to the job, Ruche by default;
 * - read and list every service (Nomad's implicit policy: "list or read any service");
 * - read its job's keys, `nomad/jobs/<job>` and below, in the KV store;
 * - read and list Nomad's variables at `nomad/jobs`, `nomad/jobs/<job>`,
 *   `nomad/jobs/<job>/<group>` and `nomad/jobs/<job>/<group>/<task>` of its namespace, exactly
 *   those (Nomad's implicit workload access; `at` names the group and task, without it only
 *   the first two);
 *
 * and nothing else: no list of jobs, no write, no node, agent or operator right.
 */
export function workloadAcl(namespace: string, job: string, at?: { group: string; task: string }): Acl {
  const own = jobKeyPath(job);
  const varPaths = new Set(at === undefined ? ["nomad/jobs", own] : workloadVariablePaths(job, at.group, at.task));
  return {
    variable: (ns, path, cap) => ns === namespace && (cap === VariableCap.Read || cap === VariableCap.List) && varPaths.has(path),
    management: false,
    namespace: (ns, cap, onJob) => ns === namespace && cap === NamespaceCap.ReadJob && onJob === job,
    allows: () => false,
    prefix: (kind, name, level) => {
      if (level === "write") return false;
      if (kind === AclPrefixKind.Service) return true;
      if (kind === AclPrefixKind.Key) return name === own || name.startsWith(`${own}/`);
      return false;
    },
  };
}
