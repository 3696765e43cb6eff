import type { Channel } from '@herald/projections';
import type { ChannelAdapter, Contact, Delivery, SendResult } from './channel.port';

/**
 * The default for a channel with no provider configured: records the message as sent and sends
 * nothing. The message is still rendered, so a template that fails to render fails the message here too.
 */
export class SandboxAdapter implements ChannelAdapter {
  readonly provider = 'sandbox';
  readonly safeToRetry = true;

  constructor(readonly channel: Channel) {}

  address(contact: Contact): string {
    const traits = contact.traits;
    if (this.channel === 'email' && typeof traits.email === 'string') return traits.email;
    if ((this.channel === 'sms' || this.channel === 'whatsapp') && typeof traits.phone === 'string') return traits.phone;
    return 'sandbox';
  }

  async send(delivery: Delivery): Promise<SendResult> {
    return { providerMessageId: `sandbox:${delivery.messageId}` };
  }
}
