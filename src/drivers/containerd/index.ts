export { CONTAINERD_TASK_KEYS, parseContainerdConfig, validateContainerdConfig, type ContainerdTaskConfig } from "./config.js";
export { CONTAINERD_SOCKETS } from "./ctr.js";
export { CONTAINERD_DRIVER, CONTAINERD_NAMESPACE, ContainerdDriver, type ContainerdDriverOptions } from "./driver.js";
