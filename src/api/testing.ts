import { Server } from "../server/index.js";
import { memoryBackend, StateStore } from "../state/index.js";
import { silentLogger } from "../structs/index.js";
import { startApi, type RunningHttp } from "./index.js";

/** Tests' API: real HTTP on 127.0.0.1, port 0, over a started server on a memory store (ACLs off at the door). */
export interface TestApi {
  store: StateStore;
  server: Server;
  http: RunningHttp;
  /** `http://127.0.0.1:PORT`. */
  base: string;
  /** Closes the API, then stops the server. */
  stop(): Promise<void>;
}

export async function testApi(): Promise<TestApi> {
  const store = await StateStore.open(memoryBackend());
  const server = new Server(store);
  server.start();
  const http = await startApi(server, store, { host: "127.0.0.1", port: 0, log: silentLogger });
  return {
    store,
    server,
    http,
    base: `http://${http.address}`,
    stop: async () => {
      await http.close();
      await server.stop();
    },
  };
}
