import type { Server } from "../server/index.js";
import type { StateStore, TableName } from "../state/index.js";
import { blockingParams, type Request } from "./http.js";

export interface ApiContext {
  server: Server;
  store: StateStore;
  /** Address of this API, for /v1/status/leader. */
  address: () => string;
}

/**
 * Runs a read under a blocking query: with `?index=N`, waits until one of `tables` moves
 * past N (or the wait ends), then reads; the reply carries the index to ask from next.
 */
export async function blocking<T>(ctx: ApiContext, req: Request, tables: TableName[], read: () => T): Promise<{ body: T; index: number }> {
  const b = blockingParams(req.query);
  let index: number;
  if (b === null) index = Math.max(1, ...tables.map((t) => ctx.store.tableIndex(t)));
  else index = Math.max(1, await ctx.store.waitFor(tables, b.index, b.waitMs, req.signal));
  return { body: read(), index };
}
