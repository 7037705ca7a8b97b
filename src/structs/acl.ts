/**
 * ACLs: tokens, policies, and what a token may do. One model serves both faces of the API:
 * Nomad's rules (`namespace`, `node`, `agent`, `operator`) and Consul's (`key_prefix`,
 * `service_prefix`, `session_prefix`, `node_prefix`, `query_prefix`), in the same policy.
 */

import type { VariableCap } from "./variables.js";

/** A rule's level: Nomad's and Consul's words (`list` is Consul's, for a key prefix). */
export const AclLevel = {
  Deny: "deny",
  Read: "read",
  List: "list",
  Write: "write",
} as const;
export type AclLevel = (typeof AclLevel)[keyof typeof AclLevel];

/** Nomad's namespace capabilities that Ruche's routes check. */
export const NamespaceCap = {
  Deny: "deny",
  ListJobs: "list-jobs",
  ParseJob: "parse-job",
  ReadJob: "read-job",
  SubmitJob: "submit-job",
  DispatchJob: "dispatch-job",
  ReadLogs: "read-logs",
  ReadFs: "read-fs",
  AllocExec: "alloc-exec",
  AllocNodeExec: "alloc-node-exec",
  AllocLifecycle: "alloc-lifecycle",
  ScaleJob: "scale-job",
  ReadJobScaling: "read-job-scaling",
  HostVolumeCreate: "host-volume-create",
  HostVolumeRegister: "host-volume-register",
  HostVolumeRead: "host-volume-read",
  HostVolumeDelete: "host-volume-delete",
} as const;
export type NamespaceCap = (typeof NamespaceCap)[keyof typeof NamespaceCap];

/** Nomad's and Consul's coarse resources with one level each. */
export const AclResource = {
  /** Nomad's `node` (the nodes' list and their drain/eligibility). */
  Node: "node",
  /** Nomad's and Consul's `agent` (`/v1/agent/*`). */
  Agent: "agent",
  /** Nomad's and Consul's `operator` (servers, etcd members, snapshots). */
  Operator: "operator",
} as const;
export type AclResource = (typeof AclResource)[keyof typeof AclResource];

/** Consul's prefix-matched resources: the longest matching prefix (or an exact rule) decides. */
export const AclPrefixKind = {
  Key: "key",
  Service: "service",
  Session: "session",
  ConsulNode: "node",
  /** Consul's prepared queries, by the query's Name (`query`, `query_prefix`). */
  Query: "query",
  /** Consul's user events, by the event's name (`event`, `event_prefix`). */
  Event: "event",
} as const;
export type AclPrefixKind = (typeof AclPrefixKind)[keyof typeof AclPrefixKind];

/** What one token may do, compiled from its policies. Deny wins over anything granted by another policy. */
export interface Acl {
  /** A management token (or ACLs off): everything is allowed. */
  readonly management: boolean;
  /**
   * Nomad: may this token use `cap` in namespace `ns` (Ruche has one namespace, "default")?
   * `job`: the job the request touches, when its route names one; a policy's rules ignore
   * it, a workload identity is allowed its own job only (`workloadAcl`).
   */
  namespace(ns: string, cap: NamespaceCap, job?: string): boolean;
  /** Nomad and Consul: the coarse resources. */
  allows(resource: AclResource, level: "read" | "write"): boolean;
  /** Consul: a key, service, session's node or node name, by the rules' prefixes. `list` applies to keys only. */
  prefix(kind: AclPrefixKind, name: string, level: "read" | "list" | "write"): boolean;
  /** Nomad's variables: may this token do `cap` on the variable at `path` of namespace `ns` (Nomad's `AllowVariableOperation`)? */
  variable(ns: string, path: string, cap: VariableCap): boolean;
}

/** ACLs off (`-dev`, or `acl { enabled = false }`): every request is allowed. */
export const ALLOW_ALL: Acl = {
  management: true,
  namespace: () => true,
  allows: () => true,
  prefix: () => true,
  variable: () => true,
};

/** A token that may do nothing (an unknown or expired secret is refused before this is used). */
export const DENY_ALL: Acl = {
  management: false,
  namespace: () => false,
  allows: () => false,
  prefix: () => false,
  variable: () => false,
};

/** A stored ACL policy: its rules as written (HCL or JSON) and when it changed. */
export interface AclPolicy {
  Name: string;
  Description: string;
  Rules: string;
  CreateIndex: number;
  ModifyIndex: number;
}

/** A stored ACL token, in Nomad's shape. The SecretID is the credential; the AccessorID names it. */
export interface AclToken {
  AccessorID: string;
  SecretID: string;
  Name: string;
  /** "client" (its policies decide) or "management" (everything). */
  Type: "client" | "management";
  Policies: string[];
  Global: boolean;
  CreateTime: string;
  /** RFC 3339; absent: never expires. */
  ExpirationTime?: string;
  CreateIndex: number;
  ModifyIndex: number;
}

/** The anonymous token's accessor: its policies apply to a request without a token (Nomad's and Consul's model). */
export const ANONYMOUS_ACCESSOR = "anonymous";

/**
 * The record that the ACL system was bootstrapped: `POST /v1/acl/bootstrap` succeeds once.
 * Its `ModifyIndex` is Nomad's reset index, which the refusal of a second bootstrap names.
 */
export interface AclBootstrap {
  /** Always "bootstrap": there is one. */
  ID: string;
  /** The bootstrap token's accessor. */
  AccessorID: string;
  CreateIndex: number;
  ModifyIndex: number;
}
