import type { IncomingMessage } from "node:http";
import type Dockerode from "dockerode";

/**
 * The engine's `POST /containers/:id/wait?condition=not-running`: resolves with the exit
 * code the engine reports once the container is not running (undefined when the answer
 * has none), rejects with the engine's error (404: no such container).
 *
 * Unlike dockerode's `container.wait`, it rejects when the connection ends before the
 * answer: docker-modem reads a plain answer without listening for the response's errors,
 * so a wait whose connection the engine (or anything in between) cut never settles, and
 * the task it waits for would stay "running" for good. It also rejects when `signal` aborts.
 */
export function waitNotRunning(docker: Dockerode, id: string, signal: AbortSignal): Promise<number | undefined> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(abortError(signal));
      return;
    }
    let settled = false;
    const settle = (f: () => void): void => {
      if (settled) return;
      settled = true;
      signal.removeEventListener("abort", onAbort);
      f();
    };
    let res: IncomingMessage | null = null;
    const onAbort = (): void => {
      res?.destroy();
      settle(() => {
        reject(abortError(signal));
      });
    };
    signal.addEventListener("abort", onAbort, { once: true });
    docker.modem.dial(
      {
        path: `/containers/${encodeURIComponent(id)}/wait?`,
        method: "POST",
        options: { condition: "not-running" },
        isStream: true,
        abortSignal: signal,
        statusCodes: { 200: true, 400: "bad parameter", 404: "no such container", 500: "server error" },
      },
      (err, result) => {
        if (err !== null) {
          settle(() => {
            reject(err);
          });
          return;
        }
        const stream = result as IncomingMessage;
        if (settled) {
          stream.destroy();
          return;
        }
        res = stream;
        let body = "";
        stream.setEncoding("utf8");
        stream.on("data", (chunk: string) => (body += chunk));
        stream.on("error", (e) => {
          settle(() => {
            reject(e);
          });
        });
        stream.on("end", () => {
          settle(() => {
            resolve(statusCode(body));
          });
        });
        // After an error, or when the connection went away without one (no "end" came).
        stream.on("close", () => {
          settle(() => {
            reject(new Error("the connection to the engine closed before the wait answered"));
          });
        });
      },
    );
  });
}

function statusCode(body: string): number | undefined {
  try {
    const v: unknown = JSON.parse(body);
    if (typeof v === "object" && v !== null && "StatusCode" in v && typeof v.StatusCode === "number") return v.StatusCode;
  } catch {
    // Not JSON: the inspect that follows tells the exit.
  }
  return undefined;
}

function abortError(signal: AbortSignal): Error {
  return signal.reason instanceof Error ? signal.reason : new Error("the wait was aborted");
}
