/** Identifiers are shown by their first 8 characters, as Nomad shows them; `-verbose` shows them whole. */
export const SHORT_ID_LENGTH = 8;

export function shortId(id: string, full = false): string {
  return full ? id : id.slice(0, SHORT_ID_LENGTH);
}
