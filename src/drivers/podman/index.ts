export { DEFAULT_PODMAN_SOCKET, PodmanDriver, podmanOptions, podmanSocketPath, type PodmanDriverOptions } from "./podman-driver.js";
export { parseSize, PODMAN_ALLOW_PRIVILEGED, readPodmanConfig, type PodmanTaskConfig, type ReadPodmanConfigResult } from "./config.js";
