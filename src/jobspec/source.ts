import type { Diagnostic } from "./diagnostic.js";

/** A job file larger than this is refused before it is parsed. */
export const MAX_JOB_FILE_BYTES = 1024 * 1024;

/** Bytes of a job file → its text, or why it is not one. */
export function decodeSource(bytes: Uint8Array, file: string): { ok: true; text: string } | { ok: false; diagnostics: Diagnostic[] } {
  if (bytes.length > MAX_JOB_FILE_BYTES) {
    return {
      ok: false,
      diagnostics: [{ file, path: "", message: `the file is ${(bytes.length / 1024 / 1024).toFixed(1)} MiB; a job file may be at most ${MAX_JOB_FILE_BYTES / 1024 / 1024} MiB` }],
    };
  }
  const bad = firstInvalidUtf8(bytes);
  if (bad >= 0) {
    let line = 1;
    let lineStart = 0;
    for (let i = 0; i < bad; i++) {
      if (bytes[i] === 0x0a) {
        line++;
        lineStart = i + 1;
      }
    }
    const col = new TextDecoder().decode(bytes.subarray(lineStart, bad)).length + 1;
    return {
      ok: false,
      diagnostics: [{ file, pos: { line, col }, path: "", message: `the file is not valid UTF-8 (byte 0x${(bytes[bad] ?? 0).toString(16).padStart(2, "0")} at offset ${bad})` }],
    };
  }
  let text = new TextDecoder("utf-8").decode(bytes);
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  const nul = text.indexOf("\0");
  if (nul >= 0) {
    const before = text.slice(0, nul);
    const line = before.split("\n").length;
    return { ok: false, diagnostics: [{ file, pos: { line, col: nul - before.lastIndexOf("\n") }, path: "", message: "the file holds a NUL byte; a job file is text" }] };
  }
  return { ok: true, text };
}

/** Offset of the first byte that breaks UTF-8, or -1. */
function firstInvalidUtf8(b: Uint8Array): number {
  let i = 0;
  while (i < b.length) {
    const c = b[i] ?? 0;
    let need: number;
    let min: number;
    if (c < 0x80) {
      i++;
      continue;
    } else if (c >= 0xc2 && c <= 0xdf) {
      need = 1;
      min = 0x80;
    } else if (c >= 0xe0 && c <= 0xef) {
      need = 2;
      min = 0x800;
    } else if (c >= 0xf0 && c <= 0xf4) {
      need = 3;
      min = 0x10000;
    } else return i;
    let cp = c & (0x3f >> need);
    for (let k = 1; k <= need; k++) {
      const cc = b[i + k];
      if (cc === undefined || (cc & 0xc0) !== 0x80) return i;
      cp = (cp << 6) | (cc & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return i;
    i += need + 1;
  }
  return -1;
}
