/** The pieces every page is made of. */
import type { ComponentChildren, JSX } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import { ApiError, auth, message } from "./api.js";
import { ago, when } from "./format.js";

/** A status in its colour: allocation, node, deployment, check and job statuses share one palette. */
export function Badge({ status, label }: { status: string; label?: string }): JSX.Element {
  return <span class={`badge s-${status.replace(/[^a-z-]/gi, "")}`}>{label ?? status}</span>;
}

/** A failed read or write, said in the page. */
export function ErrorBox({ error, what }: { error: unknown; what?: string }): JSX.Element | null {
  if (error === undefined || error === null) return null;
  return (
    <div class="error" role="alert">
      {what === undefined ? null : <strong>{what}: </strong>}
      {message(error)}
      {error instanceof ApiError && error.status === 403 ? <p>The ACL token in use may not read this. Set a token that may with the Token button.</p> : null}
    </div>
  );
}

export function Loading({ what }: { what: string }): JSX.Element {
  return (
    <p class="muted" aria-busy="true">
      Loading {what}…
    </p>
  );
}

export function Section({ title, actions, children, id }: { title: string; actions?: ComponentChildren; children: ComponentChildren; id?: string }): JSX.Element {
  return (
    <section class="section" aria-labelledby={id}>
      <div class="section-head">
        <h2 id={id}>{title}</h2>
        {actions === undefined ? null : <div class="actions">{actions}</div>}
      </div>
      {children}
    </section>
  );
}

/**
 * A button that runs a write: busy while it runs, the API's refusal shown beside it.
 * With `confirm`, the first press asks and the second does it.
 */
export function Action({
  run,
  children,
  kind = "normal",
  confirm,
  disabled = false,
  title,
  pressed,
}: {
  run: () => Promise<unknown>;
  children: ComponentChildren;
  kind?: "normal" | "primary" | "danger";
  confirm?: string;
  disabled?: boolean;
  title?: string;
  pressed?: boolean;
}): JSX.Element {
  const [busy, setBusy] = useState(false);
  const [asking, setAsking] = useState(false);
  const [error, setError] = useState<unknown>(undefined);
  const go = (): void => {
    if (confirm !== undefined && !asking) {
      setAsking(true);
      return;
    }
    setAsking(false);
    setBusy(true);
    setError(undefined);
    run().then(
      () => {
        setBusy(false);
      },
      (err: unknown) => {
        setBusy(false);
        setError(err);
      },
    );
  };
  return (
    <span class="action">
      <button type="button" class={`btn ${kind}`} onClick={go} disabled={disabled || busy} aria-busy={busy} title={title} aria-pressed={pressed}>
        {asking ? confirm : children}
      </button>
      {asking ? (
        <button
          type="button"
          class="btn"
          onClick={() => {
            setAsking(false);
          }}
        >
          Cancel
        </button>
      ) : null}
      {error === undefined ? null : (
        <span class="action-error" role="alert">
          {message(error)}
        </span>
      )}
    </span>
  );
}

/**
 * A list of any length as a table: only the rows in view are in the page. Rows have one
 * height; `columns` is the CSS grid template shared by the header and every row.
 */
export function VirtualTable<T>({
  items,
  columns,
  heads,
  row,
  rowKey,
  label,
  rowHeight = 36,
  maxHeight = 560,
  minWidth = 640,
  empty = "None.",
}: {
  items: readonly T[];
  columns: string;
  /** The column headings. */
  heads: readonly string[];
  row: (item: T) => ComponentChildren;
  rowKey: (item: T) => string;
  label: string;
  rowHeight?: number;
  maxHeight?: number;
  minWidth?: number;
  empty?: string;
}): JSX.Element {
  const [top, setTop] = useState(0);
  const height = Math.min(maxHeight, items.length * rowHeight);
  const first = Math.max(0, Math.floor(top / rowHeight) - 8);
  const count = Math.ceil(maxHeight / rowHeight) + 16;
  const shown = items.slice(first, first + count);
  return (
    <div class="vtable-wrap">
      <div class="vtable" role="table" aria-label={label} aria-rowcount={items.length + 1} style={{ minWidth: `${minWidth}px` }}>
        <div class="vrow vhead" role="row" aria-rowindex={1} style={{ gridTemplateColumns: columns }}>
          {heads.map((h) => (
            <span role="columnheader" key={h}>
              {h}
            </span>
          ))}
        </div>
        {items.length === 0 ? (
          <p class="muted empty">{empty}</p>
        ) : (
          <div
            class="vbody"
            role="rowgroup"
            // Scrolled with the keyboard too.
            tabIndex={0}
            style={{ height: `${height}px` }}
            onScroll={(e) => {
              setTop(e.currentTarget.scrollTop);
            }}
          >
            <div style={{ height: `${items.length * rowHeight}px`, position: "relative" }}>
              {shown.map((item, i) => (
                <div key={rowKey(item)} class="vrow" role="row" aria-rowindex={first + i + 2} style={{ top: `${(first + i) * rowHeight}px`, height: `${rowHeight}px`, gridTemplateColumns: columns }}>
                  {row(item)}
                </div>
              ))}
            </div>
          </div>
        )}
      </div>
    </div>
  );
}

