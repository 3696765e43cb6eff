/** Typed errors of the event log. Only the HTTP edge maps them to status codes. */

export class EventStoreError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

export class WrongExpectedRevisionError extends EventStoreError {
  constructor(
    readonly stream: string,
    readonly expected: string,
    readonly actual: number | 'no_stream',
  ) {
    super(`Stream ${stream}: expected revision ${expected}, actual ${actual}`);
  }
}

export class InvalidEventError extends EventStoreError {}

/** The store cannot be reached (KurrentDB down, database closed). */
export class EventStoreUnavailableError extends EventStoreError {}
