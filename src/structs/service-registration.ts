import type { ServiceInstance } from "./catalog.js";

/**
 * One instance of a service as Nomad's native service discovery shows it (`GET
 * /v1/service/:name`, Nomad's `api.ServiceRegistration`). Ruche has one catalog: a service
 * block with `provider = "nomad"` and one with `provider = "consul"` are both in it, and both
 * in this view and in Consul's.
 */
export interface ServiceRegistration {
  ID: string;
  ServiceName: string;
  Namespace: string;
  NodeID: string;
  Datacenter: string;
  /** "" for a service registered directly (Consul's agent API), which no job owns. */
  JobID: string;
  AllocID: string;
  Tags: string[];
  Address: string;
  Port: number;
  CreateIndex: number;
  ModifyIndex: number;
}

/** One service of a namespace in `GET /v1/services` (Nomad's `ServiceRegistrationStub`): its name and its instances' tags. */
export interface ServiceRegistrationStub {
  ServiceName: string;
  Tags: string[];
}

/** A namespace's services in `GET /v1/services` (Nomad's `ServiceRegistrationListStub`). */
export interface ServiceRegistrationListStub {
  Namespace: string;
  Services: ServiceRegistrationStub[];
}

/** The namespace a catalog instance is in: its allocation's; "default" for one registered directly. */
export function instanceNamespace(i: Pick<ServiceInstance, "alloc">): string {
  return i.alloc?.Namespace ?? "default";
}

/** A catalog instance in Nomad's shape. */
export function serviceRegistrationOf(i: ServiceInstance): ServiceRegistration {
  return {
    ID: i.ID,
    ServiceName: i.Service,
    Namespace: instanceNamespace(i),
    NodeID: i.node.ID,
    Datacenter: i.node.Datacenter,
    JobID: i.alloc?.JobID ?? "",
    AllocID: i.alloc?.ID ?? "",
    Tags: [...i.Tags],
    Address: i.Address,
    Port: i.Port,
    CreateIndex: i.CreateIndex,
    ModifyIndex: i.ModifyIndex,
  };
}
