/**
 * The shapes the API's list endpoints answer with, apart from the data model's own types.
 * Types only, with nothing of Node in them: the dashboard, which runs in the browser,
 * imports them from here.
 */
import type { Allocation } from "../structs/index.js";

/** An allocation in a list: without the job it carries, nor its placement metrics. */
export type AllocStub = Omit<Allocation, "Job" | "Metrics"> & { JobVersion: number };

export interface JobStub {
  ID: string;
  Name: string;
  Namespace: string;
  Type: string;
  Priority: number;
  Status: string;
  Stop: boolean;
  Version: number;
  Datacenters: string[];
  JobSummary: { Summary: Record<string, Record<string, number>> };
  JobModifyIndex: number;
  SubmitTime: number;
}

/** One instance of a service as Consul's health endpoint shows it. */
export interface HealthEntry {
  Node: { ID: string; Node: string; Address: string; Datacenter: string };
  Service: { ID: string; Service: string; Tags: string[]; Address: string; Port: number };
  Checks: { CheckID: string; Name: string; Status: string; Output: string; ServiceID: string }[];
}

export interface RegisterResponse {
  EvalID: string;
  EvalCreateIndex: number;
  JobModifyIndex: number;
  Index: number;
}
