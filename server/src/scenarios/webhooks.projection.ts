/**
 * The webhook worker: makes the HTTP call of every `WebhookRequested` in the log, retrying failed
 * attempts (network errors, 5xx, 429) with exponential backoff up to the step's `retries`, and
 * records `WebhookSucceeded` or `WebhookFailed` on the person's stream. The outcome's id is derived
 * from the request, so it is recorded once; the call itself is at-least-once (a crash after the call
 * but before the record repeats it), which is why every call carries `Idempotency-Key: <requestId>`.
 */
import type { WebhookRequested } from '@herald/projections';
import type { RecordedEvent } from '../event-store/event-store.port';
import type { HostedProjection, PlannedAppend } from '../projection-runner/projection-runner';
import { derivedEventId } from '../shared/ids';

export const WEBHOOKS = 'webhooks';

export interface WebhookOptions {
  /** Delay before the first retry; doubled each time (capped at 30 s). */
  retryBaseMs?: number;
  timeoutMs?: number;
  fetch?: typeof fetch;
}

export class WebhooksProjection implements HostedProjection {
  readonly name = WEBHOOKS;
  readonly filter = { eventTypes: ['WebhookRequested'] };

  constructor(private readonly options: WebhookOptions = {}) {}

  setup(): void {}
  reset(): void {}

  async handle(event: RecordedEvent): Promise<PlannedAppend[]> {
    const request = event.data as WebhookRequested;
    const outcome = await this.call(request);
    return [
      {
        stream: event.stream,
        events: [
          {
            id: derivedEventId(event.id, 'webhook-outcome'),
            type: outcome.ok ? 'WebhookSucceeded' : 'WebhookFailed',
            data: { requestId: request.requestId, enrollmentId: request.enrollmentId, stepId: request.stepId, ...outcome.details },
            metadata: {
              workspace: event.metadata.workspace,
              causationId: event.id,
              correlationId: event.metadata.correlationId ?? event.id,
              occurredAt: new Date().toISOString(),
              receivedAt: event.metadata.receivedAt,
              schemaVersion: 1,
            },
          },
        ],
      },
    ];
  }

  private async call(request: WebhookRequested): Promise<{ ok: boolean; details: Record<string, unknown> }> {
    const doFetch = this.options.fetch ?? fetch;
    let last: { status?: number; error?: string } = {};
    let attempts = 0;
    for (let attempt = 0; attempt <= request.retries; attempt++) {
      attempts = attempt + 1;
      if (attempt > 0) await sleep(Math.min((this.options.retryBaseMs ?? 500) * 2 ** (attempt - 1), 30_000));
      try {
        const response = await doFetch(request.url, {
          method: request.method,
          headers: {
            ...(request.body === undefined ? {} : { 'content-type': 'application/json' }),
            ...request.headers,
            'idempotency-key': request.requestId,
            'user-agent': 'Herald-Webhook/1',
          },
          body: request.body === undefined ? undefined : JSON.stringify(request.body),
          signal: AbortSignal.timeout(this.options.timeoutMs ?? 10_000),
        });
        await response.arrayBuffer().catch(() => undefined);
        if (response.ok) return { ok: true, details: { status: response.status, attempts: attempt + 1 } };
        last = { status: response.status };
        // Client errors other than 408/429 will not get better by retrying.
        if (response.status < 500 && response.status !== 408 && response.status !== 429) break;
      } catch (error) {
        last = { error: (error as Error).message };
      }
    }
    return { ok: false, details: { ...last, attempts } };
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
