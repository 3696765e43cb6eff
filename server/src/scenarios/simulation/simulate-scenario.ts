/**
 * Runs a draft scenario over the recorded history in a sandbox and reports what it would have done.
 * Nothing is sent and nothing is appended: the log is only read, and every decision lives in a
 * `ScenarioSimulator`, the in-memory engine that runs the server's own `decide` and fires timers in
 * time order. Used by `herald simulate` (cli/simulate.command.ts) and `POST /api/scenarios/simulate`
 * (on a thread of its own: simulation-thread.ts).
 *
 * How history is replayed:
 * - The log is read from its start, in log order. Each event of a person stream (`user-…`,
 *   `anon-…`) of the workspace with `receivedAt <= to` goes to that person's state; the simulated
 *   clock is first advanced to its `receivedAt`, so the draft's timers fire in order between events.
 * - The draft is the only scenario in the simulator's catalog, and its trigger is gated by time:
 *   the catalog lists it only while the event being handled was received within [from, to]. Events
 *   before `from` still fold into the person's state (traits, counters, subscriptions, caps) but
 *   enrol nobody.
 * - The real engine's decisions in the log (`EnrollmentStarted`, `MessageQueued`... of other
 *   scenarios) and the real `TimerFired` events are folded without deciding on them, so the
 *   messages other scenarios queued count against the caps. Decisions recorded for a scenario with
 *   the draft's own id are left out: the draft stands in for that scenario in the simulation.
 * - An `IdentityLinked` event moves the linked identity's active enrolments in the draft to the
 *   user, with the engine's own merge decisions (`ScenarioSimulator.handle`).
 * - Messaging settings are those in force at each moment, as the live engine uses them: each
 *   `MessagingSettingsUpdated` on `settings-{workspace}` applies from its place in the log on.
 *   `settings` (`--settings <file>`) replaces them for the whole run.
 * - After the last event the clock is advanced to `to`; enrolments still waiting then are reported
 *   as running.
 */
import {
  type DomainEvent,
  evolvePersonState,
  type MessagingSettings,
  maxCapWindowMs,
  NO_SETTINGS,
  parseInstant,
  personKeyOfStream,
  type PersonStateOptions,
  SCENARIO_DECISION_TYPES,
  type ScenarioCatalogView,
  type ScenarioDefinition,
  ScenarioSimulator,
  settingsStream,
  type SuppressionReason,
} from '@herald/projections';
import type { EventStore, RecordedEvent } from '../../event-store/event-store.port';
import { MESSAGING_SETTINGS_UPDATED, type MessagingSettingsUpdatedData } from '../../settings/messaging-settings.service';
import { branchCounterSpecs } from '../person-states';

const PAGE = 5000;
const DAY_MS = 86_400_000;
const DECISION_TYPES = new Set<string>(SCENARIO_DECISION_TYPES);
export const SUPPRESSION_REASONS: SuppressionReason[] = ['frequency_cap', 'quiet_hours', 'unsubscribed', 'holdout'];

/**
 * A window's bound, as `--from` / `--to` or `?from=` / `?to=` give it: an ISO 8601 date or date-time,
 * UTC without an offset; a bare date means the whole day (`to` is its last millisecond). Undefined
 * when it is neither.
 */
export function windowBound(which: 'from' | 'to', value: string): number | undefined {
  const text = value.trim();
  const instant = parseInstant(text);
  if (instant === undefined) return undefined;
  return which === 'to' && /^\d{4}-\d{2}-\d{2}$/.test(text) ? instant + DAY_MS - 1 : instant;
}

/**
 * The simulation replays recorded events, so only `event` and `segment` triggers find any: a
 * broadcast or an API-triggered draft would report nobody enrolled, which reads as a result. Such a
 * draft is refused, with the path of its trigger.
 */
export function unsimulatedTrigger(definition: ScenarioDefinition): { path: string; message: string } | undefined {
  const trigger = definition.trigger;
  if ('schedule' in trigger) {
    return { path: 'trigger.schedule', message: 'a scheduled broadcast cannot be simulated: the simulation replays recorded events, and only event and segment triggers are among them' };
  }
  if ('api' in trigger) {
    return { path: 'trigger.api', message: 'an API-triggered scenario cannot be simulated: the simulation replays recorded events, and only event and segment triggers are among them' };
  }
  return undefined;
}

