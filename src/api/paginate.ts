import { ErrorCode, RucheError } from "../structs/index.js";

/** `?per_page=N&next_token=T&reverse=true`: what a list request asks for, as Nomad's lists take it. */
export interface PageQuery {
  /** Items in one answer; 0: all of them. */
  perPage: number;
  /** The token of the first item wanted (the `X-Nomad-NextToken` of the previous page); "" from the start. */
  nextToken: string;
  /** Walk the list from its end. */
  reverse: boolean;
}

/** The lists that are cut into pages (their `GET`). */
export const PAGED_LISTS: readonly string[] = ["/v1/jobs", "/v1/allocations", "/v1/evaluations", "/v1/deployments", "/v1/nodes", "/v1/vars"];

/** The header that carries the next page's token, absent on the last page (Nomad's). */
export const NEXT_TOKEN_HEADER = "x-nomad-nexttoken";

export function pageQuery(q: URLSearchParams): PageQuery {
  const raw = q.get("per_page");
  let perPage = 0;
  if (raw !== null && raw !== "") {
    perPage = Number(raw);
    if (!/^\d+$/.test(raw) || !Number.isSafeInteger(perPage)) throw new RucheError(ErrorCode.BadRequest, `per_page must be a whole number (0: no pages), got "${raw}"`, { path: "per_page" });
  }
  return { perPage, nextToken: q.get("next_token") ?? "", reverse: q.get("reverse") === "true" };
}

/**
 * How a list's items are ordered and named in tokens: `token` names an item, `compare` places
 * an item against a token (negative: before it), in the list's ascending order.
 */
export interface Tokenizer<T> {
  token(item: T): string;
  compare(item: T, token: string): number;
}

const byString = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** `namespace.id`, in that order: jobs. */
export const namespaceIdTokens: Tokenizer<{ Namespace: string; ID: string }> = {
  token: (x) => `${x.Namespace}.${x.ID}`,
  compare: (x, t) => byString(`${x.Namespace}.${x.ID}`, t),
};

/** The ID alone: nodes. */
export const idTokens: Tokenizer<{ ID: string }> = {
  token: (x) => x.ID,
  compare: (x, t) => byString(x.ID, t),
};

/**
 * `createIndex.id`, by create index (as a number: 12 before 102), then ID: allocations,
 * evaluations, deployments. A token that is not of that form is compared as a string.
 */
export const createIndexIdTokens: Tokenizer<{ CreateIndex: number; ID: string }> = {
  token: (x) => `${x.CreateIndex}.${x.ID}`,
  compare: (x, t) => {
    const dot = t.indexOf(".");
    const index = dot > 0 && /^\d+$/.test(t.slice(0, dot)) ? Number(t.slice(0, dot)) : NaN;
    if (Number.isNaN(index)) return byString(`${x.CreateIndex}.${x.ID}`, t);
    return x.CreateIndex !== index ? x.CreateIndex - index : byString(x.ID, t.slice(dot + 1));
  },
};

/** Sorts `items` in the tokenizer's order (a copy). */
export function sortedBy<T>(items: readonly T[], tokens: Tokenizer<T>): T[] {
  return [...items].sort((a, b) => tokens.compare(a, tokens.token(b)));
}

/**
 * One page of `items` (in the tokenizer's ascending order), as Nomad's paginator cuts it:
 * from the first item at or past `nextToken` (before it, with `reverse`), `perPage` of them;
 * the next token names the first item left out, "" when none is.
 */
export function paginate<T>(items: readonly T[], q: PageQuery, tokens: Tokenizer<T>): { page: T[]; nextToken: string } {
  const n = items.length;
  let i = 0;
  const at = (k: number): T => items[q.reverse ? n - 1 - k : k] as T;
  if (q.nextToken !== "") {
    while (i < n) {
      const c = tokens.compare(at(i), q.nextToken);
      if (q.reverse ? c <= 0 : c >= 0) break;
      i++;
    }
  }
  const end = q.perPage === 0 ? n : Math.min(n, i + q.perPage);
  const page: T[] = [];
  for (let k = i; k < end; k++) page.push(at(k));
  return { page, nextToken: end < n ? tokens.token(at(end)) : "" };
}
