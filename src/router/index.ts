export { Balancer, type BackendHealth } from "./balancer.js";
export { DEFAULT_ROUTER_CONFIG, MAIN_ENTRYPOINT, parseRouterConfig } from "./config.js";
export { parseConstraint, type Constraint } from "./constraint.js";
export { followCatalog, snapshotOf } from "./feed.js";
export { lookup } from "./lookup.js";
export { parseRule, type Matcher, type Rule } from "./rule.js";
export { startRouter, type RouterOptions, type RunningRouter } from "./router.js";
export { renderDefaultRule, routingTable, type CatalogSnapshot } from "./table.js";
export { LbMethod, type Backend, type EntryPointConfig, type Route, type RouterConfig, type RoutingTable, type Skipped } from "./types.js";
