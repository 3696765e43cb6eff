/** Errors that only the HTTP edge knows about. */
export class UnauthorizedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UnauthorizedError';
  }
}

export class NotFoundError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NotFoundError';
  }
}

export class BadRequestError extends Error {
  constructor(
    message: string,
    readonly path?: string,
  ) {
    super(message);
    this.name = 'BadRequestError';
  }
}

/** A definition (segment, settings, scenario) that does not validate; every problem names its path. */
export class InvalidDefinitionError extends Error {
  constructor(
    readonly kind: string,
    readonly problems: Array<{ path: string; message: string }>,
  ) {
    super(`Invalid ${kind}: ${problems.slice(0, 5).map((p) => (p.path ? `${p.path}: ${p.message}` : p.message)).join('; ')}${problems.length > 5 ? ` (and ${problems.length - 5} more)` : ''}`);
    this.name = 'InvalidDefinitionError';
  }
}

/** The request is valid but conflicts with the current state (e.g. deleting a segment others use). */
export class ConflictError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConflictError';
  }
}
