export { CgroupVersion, detectCgroups, TaskCgroup, type CgroupLimits, type CgroupState } from "./cgroup.js";
export { ExecDriver, type ExecDriverOptions } from "./driver.js";
export { HOST_READ_ONLY, taskHostname } from "./isolation.js";
