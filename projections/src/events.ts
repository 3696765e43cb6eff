/**
 * The shape of a logged event as the pure domain sees it: the same envelope the server's event
 * store returns (see docs/events.md), without any store-specific behaviour.
 */
export interface DomainEventMetadata {
  workspace: string;
  causationId?: string;
  correlationId?: string;
  /** ISO 8601: when it happened in the world. */
  occurredAt: string;
  /** ISO 8601: when Herald received it. Monotonic enough to serve as "now" when deciding on it. */
  receivedAt: string;
  schemaVersion: number;
  [key: string]: unknown;
}

export interface DomainEvent<Type extends string = string, Data = unknown> {
  id: string;
  type: Type;
  data: Data;
  metadata: DomainEventMetadata;
  stream?: string;
  position?: number;
}