/** `from` is after `to`: there is no window to simulate. */
export class SimulationWindowError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SimulationWindowError';
  }
}

export interface SimulateOptions {
  workspace: string;
  /** Epoch ms, inclusive: triggers received from here on enrol. */
  from: number;
  /** Epoch ms, inclusive: history is read up to here, and the clock stops here. */
  to: number;
  /** Replaces the settings recorded in the log for the whole run. */
  settings?: MessagingSettings;
  /** Called after each page of the log read: the last position read, and the head the run stops at. */
  onProgress?: (position: number, head: number) => void;
}

export interface VariantReport {
  /** A variant key, `holdout`, or `default` for a step with a holdout and a single template. */
  key: string;
  /** Enrolments that reached the step and were assigned this variant (the exposures). */
  assigned: number;
  queued: number;
  /** Quiet-hours deferrals (the message is retried when quiet hours end). */
  deferred: number;
  suppressed: Record<SuppressionReason, number>;
  /** Enrolments assigned this variant whose goal was reached within the goal window (up to `to`). */
  goals: number;
  /** goals / assigned; null when nobody was assigned. */
  conversionRate: number | null;
}

export interface StepReport {
  stepId: string;
  channel: string;
  /** Messages this step decided on (queued, suppressed or deferred; a deferred one counts once). */
  reached: number;
  queued: number;
  deferred: number;
  suppressed: Record<SuppressionReason, number>;
  /** Empty for a step that is not an A/B test and has no holdout. */
  variants: VariantReport[];
}

export interface SimulationReport {
  scenario: { id: string; name: string };
  workspace: string;
  from: string;
  to: string;
  settings: {
    source: 'log' | 'file';
    /** The settings in force at `to`. */
    inForce: MessagingSettings;
    /** From the log: the versions in force at some moment of [from, to], oldest first (0 = none saved). */
    versions?: number[];
  };
  history: { events: number; persons: number };
  entries: number;
  enrolledPersons: number;
  steps: StepReport[];
  /** `quiet_hours` counts deferrals: those messages are held, not dropped. */
  suppressions: Record<SuppressionReason, number>;
  goals: { reached: number; rate: number | null };
  exits: Record<string, number>;
  running: { total: number; byStep: Record<string, number> };
}

// Inputs


/** The draft alone, listed as a trigger only while `open()` says the event at hand is in the window. */
function gatedCatalog(definition: ScenarioDefinition, open: () => boolean): ScenarioCatalogView {
  const entry = { definition, version: 1, status: 'active' as const };
  return {
    current: () => (open() ? [entry] : []),
    version: (id, version) => (id === definition.id && version === 1 ? definition : undefined),
    latest: (id) => (id === definition.id ? entry : undefined),
  };
}

function settingsOf(event: RecordedEvent): { settings: MessagingSettings; version: number } {
  const data = event.data as MessagingSettingsUpdatedData;
  return { settings: data.settings ?? NO_SETTINGS, version: data.version ?? 0 };
}

function replaceSettings(target: MessagingSettings, source: MessagingSettings): void {
  target.caps = source.caps;
  target.quietHours = source.quietHours;
  target.timezone = source.timezone;
}

const zeroReasons = (): Record<SuppressionReason, number> => ({ frequency_cap: 0, quiet_hours: 0, unsubscribed: 0, holdout: 0 });

