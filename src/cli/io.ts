/** What a command writes to and reads from; tests pass their own. */
export interface IO {
  out(text: string): void;
  err(text: string): void;
  env: Readonly<Record<string, string | undefined>>;
  cwd: string;
}

export const processIO: IO = {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
  env: process.env,
  cwd: process.cwd(),
};

/** Exit codes, as Nomad's CLI uses them. */
export const Exit = { Ok: 0, Error: 1, PlanChanges: 1, Fatal: 255 } as const;
