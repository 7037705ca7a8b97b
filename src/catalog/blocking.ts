/**
 * A blocking query on part of a table: resolves once `current()` — the index of what the
 * query answers (a key's, a prefix's, a service's) — is above `minIndex`, or when the wait
 * ends, with `current()` then. `next(since, ms)` waits for the table as a whole to move past
 * `since` (the store's or the catalog's wait): each change of the table makes the query look
 * again, and only a change of what it watches answers it. So a watch on one key does not
 * answer for writes to others, as Consul's watch sets do not fire for them.
 */
export async function waitPast(
  current: () => number,
  whole: () => number,
  minIndex: number,
  timeoutMs: number,
  next: (since: number, ms: number) => Promise<unknown>,
  now: () => number = Date.now,
): Promise<number> {
  const deadline = now() + timeoutMs;
  for (;;) {
    const seen = whole();
    const idx = current();
    if (idx > minIndex) return idx;
    const left = deadline - now();
    if (left <= 0) return idx;
    await next(seen, left);
  }
}
