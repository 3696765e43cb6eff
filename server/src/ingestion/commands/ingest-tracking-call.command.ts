import type { SegmentCallType } from '../segment/segment-message';

/** One request on the tracking API, already authenticated to a workspace. */
export class IngestTrackingCallCommand {
  constructor(
    readonly workspace: string,
    readonly kind: SegmentCallType | 'batch',
    readonly body: unknown,
  ) {}
}

export interface IngestTrackingCallResult {
  /** Messages accepted; a duplicate messageId is accepted but stored only once. */
  accepted: number;
}
