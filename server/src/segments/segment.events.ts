/** Events of segment definitions (stream `segments-{workspace}`) and memberships (on the person's stream). */
import type { SegmentDefinition } from '@herald/projections';

export const SEGMENT_DEFINED = 'SegmentDefined';
export const SEGMENT_DELETED = 'SegmentDeleted';
export const SEGMENT_ENTERED = 'SegmentEntered';
export const SEGMENT_EXITED = 'SegmentExited';
export const TIMER_FIRED = 'TimerFired';

export interface SegmentDefinedData {
  definition: SegmentDefinition;
  version: number;
}

export interface SegmentDeletedData {
  segmentId: string;
  version: number;
}

export interface SegmentMembershipData {
  segmentId: string;
  /** Version of the definition the decision was made with. */
  version: number;
  /** The identity key of the person (`user:<id>` or `anon:<id>`). */
  person: string;
}

export interface SegmentExitedData extends SegmentMembershipData {
  reason: 'conditions' | 'segment_deleted' | 'merged_into_user';
}

/** A durable timer that came due; `purpose` says which reactor asked for it. */
export interface TimerFiredData {
  purpose: 'segments';
  person: string;
  dueAt: string;
}
