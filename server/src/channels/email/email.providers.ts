/**
 * What AppModule registers for email. The tracking endpoints are always there (links in emails sent
 * earlier keep working), and so is the intake of complaint and bounce reports; `EmailAdapter` only
 * when SMTP_URL is set, else email goes to the sandbox.
 * Needs `LinkSigner`, `EVENT_STORE` and `CLOCK` from the module.
 */
import type { Provider, Type } from '@nestjs/common';
import type { HeraldConfig } from '../../config';
import { EVENT_STORE, type EventStore } from '../../event-store/event-store.port';
import { CLOCK, type Clock } from '../../shared/clock';
import { LinkSigner } from '../link-signer';
import { EmailAdapter } from './email.adapter';
import { EmailFeedbackController } from './feedback.controller';
import { EmailFeedback } from './feedback.service';
import { TrackingController } from './tracking.controller';

export function emailControllers(): Type[] {
  return [TrackingController];
}

/** The report intake; apart, because its URL endpoint for admins needs the workspaces (AdminGuard). */
export function emailReportControllers(): Type[] {
  return [EmailFeedbackController];
}

export function emailProviders(config: HeraldConfig): Provider[] {
  const email = config.channels.email;
  // Reports keep coming for mail sent earlier, so their intake is there with or without SMTP_URL.
  const feedback: Provider = {
    provide: EmailFeedback,
    useFactory: (store: EventStore, links: LinkSigner, clock: Clock) => new EmailFeedback(store, links, clock),
    inject: [EVENT_STORE, LinkSigner, CLOCK],
  };
  if (!email) return [feedback];
  return [feedback, { provide: EmailAdapter, useFactory: (links: LinkSigner) => new EmailAdapter(email, links), inject: [LinkSigner] }];
}
