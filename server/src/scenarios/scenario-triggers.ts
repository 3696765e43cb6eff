/**
 * `POST /api/scenarios/:id/trigger`: enrols one user in an API-triggered scenario (receipts, password
 * resets). The Idempotency-Key becomes the cause id, so a retried call decides nothing new and gets
 * the first call's answer, read back from the log.
 */
import { personStream } from '@herald/projections';
import type { EventStore } from '../event-store/event-store.port';
import { ConflictError } from '../http/http-errors';
import type { IdentityService } from '../identity/identity.service';
import type { Clock } from '../shared/clock';
import { uuidv5 } from '../shared/ids';
import type { ScenarioCatalog } from './scenario-catalog';
import type { ScenarioEngine } from './scenario-engine';
import type { TriggerRequest } from './scenarios.controller';

export class ScenarioTriggers {
  constructor(
    private readonly engine: ScenarioEngine,
    private readonly catalog: ScenarioCatalog,
    private readonly store: EventStore,
    private readonly identity: IdentityService,
    private readonly clock: Clock,
  ) {}

  async trigger(workspace: string, scenarioId: string, idempotencyKey: string, request: TriggerRequest) {
    const entry = await this.catalog.get(workspace, scenarioId);
    const latest = entry.versions.at(-1)!;
    if (!('api' in latest.definition.trigger)) {
      throw new ConflictError(`Scenario ${scenarioId} is triggered by ${Object.keys(latest.definition.trigger)[0]}, not by the API`);
    }
    if (entry.status !== 'active') throw new ConflictError(`Scenario ${scenarioId} is ${entry.status}`);
    const person = this.personOf(workspace, request);
    const triggerId = uuidv5(`api|${workspace}|${scenarioId}|${idempotencyKey}`);
    const now = this.clock.now();
    await this.engine.decideAndAppend(
      workspace,
      person,
      { kind: 'api', id: triggerId, scenarioId, properties: request.properties },
      now.getTime(),
      { id: triggerId, receivedAt: now.toISOString() },
    );
    // Answer from the log, so a replay returns what the first call decided.
    const recent = await this.store.readStream(personStream(workspace, person), { direction: 'backwards', maxCount: 500 });
    const caused = recent.filter((event) => event.metadata.causationId === triggerId).reverse();
    const started = caused.find((event) => event.type === 'EnrollmentStarted');
    return {
      triggerId,
      enrollmentId: (started?.data as { enrollmentId?: string } | undefined)?.enrollmentId,
      decisions: caused.map((event) => ({ type: event.type, ...(event.data as object) })),
    };
  }

  private personOf(workspace: string, request: TriggerRequest): string {
    if (request.userId !== undefined) return `user:${this.identity.streamsOf(workspace, request.userId).userId}`;
    const { userId } = this.identity.streamsOf(workspace, request.anonymousId!);
    return userId === request.anonymousId ? `anon:${request.anonymousId}` : `user:${userId}`;
  }
}
