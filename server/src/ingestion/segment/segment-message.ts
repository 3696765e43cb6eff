// A call received on Segment's HTTP Tracking API, validated and normalised: ids are strings,
// timestamps are UTC ISO strings and `timestamp` is corrected for the device's clock skew.

export type SegmentCallType = 'track' | 'identify' | 'page' | 'screen' | 'group' | 'alias';

export interface SegmentMessage {
  type: SegmentCallType;
  /** The client's, or a fresh one when the client sent none. */
  messageId: string;
  userId?: string;
  anonymousId?: string;
  /** track */
  event?: string;
  /** page, screen */
  name?: string;
  /** page, screen */
  category?: string;
  /** track, page, screen */
  properties?: Record<string, unknown>;
  /** identify, group */
  traits?: Record<string, unknown>;
  /** group */
  groupId?: string;
  /** alias */
  previousId?: string;
  /** The batch's context with the message's own merged over it; `{}` when neither was sent. */
  context: Record<string, unknown>;
  integrations: Record<string, unknown>;
  /** When the event happened: the device's time corrected for clock skew, or receivedAt. */
  timestamp: string;
  /** The device's time as sent (the client's `timestamp`, or `originalTimestamp`). */
  originalTimestamp?: string;
  /** The device's time when it sent the request (the message's, or the batch's). */
  sentAt?: string;
  receivedAt: string;
}

/** `path` is like "batch[3].event", "userId", or "" for the body itself. */
export interface SegmentProblem {
  path: string;
  message: string;
}

export type ParseResult =
  | { ok: true; messages: SegmentMessage[]; writeKey?: string }
  | {
      ok: false;
      status: 400 | 413;
      code: 'invalid_payload' | 'event_too_large';
      message: string;
      problems: SegmentProblem[];
      /** In a batch, the first element at fault. */
      index?: number;
    };
