/** Runs `fn` so that what it throws becomes a rejection: a Driver method never throws synchronously. */
export function promised<T>(fn: () => T | Promise<T>): Promise<T> {
  return Promise.resolve().then(fn);
}
