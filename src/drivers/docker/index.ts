export { DockerDriver, readHandleState, type DockerDriverOptions, type DockerHandleState } from "./docker-driver.js";
export { ALLOW_PRIVILEGED, readConfig, parseVolume, type DockerTaskConfig, type ReadConfigOptions, type ReadConfigResult, type VolumeSpec } from "./config.js";
export { ContainerPath, Label, NomadLabel, containerName, createOptions, exitResult } from "./container.js";
export { DEFAULT_SOCKET, describeEndpoint, endpointFromEnv, type DockerEndpoint } from "./endpoint.js";
export { DockerError, type DockerErrorCode } from "./errors.js";
export { findContainersByLabels, findTaskContainers, type FoundContainer } from "./find.js";
export { DEFAULT_INFRA_IMAGE, PAUSE_LABEL, pauseContainerName, pauseCreateOptions } from "./network.js";
export type { EngineStats } from "./stats.js";
