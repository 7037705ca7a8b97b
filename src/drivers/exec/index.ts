export { CgroupVersion, detectCgroups, TaskCgroup, type CgroupLimits, type CgroupState } from "./cgroup.js";
export { ExecDriver, ISOLATION_KEYS, type ExecDriverOptions, type IsolatedProgram } from "./driver.js";
export { HOST_READ_ONLY, taskHostname } from "./isolation.js";
export { probeExec } from "./probe.js";
