/**
 * The shapes the API's list endpoints answer with, apart from the data model's own types.
 * Types only, with nothing of Node in them: the dashboard, which runs in the browser,
 * imports them from here.
 */
import type { AllocFileInfo, Allocation } from "../structs/index.js";

export type { AllocFileInfo };

/** An allocation in a list: without the job it carries, nor its placement metrics. */
export type AllocStub = Omit<Allocation, "Job" | "Metrics"> & { JobVersion: number };

export interface JobStub {
  ID: string;
  Name: string;
  Namespace: string;
  /** A periodic or dispatched child's parent; "" for others. */
  ParentID?: string;
  /** A periodic parent. */
  Periodic?: boolean;
  /** A parameterized parent. */
  ParameterizedJob?: boolean;
  Type: string;
  Priority: number;
  Status: string;
  Stop: boolean;
  Version: number;
  Datacenters: string[];
  JobSummary: { Summary: Record<string, Record<string, number>> };
  JobModifyIndex: number;
  SubmitTime: number;
}

/** One instance of a service as Consul's health endpoint shows it. */
export interface HealthEntry {
  Node: { ID: string; Node: string; Address: string; Datacenter: string };
  Service: { ID: string; Service: string; Tags: string[]; Address: string; Port: number };
  Checks: { CheckID: string; Name: string; Status: string; Output: string; ServiceID: string }[];
}

export interface RegisterResponse {
  EvalID: string;
  EvalCreateIndex: number;
  JobModifyIndex: number;
  Index: number;
}

/** Nomad's `JobDispatchResponse`. */
export interface DispatchResponse {
  DispatchedJobID: string;
  EvalID: string;
  EvalCreateIndex: number;
  JobCreateIndex: number;
  Index: number;
}

/** A server as `/v1/agent/members` lists it, in Nomad's shape (`api.AgentMember`). */
export interface AgentMember {
  /** name.region */
  Name: string;
  Addr: string;
  Port: number;
  /** role, region, dc, build, port, rpc_addr, id, and etcd_member when it runs one. */
  Tags: Record<string, string>;
  Status: "alive" | "failed" | "left";
  ProtocolMin: number;
  ProtocolMax: number;
  ProtocolCur: number;
  DelegateMin: number;
  DelegateMax: number;
  DelegateCur: number;
}

/** `/v1/agent/members`: the server that answers, and every server of its region. */
export interface ServerMembers {
  ServerName: string;
  ServerRegion: string;
  ServerDC: string;
  Members: AgentMember[];
}

/** An etcd member as `/v1/operator/etcd/members` lists it. */
export interface EtcdMember {
  ID: string;
  Name: string;
  PeerURLs: string[];
  ClientURLs: string[];
  Reachable: boolean;
  IsLeader: boolean;
  DbSize: number;
  Revision: number;
  RaftIndex: number;
  Version: string;
  Error: string;
}

/** A server with its lag, as `/v1/operator/servers` lists it (the dashboard's cluster page). */
export interface ServerStatus {
  Name: string;
  Region: string;
  Datacenter: string;
  HTTPAddr: string;
  ConsulAddr: string;
  Build: string;
  EtcdMember: string;
  Status: "alive" | "failed" | "left";
  Leader: boolean;
  /** Milliseconds since it last heard from the cluster's state; null when it could not be asked. */
  LastContact: number | null;
  /** Why it could not be asked, "" when it answered. */
  Error: string;
}

/** An ACL token as Nomad's API shows it (`api.ACLToken`): `SecretID` only where the answer may show it; Go's nil lists are null. */
export interface AclTokenInfo {
  AccessorID: string;
  SecretID?: string;
  Name: string;
  Type: "client" | "management";
  Policies: string[] | null;
  Roles: null;
  Global: boolean;
  CreateTime: string;
  ExpirationTime?: string;
  CreateIndex: number;
  ModifyIndex: number;
}

/** An ACL token in a list (`api.ACLTokenListStub`): never its SecretID. */
export type AclTokenStub = Omit<AclTokenInfo, "SecretID">;

/** What creating or updating a token sends. */
export interface AclTokenRequest {
  Name?: string;
  Type?: "client" | "management";
  Policies?: string[];
  Global?: boolean;
  /** A duration such as "1h" (between 1m and 24h). */
  ExpirationTTL?: string;
  ExpirationTime?: string;
}

/** An ACL policy (`api.ACLPolicy`). */
export interface AclPolicyInfo {
  Name: string;
  Description: string;
  Rules: string;
  JobACL: null;
  CreateIndex: number;
  ModifyIndex: number;
}

/** An ACL policy in a list (`api.ACLPolicyListStub`). */
export interface AclPolicyStub {
  Name: string;
  Description: string;
  CreateIndex: number;
  ModifyIndex: number;
}

