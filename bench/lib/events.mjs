// The payloads every benchmark uses, so the HTTP bodies, the rows the server stores and the rows the
// raw baselines insert are the same size and shape.
import { requireDist } from './common.mjs';

export const WORKSPACE = 'default';
/** Distinct users the calls are spread over (one stream each on the server). */
export const USERS = 10_000;

const PROPERTIES = { plan: 'pro', amount: 42.5, currency: 'EUR', sku: 'sku-1234', page: '/checkout', coupon: null };

/** The body of one track call, as an SDK sends it. */
export function trackCall(n, runTag) {
  return {
    userId: `user-${n % USERS}`,
    event: 'Order Completed',
    properties: PROPERTIES,
    messageId: `${runTag}-${n}`,
  };
}

export function batchCall(n, size, runTag) {
  const batch = new Array(size);
  for (let i = 0; i < size; i++) batch[i] = { type: 'track', ...trackCall(n * size + i, runTag) };
  return { batch };
}

/**
 * The event the ingestion handler builds for `trackCall(n)` (see ingest-tracking-call.handler.ts,
 * toEvent, and parse-segment.ts, toMessage): same fields in the same order, so the same JSON sizes.
 */
export function trackedEvent(n, runTag, id) {
  const now = new Date().toISOString();
  const call = trackCall(n, runTag);
  return {
    stream: `user-${WORKSPACE}:${call.userId}`,
    event: {
      id,
      type: 'Tracked',
      data: {
        type: 'track',
        messageId: call.messageId,
        userId: call.userId,
        event: call.event,
        properties: call.properties,
        context: {},
        integrations: {},
        timestamp: now,
        receivedAt: now,
      },
      metadata: { workspace: WORKSPACE, correlationId: id, occurredAt: now, receivedAt: now, schemaVersion: 1 },
    },
  };
}

/** Event ids as the server makes them: uuidv7 for new facts, uuidv5 of (workspace, messageId) for ingested calls. */
export function idMaker(kind, runTag) {
  const { uuidv5, uuidv7 } = requireDist('shared/ids.js');
  if (kind === 'v7') return () => uuidv7();
  if (kind === 'v5') return (n) => uuidv5(`segment|${WORKSPACE}|${runTag}-${n}`);
  throw new Error(`unknown id kind ${kind}`);
}

/** `count` tracked events with ids of `kind`, made before any timing starts. */
export function makeEvents(count, kind, runTag) {
  const nextId = idMaker(kind, runTag);
  const events = new Array(count);
  for (let n = 0; n < count; n++) events[n] = trackedEvent(n, runTag, nextId(n));
  return events;
}
