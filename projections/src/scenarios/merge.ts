/**
 * What an identity link does to the engine's state. When `IdentityLinked` joins an identity (an
 * anonymous visitor, or an earlier user id) to a user, what the engine knew of the identity (traits,
 * counters, the messages its caps count) joins the user's state, and the identity's active
 * enrolments move to the user: they go on in the user's state, where the person's later events
 * arrive, and end where they were.
 * Two pure decisions, one per stream, both caused by the link (so their ids derive from it):
 * `decideMergeInto` for the user's stream first, then `decideMergeFrom` for the linked identity's.
 * Until the user's side is durable the enrolments stay active where they were, so a re-run after a
 * crash finds them again; an enrolment the user already has is not moved twice.
 */
import type { IdentityLink } from '../identity/identity';
import type { ScenarioCatalogView } from './decide';
import type { EnrollmentState, PersonState } from './person-state';
import type { Decision } from './scenario-events';

/** The engine's person keys a link joins: the linked identity (`from`) into the user; none for a self-link. */
export function linkedPersons(link: IdentityLink): { from: string; into: string } | undefined {
  const into = `user:${link.userId}`;
  if (link.key === into || !/^(anon|user):/.test(link.key)) return undefined;
  return { from: link.key, into };
}

/**
 * Decisions for the user's stream: what the engine knew of the linked identity (`PersonMerged`:
 * profile, cap history, enrolment starts), then its active enrolments that move, with their timers.
 * The starts carried leave out the moved enrolments, which their `EnrollmentMerged` counts.
 */
export function decideMergeInto(into: PersonState, from: PersonState, linkEventId: string, scenarios: ScenarioCatalogView): Decision[] {
  if (into.person === from.person || into.handled.includes(linkEventId)) return [];
  const moving = movingEnrollments(into, from, scenarios);
  const decisions: Decision[] = [
    {
      type: 'PersonMerged',
      key: `person|${from.person}`,
      data: { from: from.person, linkEventId, profile: from.profile, capped: from.caps.sent, starts: startsLeft(from, moving) },
    },
  ];
  for (const enrollment of moving) {
    decisions.push({
      type: 'EnrollmentMerged',
      key: `merge|${enrollment.id}`,
      data: {
        enrollmentId: enrollment.id,
        scenarioId: enrollment.scenarioId,
        version: enrollment.version,
        from: from.person,
        linkEventId,
        startedAt: new Date(enrollment.startedAt).toISOString(),
        trigger: enrollment.trigger,
        ...(enrollment.step !== undefined ? { step: enrollment.step } : {}),
        variants: enrollment.variants,
        visits: enrollment.visits,
        goalReached: enrollment.goalReached,
      },
    });
    if (enrollment.timer && enrollment.step !== undefined) {
      // A timer of its own on the user's stream (a new id: the old one may still fire where it was,
      // and finds the enrolment ended there), due when the old one was.
      decisions.push({
        type: 'TimerScheduled',
        key: `timer|${enrollment.id}|${enrollment.step}`,
        data: {
          timerId: `${enrollment.id}/${enrollment.step}/${linkEventId}`,
          enrollmentId: enrollment.id,
          scenarioId: enrollment.scenarioId,
          stepId: enrollment.step,
          purpose: enrollment.timer.purpose,
          dueAt: new Date(enrollment.timer.dueAt).toISOString(),
        },
      });
    }
  }
  return decisions;
}

/** The identity's active enrolments that move: not the user's already, nor a second one the user may not have. */
function movingEnrollments(into: PersonState, from: PersonState, scenarios: ScenarioCatalogView): EnrollmentState[] {
  const running = new Set(Object.values(into.enrollments).filter((e) => e.status === 'active').map((e) => e.scenarioId));
  return activeOf(from).filter((enrollment) => {
    if (into.enrollments[enrollment.id]) return false;
    // At most one active enrolment per user and scenario (unless the scenario allows more): the user's stays.
    const concurrent = scenarios.version(enrollment.scenarioId, enrollment.version)?.entry?.concurrent === true;
    if (running.has(enrollment.scenarioId) && !concurrent) return false;
    running.add(enrollment.scenarioId);
    return true;
  });
}

/** The identity's enrolment starts, without those that move: each `EnrollmentMerged` counts its own. */
function startsLeft(from: PersonState, moving: EnrollmentState[]): PersonState['starts'] {
  const starts = { ...from.starts };
  for (const { scenarioId } of moving) {
    const started = starts[scenarioId];
    if (started && started.count > 1) starts[scenarioId] = { ...started, count: started.count - 1 };
    else delete starts[scenarioId];
  }
  return starts;
}

/**
 * Decisions for the linked identity's stream, once the user's side is durable: each active
 * enrolment ends, as moved (the user has it now) or as a second one the user may not have.
 */
export function decideMergeFrom(from: PersonState, into: PersonState, linkEventId: string): Decision[] {
  if (into.person === from.person || from.handled.includes(linkEventId)) return [];
  return activeOf(from).map((enrollment) => ({
    type: 'EnrollmentExited',
    key: `exit|${enrollment.id}`,
    data: {
      enrollmentId: enrollment.id,
      scenarioId: enrollment.scenarioId,
      reason: into.enrollments[enrollment.id] ? 'merged_into_user' : 'merged_already_enrolled',
      ...(enrollment.step !== undefined ? { stepId: enrollment.step } : {}),
    },
  }));
}

function activeOf(state: PersonState): EnrollmentState[] {
  return Object.values(state.enrollments).filter((e) => e.status === 'active');
}
