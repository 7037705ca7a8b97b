import { createInterface } from "node:readline/promises";

/** What a command writes to and reads from; tests pass their own. */
export interface IO {
  out(text: string): void;
  err(text: string): void;
  env: Readonly<Record<string, string | undefined>>;
  cwd: string;
  /**
   * Asks the person at the terminal a question and returns the answer; absent when no one
   * can answer (not a terminal, tests), and then a command that needs a yes asks for `-yes`.
   */
  ask?: (question: string) => Promise<string>;
  /** What a command reads as its input (`alloc exec -i`); none when absent (tests). */
  stdin?: CommandInput;
}

/** A readable input, a terminal's (raw mode) or not. */
export type CommandInput = NodeJS.ReadableStream & { isTTY?: boolean; setRawMode?: (raw: boolean) => unknown };

export const processIO: IO = {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
  env: process.env,
  cwd: process.cwd(),
  stdin: process.stdin,
  ...(process.stdin.isTTY ? { ask } : {}),
};

async function ask(question: string): Promise<string> {
  const rl = createInterface({ input: process.stdin, output: process.stdout });
  try {
    return await rl.question(`${question} `);
  } finally {
    rl.close();
  }
}

/** Exit codes, as Nomad's CLI uses them. */
export const Exit = { Ok: 0, Error: 1, PlanChanges: 1, PlacementFailed: 2, Fatal: 255 } as const;
