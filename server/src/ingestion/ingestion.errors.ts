import type { SegmentProblem } from './segment/segment-message';

/** A tracking call that does not follow Segment's spec. Nothing of it is stored. */
export class InvalidTrackingCallError extends Error {
  constructor(
    readonly status: 400 | 413,
    readonly code: string,
    message: string,
    readonly problems: SegmentProblem[],
    readonly index?: number,
  ) {
    super(message);
    this.name = 'InvalidTrackingCallError';
  }
}
