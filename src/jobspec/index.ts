export { parseJob, detectFormat, type JobFormat, type ParseJobOptions, type ParseJobResult } from "./parse.js";
export { formatDiagnostic, type Diagnostic, type Pos } from "./diagnostic.js";
export { MAX_JOB_FILE_BYTES } from "./source.js";
export { suggest } from "./suggest.js";
export type { VariableInputs } from "./variables.js";
export {
  diffJobs,
  taskUpdateClass,
  updatesFromDesired,
  DiffType,
  Annotation,
  type JobDiff,
  type TaskGroupDiff,
  type TaskDiff,
  type ObjectDiff,
  type FieldDiff,
} from "./diff.js";
export { formatJobDiff } from "./diff-format.js";
export { parseAgentConfig, parseHclObject, type AgentConfigFile, type AgentConfigResult } from "./agent-config.js";
export { checkHostNetwork, hostNetworkFlag, parseHostNetworkFlag, HOST_NETWORK_NAME } from "./host-network-config.js";
export { checkBootstrapExpect, checkEtcdEndpoint, checkEtcdTls, checkRegion, joinAddress, DEFAULT_JOIN_PORT } from "./agent-values.js";
export { checkAclPolicy, loadAclPolicyParser, parseAclPolicy, type AclPolicyResult } from "./acl-policy.js";
export { parseVolumeSpec, parseByteSize, type VolumeSpecResult } from "./volume-spec.js";
