export { formatTable, formatKV } from "./table.js";
export { aclPoliciesTable, aclPolicyDetail, aclTokenDetail, aclTokensTable, goTime } from "./acl.js";
export { formatTime, formatAgo, nanosToMs } from "./time.js";
export { shortId, SHORT_ID_LENGTH } from "./ids.js";
export { formatBytes, formatMB } from "./units.js";
export { jobsTable, jobHeader, nextPeriodicLaunch, periodicChildrenTable, summaryTable, versionsList } from "./job.js";
export { allocationsTable, allocDetail, allocAddresses } from "./alloc.js";
export { allocChecksText } from "./checks.js";
export { deploymentsTable, deploymentHeader, latestDeploymentKV, deployedTable, awaitingPromotion } from "./deployment.js";
export { placementFailures, evalDetail, evalsTable, evalFailureStatus } from "./eval.js";
export { placementMetrics, placementCounts, formatScore } from "./metrics.js";
export { nodesTable, nodeDetail, formatDrain, type PublicNode } from "./node.js";
export { serverMembersTable, serverMembersDetailed, etcdMembersTable } from "./server.js";
export {
  newEvalWatch,
  evalProgress,
  evalFinished,
  evalOutcome,
  newDeploymentWatch,
  deploymentProgress,
  newDrainWatch,
  drainProgress,
  type EvalWatch,
  type MonitoredAlloc,
  type DeploymentWatch,
  type DeploymentOutcome,
  type DrainWatch,
  type DrainedAlloc,
} from "./progress.js";
