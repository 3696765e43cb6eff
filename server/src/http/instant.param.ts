import { parseInstant } from '@herald/projections';
import { BadRequestError } from './http-errors';

/**
 * A query parameter holding a moment (`?at=`): an ISO 8601 date or date-time, UTC when it has no
 * offset, whatever the server's own time zone (not `Date.parse`, which reads an offset-less time in
 * it and takes text like "March 1, 2026" too). A 400 naming the parameter otherwise. `read` may
 * give a date its own meaning (a simulation's `to` is the end of a bare date).
 */
export function instantParam(name: string, value: unknown, read: (text: string) => number | undefined = (text) => parseInstant(text.trim())): number {
  const instant = typeof value === 'string' ? read(value) : undefined;
  if (instant === undefined) {
    const got = value === undefined ? 'nothing' : typeof value === 'string' ? `"${value.slice(0, 100)}"` : 'it more than once';
    throw new BadRequestError(`${name} must be an ISO 8601 date or date-time (UTC without an offset), e.g. 2026-03-01T09:30:00Z; got ${got}`, name);
  }
  return instant;
}
