import { LIMITS, type Job, type NetworkResource, type Service } from "../structs/index.js";
import type { Problem } from "./canonicalize.js";

/**
 * A job's size against `LIMITS`: how many datacenters, groups, tasks, meta entries,
 * constraints, services, checks, tags, environment variables and ports. Each list past its
 * bound is one problem at its path, saying the bound and the count. A job past them is
 * refused for that alone, before its parts are checked one by one.
 */
export function sizeProblems(job: Job): Problem[] {
  const out: Problem[] = [];
  const over = (path: string, count: number, max: number, what: string): void => {
    if (count > max) out.push({ path, message: `${what} (${count.toLocaleString("en-US")}); the limit is ${max.toLocaleString("en-US")}` });
  };
  const meta = (path: string, m: Record<string, string>): void => {
    over(path, Object.keys(m).length, LIMITS.maxMetaEntries, "too many meta entries");
  };
  const rules = (at: string, x: { Constraints: unknown[]; Affinities: unknown[]; Spreads?: unknown[] }): void => {
    over(`${at}Constraints`, x.Constraints.length, LIMITS.maxConstraints, "too many constraints");
    over(`${at}Affinities`, x.Affinities.length, LIMITS.maxConstraints, "too many affinities");
    if (x.Spreads !== undefined) over(`${at}Spreads`, x.Spreads.length, LIMITS.maxConstraints, "too many spreads");
  };
  const services = (at: string, list: Service[]): void => {
    over(`${at}Services`, list.length, LIMITS.maxServices, "too many services");
    list.slice(0, LIMITS.maxServices).forEach((s, i) => {
      const sAt = `${at}Services[${i}]`;
      over(`${sAt}.Checks`, s.Checks.length, LIMITS.maxChecks, "too many checks");
      over(`${sAt}.Tags`, s.Tags.length, LIMITS.maxTags, "too many tags");
      over(`${sAt}.CanaryTags`, s.CanaryTags.length, LIMITS.maxTags, "too many canary tags");
      meta(`${sAt}.Meta`, s.Meta);
    });
  };
  const networks = (at: string, list: NetworkResource[]): void => {
    list.forEach((n, i) => {
      over(`${at}Networks[${i}]`, n.ReservedPorts.length + n.DynamicPorts.length, LIMITS.maxPorts, "too many ports");
    });
  };

  over("Datacenters", job.Datacenters.length, LIMITS.maxDatacenters, "too many datacenters");
  meta("Meta", job.Meta);
  rules("", job);
  over("TaskGroups", job.TaskGroups.length, LIMITS.maxGroups, "too many groups");
  const tasks = job.TaskGroups.reduce((n, g) => n + g.Tasks.length, 0);
  over("TaskGroups", tasks, LIMITS.maxTasksPerJob, "too many tasks in the job, all groups together");
  // Past the bound on groups, what is in them is not looked at: the job is refused already.
  job.TaskGroups.slice(0, LIMITS.maxGroups).forEach((g, gi) => {
    const at = `TaskGroups[${gi}]`;
    over(`${at}.Tasks`, g.Tasks.length, LIMITS.maxTasksPerGroup, "too many tasks in the group");
    meta(`${at}.Meta`, g.Meta);
    rules(`${at}.`, g);
    networks(`${at}.`, g.Networks);
    services(`${at}.`, g.Services);
    g.Tasks.slice(0, LIMITS.maxTasksPerGroup).forEach((t, ti) => {
      const tAt = `${at}.Tasks[${ti}]`;
      meta(`${tAt}.Meta`, t.Meta);
      over(`${tAt}.Env`, Object.keys(t.Env).length, LIMITS.maxEnvEntries, "too many environment variables");
      rules(`${tAt}.`, t);
      services(`${tAt}.`, t.Services);
    });
  });
  return out;
}
