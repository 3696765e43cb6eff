/**
 * Workspaces and access. On first start with an empty log it creates the `default` workspace and an
 * admin token, printing each generated secret exactly once; only hashes are stored (in the log).
 */
import { ADMIN_STREAM, WORKSPACES_STREAM } from '@herald/projections';
import type { HeraldConfig } from '../config';
import type { EventStore, NewEvent } from '../event-store/event-store.port';
import type { Clock } from '../shared/clock';
import { uuidv7 } from '../shared/ids';
import { hashSecret, newSecret, sameHash } from '../shared/secrets';
import { evolveWorkspaces, initialWorkspacesState, type WorkspaceEvent, type WorkspacesState } from './workspace.events';

export const DEFAULT_WORKSPACE = 'default';
const MAX_ACCEPTED_WRITE_KEYS = 1000;

export interface FirstStartSecrets {
  writeKey?: string;
  adminToken?: string;
}

export class WorkspacesService {
  private state: WorkspacesState = initialWorkspacesState();
  private adminTokenHash?: string;
  /** Write keys already accepted: ingestion checks one per request, and hashing it each time showed in profiles. */
  private readonly acceptedWriteKeys = new Map<string, string>();

  constructor(
    private readonly store: EventStore,
    private readonly clock: Clock,
  ) {}

  /** Loads workspaces from the log, creating the defaults on first start; returns secrets generated now. */
  async bootstrap(config: Pick<HeraldConfig, 'adminToken' | 'defaultWriteKey'>): Promise<FirstStartSecrets> {
    await this.load();
    const generated: FirstStartSecrets = {};
    if (!this.state.workspaces.has(DEFAULT_WORKSPACE)) {
      const writeKey = config.defaultWriteKey ?? newSecret('wk');
      if (!config.defaultWriteKey) generated.writeKey = writeKey;
      await this.appendTo(WORKSPACES_STREAM, 'WorkspaceCreated', {
        workspace: DEFAULT_WORKSPACE,
        name: 'Default',
        writeKeyHash: hashSecret(writeKey),
      });
    } else if (config.defaultWriteKey && !this.state.workspaceByKeyHash.has(hashSecret(config.defaultWriteKey))) {
      // DEFAULT_WRITE_KEY changed: accept the new key as well (rotation without losing old senders).
      await this.appendTo(WORKSPACES_STREAM, 'WriteKeyAdded', {
        workspace: DEFAULT_WORKSPACE,
        writeKeyHash: hashSecret(config.defaultWriteKey),
      });
    }
    if (config.adminToken) {
      this.adminTokenHash = hashSecret(config.adminToken);
    } else {
      if (!this.state.adminTokenHash) {
        const token = newSecret('adm');
        generated.adminToken = token;
        await this.appendTo(ADMIN_STREAM, 'AdminTokenIssued', { tokenHash: hashSecret(token) });
      }
      this.adminTokenHash = this.state.adminTokenHash;
    }
    return generated;
  }

  workspaceForWriteKey(writeKey: string): string | undefined {
    const known = this.acceptedWriteKeys.get(writeKey);
    if (known !== undefined) return known;
    const workspace = this.state.workspaceByKeyHash.get(hashSecret(writeKey));
    // Only keys that were accepted, and few of them, so bad keys cannot grow it.
    if (workspace !== undefined && this.acceptedWriteKeys.size < MAX_ACCEPTED_WRITE_KEYS) this.acceptedWriteKeys.set(writeKey, workspace);
    return workspace;
  }

  exists(workspace: string): boolean {
    return this.state.workspaces.has(workspace);
  }

  list(): Array<{ id: string; name: string }> {
    return [...this.state.workspaces.values()];
  }

  isAdminToken(token: string): boolean {
    return this.adminTokenHash !== undefined && sameHash(hashSecret(token), this.adminTokenHash);
  }

  private async load(): Promise<void> {
    this.state = initialWorkspacesState();
    this.acceptedWriteKeys.clear();
    for (const stream of [WORKSPACES_STREAM, ADMIN_STREAM]) {
      for (const event of await this.store.readStream(stream)) {
        this.state = evolveWorkspaces(this.state, event as unknown as WorkspaceEvent);
      }
    }
  }

  private async appendTo(stream: string, type: WorkspaceEvent['type'], data: WorkspaceEvent['data']): Promise<void> {
    const now = this.clock.now().toISOString();
    const event: NewEvent = {
      id: uuidv7(),
      type,
      data,
      metadata: { workspace: DEFAULT_WORKSPACE, occurredAt: now, receivedAt: now, schemaVersion: 1 },
    };
    await this.store.append(stream, [event]);
    this.state = evolveWorkspaces(this.state, { type, data } as WorkspaceEvent);
    this.acceptedWriteKeys.clear();
  }
}
