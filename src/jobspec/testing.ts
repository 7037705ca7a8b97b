/**
 * Test factories for jobs. `demoJob()` is the canonical "demoapp" job as the parser
 * and the server hold it after defaults are applied: a service job with one group "webs"
 * of count 2, whose docker task "frontend" runs nginx on a dynamic port "http" mapped to
 * 80 with cpu 200 and memory 64 and offers a service with two tags and an http check;
 * updates go one at a time behind one canary. Every call returns a fresh object the
 * caller may change; `demoGroup()` and `demoTask()` are its parts.
 */
import type { Job, Task, TaskGroup, UpdateStrategy } from "../structs/index.js";
import { defaultDisconnect, defaultUpdateStrategy, NS } from "../structs/index.js";

function demoUpdate(): UpdateStrategy {
  return { ...defaultUpdateStrategy(), Canary: 1 };
}

export function demoTask(): Task {
  return {
    Name: "frontend",
    Driver: "docker",
    User: "",
    Config: { image: "nginx:1.25", ports: ["http"] },
    Env: { APP_ENV: "production" },
    Services: [
      {
        Name: "demoapp-frontend",
        PortLabel: "http",
        AddressMode: "auto",
        Tags: ["web", "urlprefix-/"],
        CanaryTags: [],
        Meta: {},
        TaskName: "",
        Checks: [
          {
            Name: "alive",
            Type: "http",
            Command: "",
            Args: [],
            Path: "/",
            Method: "GET",
            Protocol: "http",
            Header: {},
            PortLabel: "",
            AddressMode: "host",
            Interval: 10 * NS.second,
            Timeout: 2 * NS.second,
            InitialStatus: "",
            TaskName: "",
            SuccessBeforePassing: 0,
            FailuresBeforeCritical: 0,
            TLSSkipVerify: false,
          },
        ],
      },
    ],
    Resources: { CPU: 200, Cores: 0, MemoryMB: 64, MemoryMaxMB: 0, DiskMB: 0 },
    Constraints: [],
    Affinities: [],
    Meta: {},
    KillTimeout: 5 * NS.second,
    KillSignal: "",
    LogConfig: { MaxFiles: 10, MaxFileSizeMB: 10 },
    Leader: false,
  };
}

export function demoGroup(): TaskGroup {
  return {
    Name: "webs",
    Count: 2,
    Constraints: [],
    Affinities: [],
    Spreads: [],
    RestartPolicy: { Attempts: 2, Interval: 30 * NS.minute, Delay: 15 * NS.second, Mode: "fail" },
    ReschedulePolicy: {
      Attempts: 0,
      Interval: 0,
      Delay: 30 * NS.second,
      DelayFunction: "exponential",
      MaxDelay: NS.hour,
      Unlimited: true,
    },
    Update: demoUpdate(),
    Migrate: { MaxParallel: 1, HealthCheck: "checks", MinHealthyTime: 10 * NS.second, HealthyDeadline: 5 * NS.minute },
    Disconnect: defaultDisconnect(),
    EphemeralDisk: { SizeMB: 300, Migrate: false, Sticky: false },
    Networks: [
      {
        Mode: "host",
        MBits: 0,
        ReservedPorts: [],
        DynamicPorts: [{ Label: "http", Value: 0, To: 80, HostNetwork: "default" }],
        IP: "",
      },
    ],
    Services: [],
    Tasks: [demoTask()],
    Meta: {},
  };
}

export function demoJob(): Job {
  return {
    ID: "demoapp",
    Name: "demoapp",
    Namespace: "default",
    Region: "global",
    Type: "service",
    Priority: 50,
    AllAtOnce: false,
    Datacenters: ["dc1"],
    NodePool: "default",
    Constraints: [],
    Affinities: [],
    Spreads: [],
    Placement: "binpack",
    FullScan: false,
    Update: demoUpdate(),
    Periodic: null,
    TaskGroups: [demoGroup()],
    Meta: {},
    Stop: false,
    Status: "running",
    Version: 0,
    Stable: true,
    CreateIndex: 10,
    ModifyIndex: 10,
    JobModifyIndex: 10,
    SubmitTime: 0,
  };
}
