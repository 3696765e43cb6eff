/**
 * What the scenario engine knows about one person: a fold over their stream. It is the state the
 * engine decides on, and the person's stream revision is what it appends against, so two
 * concurrent decisions for one person can never both pass a frequency cap.
 */
import { type CapState, evolveCapState, initialCapState, type QueuedMessage } from '../messaging';
import type { DomainEvent } from '../events';
import { type CounterSpec, evolveProfile, mergeProfiles, newProfile, type Profile } from '../profiles';
import type {
  EnrollmentExited,
  EnrollmentMerged,
  EnrollmentStarted,
  GoalReached,
  PersonMerged,
  StepCompleted,
  TimerPurpose,
  TimerScheduled,
  TriggerInfo,
  VariantAssigned,
} from './scenario-events';
import { SCENARIO_DECISION_TYPES } from './scenario-events';

export interface EnrollmentState {
  id: string;
  scenarioId: string;
  version: number;
  startedAt: number;
  trigger: TriggerInfo;
  status: 'active' | 'exited';
  /** The step the enrolment is waiting at, if any. */
  step?: string;
  /** The timer it waits for (a wait, a waitFor timeout, a deferred send). */
  timer?: { id: string; purpose: TimerPurpose; dueAt: number };
  /** Step id -> assigned variant key or `holdout`. */
  variants: Record<string, string>;
  /** Step id -> how many times the step completed (for loops). */
  visits: Record<string, number>;
  goalReached: boolean;
}

export interface PersonState {
  person: string;
  profile: Profile;
  segments: string[];
  caps: CapState;
  enrollments: Record<string, EnrollmentState>;
  /** Per scenario: when the last enrolment started and how many there were. */
  starts: Record<string, { at: number; count: number }>;
  /** Ids of causes the engine has already decided on (recent ones), so a re-run decides nothing. */
  handled: string[];
}

export interface PersonStateOptions {
  specs?: CounterSpec[];
  capWindowMs?: number;
  timezone?: string;
}

const HANDLED_KEPT = 1000;
const DECISION_TYPES = new Set<string>(SCENARIO_DECISION_TYPES);

export function initialPersonState(person: string, at = 0): PersonState {
  return { person, profile: newProfile(person, at), segments: [], caps: initialCapState(), enrollments: {}, starts: {}, handled: [] };
}

