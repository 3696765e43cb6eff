/**
 * Scheduled broadcasts: scenarios triggered by `schedule` enrol the members of a segment when an
 * occurrence comes due for them (with `localTime`, at that time in each member's own zone), if they
 * were members by then. Each
 * member's enrolment cause is derived from scenario, version, occurrence and person, so running a
 * tick twice (or after a restart) enrols nobody twice; the engine's entry rules still apply.
 */
import { dueOccurrence, resolveTimeZone } from '@herald/projections';
import type { Clock } from '../shared/clock';
import { uuidv5 } from '../shared/ids';
import type { SegmentQueries } from '../segments/segment-queries';
import type { WorkspacesService } from '../workspaces/workspaces.service';
import type { ScenarioEngine } from './scenario-engine';

export class Broadcasts {
  /** Members already handled per scenario version and occurrence (an optimisation; causes are idempotent). */
  private readonly done = new Map<string, { occurrence: string; persons: Set<string> }>();
  private timer?: NodeJS.Timeout;
  private running?: Promise<number>;

  constructor(
    private readonly engine: ScenarioEngine,
    private readonly segments: SegmentQueries,
    private readonly workspaces: WorkspacesService,
    private readonly clock: Clock,
  ) {}

  start(intervalMs = 30_000): void {
    this.timer = setInterval(() => void this.tick().catch(() => undefined), intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.running;
  }

  /** Enrols every member whose occurrence is due at the clock's now; returns how many were handled. */
  tick(): Promise<number> {
    this.running ??= this.run().finally(() => (this.running = undefined));
    return this.running;
  }

  private async run(): Promise<number> {
    const now = this.clock.now().getTime();
    let handled = 0;
    for (const { id: workspace } of this.workspaces.list()) {
      const catalog = await this.engine.catalogOf(workspace);
      const settings = await this.engine.settingsOf(workspace);
      for (const entry of catalog.entries.values()) {
        const latest = entry.versions.at(-1)!;
        const trigger = latest.definition.trigger;
        if (entry.status !== 'active' || !('schedule' in trigger)) continue;
        const publishedAt = Date.parse(latest.publishedAt);
        const doneKey = `${workspace}|${entry.id}|${latest.version}`;
        for (const { person, since } of this.segments.allMembers(workspace, trigger.schedule.segment)) {
          const traits = this.segments.record(workspace, person)?.profile.traits ?? {};
          const zone = resolveTimeZone(settings, typeof traits.timezone === 'string' ? traits.timezone : undefined);
          const occurrence = dueOccurrence(trigger.schedule, publishedAt, now, zone, settings.timezone ?? 'UTC');
          // An occurrence goes to those who were members when it came due: someone who joins the
          // segment in June is not sent March's one-off broadcast, nor yesterday's daily one at 03:00.
          if (!occurrence || since > occurrence.dueAt) continue;
          let done = this.done.get(doneKey);
          if (!done || done.occurrence !== occurrence.key) {
            done = { occurrence: occurrence.key, persons: new Set() };
            this.done.set(doneKey, done);
          }
          if (done.persons.has(person)) continue;
          const id = uuidv5(`schedule|${workspace}|${entry.id}|${latest.version}|${occurrence.key}|${person}`);
          await this.engine.decideAndAppend(
            workspace,
            person,
            { kind: 'schedule', id, scenarioId: entry.id, properties: { occurrence: occurrence.key, scheduledAt: new Date(occurrence.dueAt).toISOString() } },
            now,
            { id, receivedAt: new Date(now).toISOString() },
          );
          done.persons.add(person);
          handled += 1;
        }
      }
    }
    return handled;
  }
}
