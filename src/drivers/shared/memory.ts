/** A task's memory limits in bytes: the hard limit (-1: none; 0: none written) and the reservation (0: none). */
export interface MemoryLimits {
  limitBytes: number;
  reservationBytes: number;
}

/**
 * The hard and soft memory limits of a task, as Nomad's executor (`memoryLimits` in
 * drivers/shared/executor/utils.go), for the exec driver's cgroups and the containerd
 * driver's OCI spec: `memory` is the hard limit, unless `memory_max` is
 * above it (then that is the limit and `memory` the reservation) or -1 (no hard limit,
 * `memory` the reservation).
 */
export function memoryLimits(memoryMB: number, memoryMaxMB = 0): MemoryLimits {
  const bytes = (mb: number): number => Math.round(mb * 1024 * 1024);
  if (memoryMaxMB === -1) return { limitBytes: -1, reservationBytes: bytes(memoryMB) };
  if (memoryMaxMB > memoryMB) return { limitBytes: bytes(memoryMaxMB), reservationBytes: bytes(memoryMB) };
  return { limitBytes: bytes(memoryMB), reservationBytes: 0 };
}
