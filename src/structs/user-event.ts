/** One of Consul's user events (`/v1/event/fire/:name`), as `/v1/event/list` answers it. */
export interface UserEvent {
  ID: string;
  Name: string;
  /** The payload, base64, or null without one (Go's []byte). */
  Payload: string | null;
  /** Regular expressions on the node name, service and tag of the agents the event is for; "" for every one. */
  NodeFilter: string;
  ServiceFilter: string;
  TagFilter: string;
  Version: number;
  /** Consul's Lamport time of the event: one more than the last event the cluster kept. */
  LTime: number;
}

/** A user event as the store keeps it (`userEvents`), with the row's indexes: not in Consul's answers. */
export interface StoredUserEvent extends UserEvent {
  CreateIndex: number;
  ModifyIndex: number;
}

/** How many events the cluster keeps, as Consul's agent (its eventBuf). */
export const USER_EVENTS_KEPT = 256;