/** A search box that narrows a list as one types. */
export function Filter({ label, value, set, placeholder = label }: { label: string; value: string; set: (v: string) => void; placeholder?: string }): JSX.Element {
  return (
    <input
      type="search"
      class="filter"
      placeholder={placeholder}
      aria-label={label}
      value={value}
      onInput={(e) => {
        set(e.currentTarget.value);
      }}
    />
  );
}

/** The heading row of a plain table. */
export function THead({ cols }: { cols: readonly string[] }): JSX.Element {
  return (
    <thead>
      <tr>
        {cols.map((c) => (
          <th scope="col" key={c}>
            {c}
          </th>
        ))}
      </tr>
    </thead>
  );
}

/** Name → value pairs, filterable when there are many. */
export function Pairs({ data, label }: { data: Record<string, string>; label: string }): JSX.Element {
  const [filter, setFilter] = useState("");
  const rows = Object.entries(data)
    .filter(([k, v]) => filter === "" || k.includes(filter) || v.includes(filter))
    .sort(([a], [b]) => (a < b ? -1 : 1));
  return (
    <div>
      {Object.keys(data).length > 8 ? <Filter label={`Filter ${label.toLowerCase()}`} value={filter} set={setFilter} /> : null}
      <VirtualTable items={rows} columns="minmax(12em, 1fr) 2fr" minWidth={360} label={label} rowKey={([k]) => k} heads={["Name", "Value"]} row={([k, v]) => [<code role="cell" title={k}>{k}</code>, <span role="cell" title={v}>{v}</span>]} empty={Object.keys(data).length === 0 ? "None." : "No match."} rowHeight={30} />
    </div>
  );
}

/** The ACL token form: opens by itself when the API refuses a request, and from the header. */
export function TokenPrompt({ open, onClose, onSaved }: { open: boolean; onClose: () => void; onSaved: () => void }): JSX.Element | null {
  const [value, setValue] = useState(auth.token());
  const input = useRef<HTMLInputElement>(null);
  useEffect(() => {
    if (open) {
      setValue(auth.token());
      input.current?.focus();
    }
  }, [open]);
  if (!open) return null;
  const save = (e: Event): void => {
    e.preventDefault();
    auth.setToken(value.trim());
    onSaved();
  };
  return (
    <div
      class="modal-back"
      onKeyDown={(e) => {
        if (e.key === "Escape") onClose();
      }}
    >
      <div role="dialog" aria-modal="true" aria-labelledby="token-title">
      <form class="modal" onSubmit={save}>
        <h2 id="token-title">ACL token</h2>
        {auth.refused === "" ? <p>The token the dashboard sends with every request, kept in this browser.</p> : <p class="error" role="alert">The API refused a request: {auth.refused}. A token that allows it is needed.</p>}
        <label>
          Secret ID
          <input ref={input} type="password" autoComplete="off" value={value} onInput={(e) => { setValue(e.currentTarget.value); }} />
        </label>
        <div class="actions">
          <button type="submit" class="btn primary">
            Save
          </button>
          {auth.token() === "" ? null : (
            <button
              type="button"
              class="btn"
              onClick={() => {
                auth.setToken("");
                onSaved();
              }}
            >
              Forget token
            </button>
          )}
          <button type="button" class="btn" onClick={onClose}>
            Close
          </button>
        </div>
      </form>
      </div>
    </div>
  );
}

/** A share of a node's capacity as a thin bar with its numbers. */
export function Use({ used, total, text }: { used: number; total: number; text: string }): JSX.Element {
  const pct = total > 0 ? Math.min(100, Math.round((used / total) * 100)) : 0;
  return (
    <span class="use" title={`${text} (${pct}%)`}>
      <span class="use-bar" aria-hidden="true">
        <span style={{ width: `${pct}%` }} class={pct > 90 ? "hot" : ""} />
      </span>
      <span class="use-text">{pct}%</span>
    </span>
  );
}

/** One clock for every "… ago" on the page, so that they age together without a reload. */
const clock = { listeners: new Set<() => void>(), timer: undefined as ReturnType<typeof setInterval> | undefined };

function useClock(): number {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const tick = (): void => {
      setNow(Date.now());
    };
    clock.listeners.add(tick);
    clock.timer ??= setInterval(() => {
      for (const fn of clock.listeners) fn();
    }, 5000);
    return () => {
      clock.listeners.delete(tick);
      if (clock.listeners.size === 0) {
        clearInterval(clock.timer);
        clock.timer = undefined;
      }
    };
  }, []);
  return now;
}

/** How long ago a moment was (Unix ms), its date and time on hover. */
export function Ago({ ms }: { ms: number }): JSX.Element {
  const now = useClock();
  return (
    <time dateTime={ms > 0 ? new Date(ms).toISOString() : undefined} title={when(ms)}>
      {ago(ms, now)}
    </time>
  );
}
