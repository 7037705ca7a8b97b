/**
 * The edge router's routes, backends, health and request rates, from `GET /v1/router` on
 * this API when its agent runs the router. Rates move without any change of state that a
 * blocking query could wait on: the page reads them again every two seconds.
 */
import type { JSX } from "preact";
import { useEffect, useState } from "preact/hooks";
import { ApiError, get } from "../api.js";
import { Badge, ErrorBox, Loading, Section } from "../components.js";

interface Backend {
  id: string;
  origin: string;
  weight: number;
  ejected: boolean;
  inflight: number;
}

interface Route {
  name: string;
  service: string;
  rule: string;
  entryPoints: string[];
  method: string;
  ratePerSecond: number;
  backends: Backend[];
  /** Tags asking for what the router does not implement: the route answers 503. */
  unimplemented?: string[];
}

interface Overview {
  routes?: Route[];
  skipped?: { reason?: string; service?: string; id?: string }[];
  workers?: number;
}

const EVERY_MS = 2000;

export function RouterPage(): JSX.Element {
  const [data, setData] = useState<Overview | null | undefined>(undefined);
  const [error, setError] = useState<unknown>(undefined);
  useEffect(() => {
    const abort = new AbortController();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const read = async (): Promise<void> => {
      try {
        setData((await get<Overview>("/v1/router", { signal: abort.signal })).body);
        setError(undefined);
      } catch (err) {
        if (abort.signal.aborted) return;
        if (err instanceof ApiError && err.status === 404) setData(null);
        else setError(err);
      }
      if (!abort.signal.aborted) timer = setTimeout(() => void read(), EVERY_MS);
    };
    void read();
    return () => {
      abort.abort();
      if (timer !== undefined) clearTimeout(timer);
    };
  }, []);
  return (
    <div>
      <div class="page-head">
        <h1>Router</h1>
      </div>
      <ErrorBox error={error} what="Router" />
      {data === undefined ? (
        <Loading what="the routing table" />
      ) : data === null ? (
        <div class="empty-state" data-router="none">
          <p>
            <strong>No router configured.</strong>
          </p>
          <p class="muted">The agent behind this API runs no edge router (start it with -router, as -dev does).</p>
        </div>
      ) : data.routes === undefined ? (
        <p class="muted">The router runs in {data.workers ?? 0} worker processes; their routes are on the router's own dashboard port.</p>
      ) : (
        <div data-router="routes">
          {data.routes.length === 0 ? <p class="muted">No route: no passing instance has tags that route it.</p> : null}
          {data.routes.map((r) => (
            <Section key={r.name} title={r.name}>
              <p>
                <code>{r.rule}</code> <span class="muted">service {r.service} · {r.entryPoints.join(", ")} · {r.method} · {r.ratePerSecond} req/s</span>
              </p>
              {(r.unimplemented ?? []).length > 0 ? (
                <p data-router="unimplemented">
                  <Badge status="critical" label="not served (503)" /> its tags ask for what the router does not implement: {(r.unimplemented ?? []).join("; ")}
                </p>
              ) : null}
              <table class="table">
                <thead>
                  <tr>
                    <th>Backend</th>
                    <th>Weight</th>
                    <th>Health</th>
                    <th>In flight</th>
                  </tr>
                </thead>
                <tbody>
                  {r.backends.map((b) => (
                    <tr key={b.id}>
                      <td>{b.origin}</td>
                      <td>{b.weight}</td>
                      <td>
                        <Badge status={b.ejected ? "critical" : "passing"} label={b.ejected ? "ejected" : "passing"} />
                      </td>
                      <td>{b.inflight}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </Section>
          ))}
          {(data.skipped ?? []).length > 0 ? (
            <Section title="Left out">
              <ul>
                {(data.skipped ?? []).map((s, i) => (
                  <li key={i}>
                    {s.service ?? s.id ?? ""}: {s.reason ?? ""}
                  </li>
                ))}
              </ul>
            </Section>
          ) : null}
        </div>
      )}
    </div>
  );
}
