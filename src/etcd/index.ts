export { EtcdApi, ETCD_CLUSTER_VERSION, ETCD_VERSION, type EtcdAcl, type EtcdApiOptions } from "./api.js";
export { startEtcd, type EtcdListenerOptions, type RunningEtcd } from "./server.js";
export { EtcdError } from "./errors.js";
export { etcdV2, type EtcdV2, type EtcdV2Options } from "./v2.js";
