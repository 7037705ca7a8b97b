/**
 * Constraints, affinities and spreads: the placement rules a job, group or task
 * carries. Targets are interpolation strings such as `${attr.kernel.name}`,
 * `${node.datacenter}`, `${meta.role}`; they are resolved against a node by the
 * scheduler.
 */
export const ConstraintOperator = {
  Equal: "=",
  Equal2: "==",
  Is: "is",
  NotEqual: "!=",
  Not: "not",
  Greater: ">",
  GreaterEqual: ">=",
  Less: "<",
  LessEqual: "<=",
  Regexp: "regexp",
  Version: "version",
  Semver: "semver",
  SetContains: "set_contains",
  SetContainsAll: "set_contains_all",
  SetContainsAny: "set_contains_any",
  IsSet: "is_set",
  IsNotSet: "is_not_set",
  DistinctHosts: "distinct_hosts",
  DistinctProperty: "distinct_property",
  /** Never on a node that runs an allocation of the job named in RTarget (fleet's `Conflicts`). */
  JobAntiAffinity: "not_beside_job",
  /** Only on a node that runs an allocation of the job named in RTarget (fleet's `MachineOf`). */
  JobAffinity: "beside_job",
} as const;
export type ConstraintOperator = (typeof ConstraintOperator)[keyof typeof ConstraintOperator];

export const CONSTRAINT_OPERATORS: readonly string[] = Object.values(ConstraintOperator);

/** Operators that take no right-hand value. */
export const UNARY_OPERATORS: readonly string[] = [
  ConstraintOperator.IsSet,
  ConstraintOperator.IsNotSet,
  ConstraintOperator.DistinctHosts,
];

/** Operators that place relative to other allocations, not to node attributes. */
export const PLACEMENT_OPERATORS: readonly string[] = [
  ConstraintOperator.DistinctHosts,
  ConstraintOperator.DistinctProperty,
  ConstraintOperator.JobAntiAffinity,
  ConstraintOperator.JobAffinity,
];

export interface Constraint {
  LTarget: string;
  RTarget: string;
  Operand: ConstraintOperator;
}

export interface Affinity {
  LTarget: string;
  RTarget: string;
  Operand: ConstraintOperator;
  /** -100..100, not zero. */
  Weight: number;
}

export interface SpreadTarget {
  Value: string;
  Percent: number;
}

export interface Spread {
  Attribute: string;
  /** 1..100 */
  Weight: number;
  SpreadTarget: SpreadTarget[];
}
