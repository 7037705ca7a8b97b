/**
 * Answers at one index, by path and query (less the blocking query's own parameters). The
 * requests that ask the same thing at one index — the blocking queries one change wakes,
 * ten thousand clients listing jobs at once — share one answer, made and serialised once.
 * An answer must be a function of the index and of the request's path and query alone.
 */
export class RenderCache<V> {
  private index = -1;
  private readonly answers = new Map<string, V>();

  /** `max`: distinct questions kept at one index; enough in practice, a bound all the same. */
  constructor(private readonly max = 256) {}

  /** The answer to `path` with `query` at `index`, made by `make` the first time it is asked. */
  get(index: number, path: string, query: URLSearchParams, make: () => V): V {
    if (index !== this.index) {
      this.index = index;
      this.answers.clear();
    }
    const q = new URLSearchParams(query);
    q.delete("index");
    q.delete("wait");
    q.sort();
    const key = `${path}?${q.toString()}`;
    let answer = this.answers.get(key);
    if (answer === undefined) {
      answer = make();
      if (this.answers.size >= this.max) this.answers.clear();
      this.answers.set(key, answer);
    }
    return answer;
  }
}