export async function simulateScenario(store: EventStore, definition: ScenarioDefinition, options: SimulateOptions): Promise<SimulationReport> {
  const { workspace, from, to } = options;
  if (from > to) throw new SimulationWindowError(`from (${new Date(from).toISOString()}) is after to (${new Date(to).toISOString()})`);
  const head = await store.headPosition();

  // The settings object and the options are handed to the simulator once and changed in place as
  // the log's settings change: the simulator passes the same objects to `decide` every time.
  const settings: MessagingSettings = { caps: [] };
  const recorded = options.settings
    ? []
    : (await store.readStream(settingsStream(workspace))).filter(
        (event) => event.type === MESSAGING_SETTINGS_UPDATED && event.position <= head && Date.parse(event.metadata.receivedAt) <= to,
      );
  const windows = (options.settings ? [options.settings] : recorded.map((event) => settingsOf(event).settings)).map(maxCapWindowMs);
  const personOptions: PersonStateOptions = {
    specs: branchCounterSpecs([definition]),
    capWindowMs: Math.max(DAY_MS, ...windows),
  };
  const apply = (next: MessagingSettings) => {
    replaceSettings(settings, next);
    personOptions.timezone = next.timezone;
  };
  apply(options.settings ?? NO_SETTINGS);
  // The versions in force at some moment of the window: the one at its start, then each change in it.
  const before = recorded.filter((event) => Date.parse(event.metadata.receivedAt) < from);
  const versions = [
    before.length > 0 ? settingsOf(before[before.length - 1]).version : 0,
    ...recorded.slice(before.length).map((event) => settingsOf(event).version),
  ];

  let windowOpen = false;
  const simulator = new ScenarioSimulator(gatedCatalog(definition, () => windowOpen), settings, personOptions);

  let events = 0;
  let clock = Number.NEGATIVE_INFINITY;
  // Also when the clock is there already: a decision made at an earlier moment (a segment change
  // decided at its timer's due time) may have scheduled a timer that is due by now, which the live
  // engine fires at once.
  const advance = (until: number) => {
    clock = Math.max(clock, until);
    simulator.advanceTo(clock);
  };
  let position = 0;
  while (position <= head) {
    const page = await store.readAll({ fromPosition: position, maxCount: PAGE });
    if (page.length === 0) break;
    for (const event of page) {
      if (event.position > head) break;
      if (event.metadata.workspace !== workspace) continue;
      const receivedAt = Date.parse(event.metadata.receivedAt);
      if (!(receivedAt <= to)) continue;
      if (event.type === MESSAGING_SETTINGS_UPDATED && event.stream === settingsStream(workspace)) {
        if (options.settings) continue;
        // Timers due before the change run under the settings they were due under.
        advance(receivedAt);
        apply(settingsOf(event).settings);
        continue;
      }
      const person = personKeyOfStream(event.stream);
      if (!person) continue;
      events += 1;
      advance(receivedAt);
      const data = event.data as { scenarioId?: unknown } | undefined;
      if (DECISION_TYPES.has(event.type)) {
        // The real engine's decisions: the draft replaces its own scenario, the others count (caps).
        if (data?.scenarioId === definition.id) continue;
        foldOnly(simulator, person, event, personOptions);
      } else if (event.type === 'TimerFired') {
        foldOnly(simulator, person, event, personOptions);
      } else {
        windowOpen = receivedAt >= from;
        // At the moment the live engine decides on it: a segment change caused by a timer at its due time.
        simulator.handle(person, event as DomainEvent);
        windowOpen = false;
      }
    }
    position = page[page.length - 1].position + 1;
    options.onProgress?.(Math.min(position - 1, head), head);
  }
  advance(to);
  return report(definition, simulator, {
    workspace,
    from,
    to,
    events,
    settings: options.settings
      ? { source: 'file', inForce: options.settings }
      : { source: 'log', inForce: { ...settings }, versions },
  });
}

/** Folds an event of the log into the person's state without letting the engine decide on it. */
function foldOnly(simulator: ScenarioSimulator, person: string, event: RecordedEvent, options: PersonStateOptions): void {
  simulator.persons.set(person, evolvePersonState(simulator.stateOf(person), event as DomainEvent, options));
}

// The report

