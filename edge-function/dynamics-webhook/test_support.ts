// Shared by the unit tests: a RemoteExecutionContext as Dataverse posts it, a configuration, and
// a sink that keeps rows in memory.

import type { Config } from "./config.ts";
import type { EventRow, EventSink } from "./handler.ts";

/** A Create of an account, shaped like a Dataverse webhook body (fields trimmed to the useful ones). */
export function context(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    BusinessUnitId: "3a277578-5996-e711-80e4-00155d0e1e16",
    CorrelationId: "b374239d-4233-41a9-8b17-a3d1d8e2f1a1",
    Depth: 1,
    InitiatingUserId: "75c2dc7c-26b1-4f8d-9f6e-8d4a0e1d1e2f",
    InputParameters: [{
      key: "Target",
      value: {
        __type: "Entity:http://schemas.microsoft.com/xrm/2011/Contracts",
        Attributes: [{ key: "name", value: "Contoso" }],
        Id: "fd8f8d3a-9a1c-4c4e-8c61-1ad3b8a7d0c9",
        LogicalName: "account",
      },
    }],
    IsExecutingOffline: false,
    MessageName: "Create",
    Mode: 1,
    OperationCreatedOn: "/Date(1764460800000)/",
    OperationId: "c1e4f2a0-1b2c-4d3e-9f40-5a6b7c8d9e0f",
    OrganizationId: "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
    OrganizationName: "contoso",
    OutputParameters: [],
    OwningExtension: {
      Id: "2b3c4d5e-6f70-4182-93a4-b5c6d7e8f901",
      LogicalName: "sdkmessageprocessingstep",
    },
    PostEntityImages: [],
    PreEntityImages: [],
    PrimaryEntityId: "fd8f8d3a-9a1c-4c4e-8c61-1ad3b8a7d0c9",
    PrimaryEntityName: "account",
    RequestId: "9c7d4e2b-3f1a-4b5c-8d6e-7f8091a2b3c4",
    SecondaryEntityName: "none",
    SharedVariables: [],
    Stage: 40,
    UserId: "75c2dc7c-26b1-4f8d-9f6e-8d4a0e1d1e2f",
    ...overrides,
  };
}

export function config(overrides: Partial<Config> = {}): Config {
  return {
    databaseUrl: "postgres://unused",
    keys: ["current-key", "previous-key"],
    keyHeader: "x-webhook-key",
    keyQueryParam: "code",
    maxBodyBytes: 64 * 1024,
    messages: new Set(["create", "update", "delete"]),
    entities: new Set(),
    rateLimitPerMinute: 0,
    functionName: "dynamics-webhook",
    recordLifecycle: false,
    pgmqQueue: null,
    ...overrides,
  };
}

/** Rows in memory, with the duplicate rule of the real table (event_id is unique). */
export class MemorySink implements EventSink {
  rows: EventRow[] = [];
  queue: { orgId: string; eventId: string }[] = [];
  failAccept = false;

  accept(row: EventRow): Promise<"accepted" | "duplicate"> {
    if (this.failAccept) return Promise.reject(new Error("sync_queue is not writable"));
    if (this.rows.some((r) => r.eventId === row.eventId)) return Promise.resolve("duplicate");
    this.rows.push(row);
    this.queue.push({ orgId: row.orgId, eventId: row.eventId });
    return Promise.resolve("accepted");
  }

  record(row: EventRow): Promise<void> {
    this.rows.push(row);
    return Promise.resolve();
  }
}
