import type { Channel } from '@herald/projections';
import type { RenderedContent } from './channel.port';

export interface RenderRequest {
  workspace: string;
  channel: Channel;
  /** Template id in the workspace's templates. */
  template: string;
  /** The scenario step's subject (a Liquid template too); overrides the template's own. */
  subject?: string;
  variables: {
    user: Record<string, unknown>;
    event: Record<string, unknown>;
    trigger: Record<string, unknown>;
    message: { id: string; unsubscribe_url?: string; preferences_url?: string };
  };
}

export interface MessageRenderer {
  render(request: RenderRequest): Promise<RenderedContent>;
}

/** A message that cannot be rendered is failed with this reason; nothing half-rendered is sent. */
export class RenderError extends Error {
  constructor(
    message: string,
    readonly reason: 'template_missing' | 'missing_variable' | 'template_invalid',
  ) {
    super(message);
    this.name = 'RenderError';
  }
}
