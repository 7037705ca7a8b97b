/**
 * Test support for tests that run a real server in their process (not used by Ruche itself):
 * a started server on a fresh memory store, and a bounded wait for what its store shows.
 * The server's own tests and the client's (a client against a real server) use it.
 */
import { memoryBackend, StateStore } from "../state/index.js";
import { Server, type ServerOptions } from "./server.js";

/** A started server on a fresh memory store; the test stops it. */
export async function serverOnMemory(opts: ServerOptions = {}): Promise<{ store: StateStore; server: Server }> {
  const store = await StateStore.open(memoryBackend());
  const server = new Server(store, opts);
  server.start();
  return { store, server };
}

/** Polls `f` every 20 ms until it gives something (not undefined or false); fails naming `what` after `timeoutMs`. */
export async function until<T>(what: string, f: () => T | undefined | false, timeoutMs = 8000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = f();
    // A promise is always "something": an async check would pass at once, its failure unseen.
    if (v instanceof Promise) throw new Error(`until(${JSON.stringify(what)}): the check returned a promise; it must answer synchronously`);
    if (v !== undefined && v !== false) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
