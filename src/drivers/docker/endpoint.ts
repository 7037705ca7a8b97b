import type Dockerode from "dockerode";
import { ErrorCode } from "../../structs/index.js";
import { DockerError } from "./errors.js";

/** Where the engine answers: a unix socket, or plain HTTP over TCP. */
export type DockerEndpoint = { kind: "unix"; socketPath: string } | { kind: "tcp"; host: string; port: number };

export const DEFAULT_SOCKET = "/var/run/docker.sock";

/**
 * The endpoint DOCKER_HOST names, like the docker CLI reads it: unset means the default
 * socket; `unix:///path` a socket; `tcp://host:port` (port 2375 when left out) plain HTTP.
 * TLS (DOCKER_TLS_VERIFY, port 2376) and ssh:// are not supported: refusing them is better
 * than talking HTTP to a TLS port and reporting the engine as down.
 */
export function endpointFromEnv(env: NodeJS.ProcessEnv): DockerEndpoint {
  const host = env.DOCKER_HOST ?? "";
  if (host === "") return { kind: "unix", socketPath: DEFAULT_SOCKET };
  if (host.startsWith("unix://")) {
    const socketPath = host.slice("unix://".length);
    return { kind: "unix", socketPath: socketPath === "" ? DEFAULT_SOCKET : socketPath };
  }
  if (host.startsWith("tcp://")) {
    if (env.DOCKER_TLS_VERIFY !== undefined && env.DOCKER_TLS_VERIFY !== "" && env.DOCKER_TLS_VERIFY !== "0") {
      throw new DockerError(ErrorCode.DockerBadEndpoint, `DOCKER_HOST=${host} with DOCKER_TLS_VERIFY: TLS to the docker engine is not supported; use a unix socket or plain tcp://`);
    }
    let url: URL;
    try {
      url = new URL(host);
    } catch (err) {
      throw new DockerError(ErrorCode.DockerBadEndpoint, `DOCKER_HOST=${host} is not a tcp://host:port address`, { cause: err });
    }
    return { kind: "tcp", host: url.hostname, port: url.port === "" ? 2375 : Number(url.port) };
  }
  throw new DockerError(ErrorCode.DockerBadEndpoint, `DOCKER_HOST=${host} is not supported: use unix:///path/to/docker.sock or tcp://host:port`);
}

/** The endpoint as a user writes it, for messages ("unix:///var/run/docker.sock"). */
export function describeEndpoint(e: DockerEndpoint): string {
  return e.kind === "unix" ? `unix://${e.socketPath}` : `tcp://${e.host}:${e.port}`;
}

/** dockerode's options for the endpoint; `timeoutMs` bounds idle requests (never set it on a client that follows logs). */
export function dockerodeOptions(e: DockerEndpoint, timeoutMs?: number): Dockerode.DockerOptions {
  const base: Dockerode.DockerOptions = e.kind === "unix" ? { socketPath: e.socketPath } : { host: e.host, port: e.port, protocol: "http" };
  return timeoutMs === undefined ? base : { ...base, timeout: timeoutMs };
}