function report(
  definition: ScenarioDefinition,
  simulator: ScenarioSimulator,
  run: { workspace: string; from: number; to: number; events: number; settings: SimulationReport['settings'] },
): SimulationReport {
  const steps = new Map<string, StepReport & { messages: Set<string> }>();
  for (const step of definition.steps) {
    if (!('send' in step)) continue;
    const variants: VariantReport[] = [];
    const variant = (key: string): VariantReport => ({ key, assigned: 0, queued: 0, deferred: 0, suppressed: zeroReasons(), goals: 0, conversionRate: null });
    if (step.send.variants) variants.push(...step.send.variants.map((v) => variant(v.key)));
    else if (step.send.holdout) variants.push(variant('default'));
    if (step.send.holdout) variants.push(variant('holdout'));
    steps.set(step.id, {
      stepId: step.id,
      channel: step.send.channel,
      reached: 0,
      queued: 0,
      deferred: 0,
      suppressed: zeroReasons(),
      variants,
      messages: new Set(),
    });
  }
  const variantOf = (stepId: string, key: unknown) => steps.get(stepId)?.variants.find((v) => v.key === key);

  const suppressions = zeroReasons();
  const exits: Record<string, number> = {};
  const persons = new Set<string>();
  let entries = 0;
  let goals = 0;
  for (const event of simulator.log) {
    const data = event.data as Record<string, unknown> & { stepId?: string; messageId?: string; variant?: string };
    const step = data.stepId !== undefined ? steps.get(data.stepId) : undefined;
    switch (event.type) {
      case 'EnrollmentStarted':
        entries += 1;
        persons.add(event.person);
        break;
      case 'EnrollmentExited': {
        const reason = String(data.reason);
        exits[reason] = (exits[reason] ?? 0) + 1;
        break;
      }
      case 'VariantAssigned': {
        const variant = variantOf(data.stepId!, data.variant);
        if (variant) variant.assigned += 1;
        break;
      }
      case 'MessageQueued':
        if (!step) break;
        step.messages.add(data.messageId!);
        step.queued += 1;
        if (variantOf(step.stepId, data.variant)) variantOf(step.stepId, data.variant)!.queued += 1;
        break;
      case 'MessageDeferred':
        suppressions.quiet_hours += 1;
        if (!step) break;
        step.messages.add(data.messageId!);
        step.deferred += 1;
        step.suppressed.quiet_hours += 1;
        {
          // A deferral does not name the variant; the enrolment's assignment does.
          const key = simulator.stateOf(event.person).enrollments[String(data.enrollmentId)]?.variants[step.stepId];
          const variant = variantOf(step.stepId, key);
          if (variant) {
            variant.deferred += 1;
            variant.suppressed.quiet_hours += 1;
          }
        }
        break;
      case 'MessageSuppressed': {
        const reason = data.reason as SuppressionReason;
        suppressions[reason] = (suppressions[reason] ?? 0) + 1;
        if (!step) break;
        step.messages.add(data.messageId!);
        step.suppressed[reason] = (step.suppressed[reason] ?? 0) + 1;
        const variant = variantOf(step.stepId, data.variant);
        if (variant) variant.suppressed[reason] = (variant.suppressed[reason] ?? 0) + 1;
        break;
      }
      case 'GoalReached': {
        goals += 1;
        for (const [stepId, key] of Object.entries((data.variants ?? {}) as Record<string, string>)) {
          const variant = variantOf(stepId, key);
          if (variant) variant.goals += 1;
        }
        break;
      }
    }
  }

  const running: SimulationReport['running'] = { total: 0, byStep: {} };
  for (const state of simulator.persons.values()) {
    for (const enrollment of Object.values(state.enrollments)) {
      if (enrollment.scenarioId !== definition.id || enrollment.status !== 'active') continue;
      // Only the draft's own enrolments: those the simulation started (the real ones of its id were left out).
      running.total += 1;
      const at = enrollment.step ?? '(between steps)';
      running.byStep[at] = (running.byStep[at] ?? 0) + 1;
    }
  }

  return {
    scenario: { id: definition.id, name: definition.name },
    workspace: run.workspace,
    from: new Date(run.from).toISOString(),
    to: new Date(run.to).toISOString(),
    settings: run.settings,
    history: { events: run.events, persons: simulator.persons.size },
    entries,
    enrolledPersons: persons.size,
    steps: [...steps.values()].map(({ messages, ...step }) => ({
      ...step,
      reached: messages.size,
      variants: step.variants.map((v) => ({ ...v, conversionRate: v.assigned > 0 ? v.goals / v.assigned : null })),
    })),
    suppressions,
    goals: { reached: goals, rate: entries > 0 ? goals / entries : null },
    exits,
    running,
  };
}

// Output

