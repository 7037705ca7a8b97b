import { describe, expect, it } from "vitest";
import { endpointFromEnv } from "./endpoint.js";

describe("endpointFromEnv", () => {
  it("reads DOCKER_HOST like the docker CLI", () => {
    expect(endpointFromEnv({})).toEqual({ kind: "unix", socketPath: "/var/run/docker.sock" });
    expect(endpointFromEnv({ DOCKER_HOST: "unix:///run/user/1000/docker.sock" })).toEqual({ kind: "unix", socketPath: "/run/user/1000/docker.sock" });
    expect(endpointFromEnv({ DOCKER_HOST: "tcp://10.0.0.2:2375" })).toEqual({ kind: "tcp", host: "10.0.0.2", port: 2375 });
    expect(endpointFromEnv({ DOCKER_HOST: "tcp://docker" })).toEqual({ kind: "tcp", host: "docker", port: 2375 });
    expect(() => endpointFromEnv({ DOCKER_HOST: "ssh://me@host" })).toThrow("DOCKER_HOST=ssh://me@host is not supported");
    expect(() => endpointFromEnv({ DOCKER_HOST: "tcp://h:2376", DOCKER_TLS_VERIFY: "1" })).toThrow("TLS to the docker engine is not supported");
  });
});