/** Folds one event of the person's stream. Never mutates `state`. */
export function evolvePersonState(state: PersonState, event: DomainEvent, options: PersonStateOptions = {}): PersonState {
  const now = Date.parse(event.metadata.receivedAt);
  let next = state;
  const causation = event.metadata.causationId;
  if (DECISION_TYPES.has(event.type) && causation && !state.handled.includes(causation)) {
    next = { ...next, handled: [...next.handled.slice(-(HANDLED_KEPT - 1)), causation] };
  }
  switch (event.type) {
    case 'SegmentEntered': {
      const { segmentId } = event.data as { segmentId: string };
      return next.segments.includes(segmentId) ? next : { ...next, segments: [...next.segments, segmentId].sort() };
    }
    case 'SegmentExited': {
      const { segmentId } = event.data as { segmentId: string };
      return { ...next, segments: next.segments.filter((id) => id !== segmentId) };
    }
    case 'MessageQueued':
      return { ...next, caps: evolveCapState(next.caps, event, options.capWindowMs ?? 30 * 86_400_000) };
    case 'EnrollmentStarted': {
      const data = event.data as EnrollmentStarted;
      // The decision's moment (a timer's due time when a timer caused it), not when its cause arrived:
      // goal windows and `entry.reenter` count from it, in the server and in the simulator alike.
      const decided = Date.parse(event.metadata.occurredAt);
      const startedAt = Number.isNaN(decided) ? now : decided;
      const enrollment: EnrollmentState = {
        id: data.enrollmentId,
        scenarioId: data.scenarioId,
        version: data.version,
        startedAt,
        trigger: data.trigger,
        status: 'active',
        variants: {},
        visits: {},
        goalReached: false,
      };
      const previous = next.starts[data.scenarioId];
      return {
        ...next,
        enrollments: { ...next.enrollments, [data.enrollmentId]: enrollment },
        starts: { ...next.starts, [data.scenarioId]: { at: startedAt, count: (previous?.count ?? 0) + 1 } },
      };
    }
    case 'PersonMerged': {
      // Once per link: a copy of this decision (the simulator meeting the live engine's) changes nothing.
      const data = event.data as PersonMerged;
      if (causation !== undefined && state.handled.includes(causation)) return next;
      return {
        ...next,
        profile: mergeProfiles(next.profile, data.profile, options.specs ?? []),
        caps: { sent: mergeQueued(next.caps.sent, data.capped) },
        starts: mergeStarts(next.starts, data.starts),
      };
    }
    case 'EnrollmentMerged': {
      // An enrolment moved here from a linked identity: it goes on as it was there (its timer follows).
      const data = event.data as EnrollmentMerged;
      if (next.enrollments[data.enrollmentId]) return next;
      const startedAt = Date.parse(data.startedAt);
      const enrollment: EnrollmentState = {
        id: data.enrollmentId,
        scenarioId: data.scenarioId,
        version: data.version,
        startedAt,
        trigger: data.trigger,
        status: 'active',
        ...(data.step !== undefined ? { step: data.step } : {}),
        variants: data.variants,
        visits: data.visits,
        goalReached: data.goalReached,
      };
      const previous = next.starts[data.scenarioId];
      return {
        ...next,
        enrollments: { ...next.enrollments, [data.enrollmentId]: enrollment },
        starts: { ...next.starts, [data.scenarioId]: { at: Math.max(previous?.at ?? startedAt, startedAt), count: (previous?.count ?? 0) + 1 } },
      };
    }
    case 'TimerScheduled': {
      const data = event.data as TimerScheduled;
      return updateEnrollment(next, data.enrollmentId, (e) => ({
        ...e,
        step: data.stepId,
        timer: { id: data.timerId, purpose: data.purpose, dueAt: Date.parse(data.dueAt) },
      }));
    }
    case 'StepCompleted': {
      const data = event.data as StepCompleted;
      return updateEnrollment(next, data.enrollmentId, (e) => ({
        ...e,
        step: undefined,
        timer: undefined,
        visits: { ...e.visits, [data.stepId]: (e.visits[data.stepId] ?? 0) + 1 },
      }));
    }
    case 'VariantAssigned': {
      const data = event.data as VariantAssigned;
      return updateEnrollment(next, data.enrollmentId, (e) => ({ ...e, variants: { ...e.variants, [data.stepId]: data.variant } }));
    }
    case 'GoalReached':
      return updateEnrollment(next, (event.data as GoalReached).enrollmentId, (e) => ({ ...e, goalReached: true }));
    case 'EnrollmentExited':
      return updateEnrollment(next, (event.data as EnrollmentExited).enrollmentId, (e) => ({
        ...e,
        status: 'exited',
        step: undefined,
        timer: undefined,
      }));
    default: {
      const profile = evolveProfile(next.profile, event, options.specs ?? [], now, { timezone: options.timezone });
      return profile === next.profile ? next : { ...next, profile };
    }
  }
}

function updateEnrollment(state: PersonState, id: string, change: (e: EnrollmentState) => EnrollmentState): PersonState {
  const enrollment = state.enrollments[id];
  if (!enrollment) return state;
  return { ...state, enrollments: { ...state.enrollments, [id]: change(enrollment) } };
}

/** Two cap histories as one, in time order (the merged identity's first at equal times). */
function mergeQueued(ours: QueuedMessage[], theirs: QueuedMessage[]): QueuedMessage[] {
  if (theirs.length === 0) return ours;
  return [...theirs, ...ours].sort((a, b) => a.at - b.at);
}

/** Enrolment starts per scenario of two identities as one person's: the latest start, the counts added. */
function mergeStarts(ours: PersonState['starts'], theirs: PersonState['starts']): PersonState['starts'] {
  const merged = { ...ours };
  for (const [scenarioId, started] of Object.entries(theirs)) {
    const own = Object.hasOwn(merged, scenarioId) ? merged[scenarioId] : undefined;
    merged[scenarioId] = own ? { at: Math.max(own.at, started.at), count: own.count + started.count } : started;
  }
  return merged;
}
