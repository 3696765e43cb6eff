/**
 * What AppModule registers for email. The tracking endpoints are always there (links in emails sent
 * earlier keep working); `EmailAdapter` only when SMTP_URL is set, else email goes to the sandbox.
 * Needs `LinkSigner`, `EVENT_STORE` and `CLOCK` from the module.
 */
import type { Provider, Type } from '@nestjs/common';
import type { HeraldConfig } from '../../config';
import { LinkSigner } from '../link-signer';
import { EmailAdapter } from './email.adapter';
import { TrackingController } from './tracking.controller';

export function emailControllers(): Type[] {
  return [TrackingController];
}

export function emailProviders(config: HeraldConfig): Provider[] {
  const email = config.channels.email;
  if (!email) return [];
  return [{ provide: EmailAdapter, useFactory: (links: LinkSigner) => new EmailAdapter(email, links), inject: [LinkSigner] }];
}
