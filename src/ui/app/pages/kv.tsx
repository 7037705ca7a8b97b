/**
 * The KV store as folders: a folder lists its keys and subfolders (`/` separates them) and
 * takes new keys; a key's page shows its value and saves a change only if nobody changed
 * it meanwhile (check-and-set on its ModifyIndex).
 */
import type { JSX } from "preact";
import { useEffect, useState } from "preact/hooks";
import { del, keyPath, request } from "../api.js";
import { Action, ErrorBox, Loading } from "../components.js";
import { decodeValue } from "../format.js";
import { useBlocking } from "../live.js";
import { href, navigate } from "../router.js";
import type { KVEntry } from "../types.js";

export function KvPage({ path }: { path: string }): JSX.Element {
  const folder = path === "" || path.endsWith("/");
  return (
    <div>
      <div class="page-head">
        <h1>Key/value</h1>
      </div>
      <Crumbs path={path} />
      {folder ? <Folder prefix={path} /> : <KeyEditor k={path} />}
    </div>
  );
}

function Crumbs({ path }: { path: string }): JSX.Element {
  const parts = path.split("/").filter((p) => p !== "");
  return (
    <nav class="crumbs" aria-label="Folder">
      <a href={href.kv("")}>root</a>
      {parts.map((p, i) => {
        const isKey = i === parts.length - 1 && !path.endsWith("/");
        const to = parts.slice(0, i + 1).join("/") + (isKey ? "" : "/");
        return (
          <span key={to}>
            {" / "}
            <a href={href.kv(to)} aria-current={i === parts.length - 1 ? "page" : undefined}>
              {p}
            </a>
          </span>
        );
      })}
    </nav>
  );
}

/** Writes a value; true when written (false: a check-and-set that lost). */
async function write(key: string, value: string, cas?: number): Promise<boolean> {
  const r = await request<boolean>("PUT", `/v1/kv/${keyPath(key)}`, undefined, { raw: value, query: cas === undefined ? {} : { cas: String(cas) } });
  return r.body;
}

function Folder({ prefix }: { prefix: string }): JSX.Element {
  const keys = useBlocking<string[]>(`/v1/kv/${keyPath(prefix)}?keys=&separator=/`, []);
  const [name, setName] = useState("");
  const [value, setValue] = useState("");
  const entries = (keys.data ?? []).filter((k) => k !== prefix).sort();
  const create = async (): Promise<void> => {
    const key = prefix + name.replace(/^\/+/, "");
    if (name.trim() === "") throw new Error("give the new key a name");
    if (!(await write(key, value, 0))) throw new Error(`"${key}" exists already`);
    setName("");
    setValue("");
    navigate(href.kv(key));
  };
  return (
    <div>
      <ErrorBox error={keys.error} what="Keys" />
      {keys.data === undefined ? (
        <Loading what="keys" />
      ) : entries.length === 0 ? (
        <p class="muted">{prefix === "" ? "The KV store is empty." : "No key in this folder."}</p>
      ) : (
        <ul class="kv-list" aria-label="Keys">
          {entries.map((k) => (
            <li key={k} class={k.endsWith("/") ? "kv-folder" : "kv-key"}>
              <a href={href.kv(k)}>{k.slice(prefix.length)}</a>
            </li>
          ))}
        </ul>
      )}
      <form
        class="kv-new"
        onSubmit={(e) => {
          e.preventDefault();
        }}
      >
        <h2>New key in {prefix === "" ? "root" : prefix}</h2>
        <label>
          Name{" "}
          <input
            value={name}
            placeholder="config/feature or folder/"
            onInput={(e) => {
              setName(e.currentTarget.value);
            }}
          />
        </label>
        <label>
          Value
          <textarea
            rows={4}
            value={value}
            onInput={(e) => {
              setValue(e.currentTarget.value);
            }}
          />
        </label>
        <Action run={create} kind="primary">
          Create
        </Action>
      </form>
    </div>
  );
}

function KeyEditor({ k }: { k: string }): JSX.Element {
  const entry = useBlocking<KVEntry[]>(`/v1/kv/${keyPath(k)}`, []);
  const e = entry.data?.[0];
  const [draft, setDraft] = useState<string | null>(null);
  const [note, setNote] = useState("");
  const value = e === undefined ? null : decodeValue(e.Value);
  useEffect(() => {
    setDraft(null);
    setNote("");
  }, [k]);
  if (entry.data === undefined) return entry.error === undefined ? <Loading what="the key" /> : <ErrorBox error={entry.error} />;
  if (e === undefined) return <p class="muted">There is no key {k}.</p>;
  const parent = k.includes("/") ? k.slice(0, k.lastIndexOf("/") + 1) : "";
  const save = async (): Promise<void> => {
    if (!(await write(k, draft ?? value ?? "", e.ModifyIndex))) {
      setNote("Someone changed this key meanwhile: its new value is shown; your edit is kept in the box.");
      return;
    }
    setDraft(null);
    setNote("Saved.");
  };
  return (
    <div class="kv-edit">
      <ErrorBox error={entry.error} what="Key" />
      <p class="muted">
        Flags {e.Flags} · modify index {e.ModifyIndex}
        {e.Session === "" ? "" : ` · locked by session ${e.Session}`}
      </p>
      {value === null ? (
        <p class="muted">The value is binary ({Math.floor(((e.Value ?? "").length * 3) / 4)} bytes) and cannot be edited here.</p>
      ) : (
        <label>
          Value
          <textarea
            rows={12}
            value={draft ?? value}
            onInput={(ev) => {
              setDraft(ev.currentTarget.value);
              setNote("");
            }}
          />
        </label>
      )}
      {draft !== null && value !== null && draft !== value && note === "" ? <p class="muted">Edited, not saved.</p> : null}
      <p class="muted" role="status">
        {note}
      </p>
      <div class="actions">
        {value === null ? null : (
          <Action run={save} kind="primary" disabled={draft === null}>
            Save
          </Action>
        )}
        <Action
          run={async () => {
            await del(`/v1/kv/${keyPath(k)}`);
            navigate(href.kv(parent));
          }}
          kind="danger"
          confirm="Confirm delete"
        >
          Delete
        </Action>
      </div>
    </div>
  );
}
