import { rmSync } from "node:fs";
import { connect, createServer, type Server, type Socket } from "node:net";
import { DEFAULT_SOCKET } from "./endpoint.js";

/**
 * A test tool: a unix socket in front of the Docker engine's, which a test stops and starts
 * to make the engine unreachable without touching the engine or its containers. Stopping
 * it is what a dead engine looks like to a client: every open connection (a wait, a log
 * follow) is cut, and new ones are refused until it starts again. Freezing it is a hung
 * engine: new connections are refused and the open ones stay open but carry nothing, ever.
 * Not part of the driver.
 */
export class EngineProxy {
  private server: Server | null = null;
  private readonly open = new Set<Socket>();
  /** Connections frozen by `freeze`: open and silent until `close`. */
  private readonly frozen = new Set<Socket>();

  /** `socketPath` is where clients connect (`DOCKER_HOST=unix://…`); `engine` is the real socket. */
  constructor(
    readonly socketPath: string,
    private readonly engine: string = DEFAULT_SOCKET,
  ) {}

  get running(): boolean {
    return this.server !== null;
  }

  /** Listens (again); resolves once connections are accepted. */
  async start(): Promise<void> {
    if (this.server !== null) return;
    rmSync(this.socketPath, { force: true });
    const server = createServer((client) => {
      const upstream = connect(this.engine);
      for (const [a, b] of [
        [client, upstream],
        [upstream, client],
      ] as const) {
        this.open.add(a);
        a.pipe(b);
        a.on("error", () => b.destroy());
        a.on("close", () => {
          this.open.delete(a);
          b.destroy();
        });
      }
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(this.socketPath, () => {
        server.off("error", reject);
        resolve();
      });
    });
    this.server = server;
  }

  /** Refuses new connections and cuts every open one: the engine is gone for its clients. */
  async stop(): Promise<void> {
    for (const s of this.open) s.destroy();
    this.open.clear();
    await this.unlisten();
  }

  /** Refuses new connections; the open ones stay open and carry nothing (until `close`). */
  async freeze(): Promise<void> {
    for (const s of this.open) {
      s.unpipe();
      s.pause();
      this.frozen.add(s);
    }
    this.open.clear();
    await this.unlisten();
  }

  /** Stops, and cuts the frozen connections too. */
  async close(): Promise<void> {
    for (const s of this.frozen) s.destroy();
    this.frozen.clear();
    await this.stop();
  }

  private async unlisten(): Promise<void> {
    const server = this.server;
    if (server === null) return;
    this.server = null;
    // The listener stops at once; the close event would wait for frozen connections too.
    server.close();
    rmSync(this.socketPath, { force: true });
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
}
