/**
 * The intake of mail reports (complaints and asynchronous bounces) past the HTTP edge: finds the
 * person and message the report is about, decides (feedback.ts) and appends. The intake URL is
 * signed per workspace, and the original message must carry Herald's signed unsubscribe link for
 * that workspace and message, so neither a stranger nor another workspace can record a complaint.
 */
import { personStream } from '@herald/projections';
import type { EventStore, NewEvent } from '../../event-store/event-store.port';
import type { Clock } from '../../shared/clock';
import { derivedEventId } from '../../shared/ids';
import type { LinkSigner } from '../link-signer';
import { decideFeedback, UnknownMessageError } from './feedback';
import { MalformedReportError, parseMailReport } from './feedback-report';

export const FEEDBACK_PATH = '/api/webhooks/email/feedback';

export interface FeedbackResult {
  kind: 'feedback' | 'delivery-status';
  messageId: string;
  /** Events newly appended (0 for a report seen before). */
  recorded: number;
  types: string[];
  ignored?: string;
}

export class EmailFeedback {
  constructor(
    private readonly store: EventStore,
    private readonly links: LinkSigner,
    private readonly clock: Clock,
  ) {}

  /** The URL to give the relay or feedback-loop processor for a workspace. */
  intakeUrl(workspace: string): string {
    return this.links.url(FEEDBACK_PATH, { k: 'f', w: workspace, p: '' });
  }

  /** The workspace a signed intake token is for, or undefined. */
  workspaceOf(token: string): string | undefined {
    const payload = this.links.verify(token, this.seconds());
    return payload?.k === 'f' && typeof payload.w === 'string' ? payload.w : undefined;
  }

  async record(workspace: string, raw: Buffer): Promise<FeedbackResult> {
    const report = await parseMailReport(raw, hostOf(this.links.baseUrl));
    const { heraldMessageId, unsubscribeToken } = report.original;
    if (!heraldMessageId) {
      throw new MalformedReportError('The original message has no X-Herald-Message-Id header and no Message-ID written by this Herald');
    }
    const link = unsubscribeToken ? this.links.verify(unsubscribeToken, this.seconds()) : undefined;
    if (link?.k !== 'u' || typeof link.p !== 'string' || typeof link.m !== 'string') {
      throw new MalformedReportError("The original message has no valid List-Unsubscribe link of this Herald, so whose message it was is unknown");
    }
    if (link.m !== heraldMessageId) {
      throw new MalformedReportError(`The original's List-Unsubscribe link is for message ${link.m}, not ${heraldMessageId}`);
    }
    if (link.w !== workspace) throw new UnknownMessageError(`Message ${heraldMessageId} was not sent by workspace ${workspace}`);
    const stream = personStream(workspace, link.p);
    const decision = decideFeedback(report, heraldMessageId, await this.store.readStream(stream));
    if (decision.kind === 'ignored') return { kind: report.kind, messageId: heraldMessageId, recorded: 0, types: [], ignored: decision.reason };
    const now = this.clock.now().toISOString();
    const cause = `email-report|${workspace}|${heraldMessageId}`;
    const events: NewEvent[] = decision.changes.map((change) => ({
      id: derivedEventId(cause, 'email-feedback', change.key),
      type: change.type,
      data: change.data,
      metadata: { workspace, occurredAt: now, receivedAt: now, schemaVersion: 1 },
    }));
    const result = await this.store.append(stream, events);
    return { kind: report.kind, messageId: heraldMessageId, recorded: result.appended, types: decision.changes.map((change) => change.type) };
  }

  private seconds(): number {
    return Math.floor(this.clock.now().getTime() / 1000);
  }
}

function hostOf(baseUrl: string): string {
  try {
    return new URL(baseUrl).hostname || 'localhost';
  } catch {
    return 'localhost';
  }
}
