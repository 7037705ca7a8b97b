import type { Logger } from "../structs/index.js";
import type { ClusterView, Server } from "../server/index.js";
import type { StateStore, TableName } from "../state/index.js";
import { blockingParams, JsonText, type Request } from "./http.js";
import { NEXT_TOKEN_HEADER, pageQuery, paginate, sortedBy, type Tokenizer } from "./paginate.js";
import type { RegionClient } from "./region-client.js";
import type { RenderCache } from "./render-cache.js";

export interface ApiContext {
  server: Server;
  store: StateStore;
  /** Address of this API. */
  address: () => string;
  /** The region's servers: the leader, the members, the etcd members. */
  cluster: ClusterView;
  /** The API's logger, for what a route notices beside its answer. */
  log?: Logger;
  /** Requests of this server's own to other regions' servers (multiregion jobs); absent: it federates with no other region. */
  regions?: RegionClient;
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

/** A page of a list, serialised, with the token of the next page ("" on the last). */
export interface ListAnswer {
  text: JsonText;
  nextToken: string;
}

/**
 * A list read under a blocking query, in pages as Nomad's lists are: `per_page`, `next_token`,
 * `reverse`, the next page's token in `X-Nomad-NextToken`, the items in `tokens`' order.
 * Only the page's items are turned into `stub`s; the answer is serialised once per index of
 * `tables` and question, and shared by every request that asks it (`cache`): `items` and
 * `stub` must read nothing but `tables`.
 */
export async function blockingList<T>(
  ctx: ApiContext,
  req: Request,
  tables: TableName[],
  cache: RenderCache<ListAnswer>,
  items: () => readonly T[],
  tokens: Tokenizer<NoInfer<T>>,
  stub: (item: NoInfer<T>) => unknown,
): Promise<{ body: JsonText; index: number; headers: Record<string, string> }> {
  const q = pageQuery(req.query);
  const b = blockingParams(req.query);
  if (b !== null) await ctx.store.waitFor(tables, b.index, b.waitMs, req.signal);
  const index = Math.max(1, ...tables.map((t) => ctx.store.tableIndex(t)));
  const answer = cache.get(index, req.path, req.query, () => {
    const { page, nextToken } = paginate(sortedBy(items(), tokens), q, tokens);
    return { text: new JsonText(JSON.stringify(page.map(stub))), nextToken };
  });
  return { body: answer.text, index, headers: answer.nextToken === "" ? {} : { [NEXT_TOKEN_HEADER]: answer.nextToken } };
}
