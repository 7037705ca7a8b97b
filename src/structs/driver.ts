/** The task drivers a node agent may offer, and the config key each one cannot do without. */
export const DriverName = { Docker: "docker", Exec: "exec", RawExec: "raw_exec", Mock: "mock" } as const;
export type DriverName = (typeof DriverName)[keyof typeof DriverName];
export const DRIVER_NAMES: readonly string[] = Object.values(DriverName);

export const DRIVER_REQUIRED_CONFIG: Readonly<Record<DriverName, readonly string[]>> = {
  docker: ["image"],
  exec: ["command"],
  raw_exec: ["command"],
  mock: [],
};
