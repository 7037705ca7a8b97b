export { CommitRefused } from "./commit-refused.js";
export { prepareDataDir } from "./data-dir.js";
export { memoryBackend } from "./memory.js";
export { jobRowKey, rowKey, versionRowKey } from "./rows.js";
export { sqliteBackend } from "./sqlite.js";
export { StateStore } from "./store.js";
export { TABLES, type Backend, type Change, type CommitEvent, type RawChange, type Row, type Rows, type TableName, type Txn } from "./types.js";
