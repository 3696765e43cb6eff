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

  /** When the last reload for an unknown write key started (ingestion nodes only). */
  private lastReloadAt = Number.NEGATIVE_INFINITY;
  private reloading?: Promise<void>;

  constructor(
    private readonly store: EventStore,
    private readonly clock: Clock,
    /**
     * Another process may add write keys (an ingestion node's main process, on a DEFAULT_WRITE_KEY
     * rotation): an unknown key then rereads the log, at most this often (ms). Unset: never.
     */
    private readonly reloadUnknownKeysEveryMs?: number,
  ) {}

  /**
   * For an ingestion node, which writes nothing here: the workspaces as the log has them, which the
   * main process must have created.
   */
  async loadExisting(): Promise<void> {
    await this.load();
    if (this.state.workspaces.size === 0) {
      throw new Error('The event log has no workspace yet: start the main Herald process (HERALD_ROLE=all) on this log once before its ingestion nodes');
    }
  }

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

  /**
   * `workspaceForWriteKey` for a key it does not know, after rereading the workspaces from the log if
   * another process may have added keys and the last reread is old enough (bad keys cannot make
   * every request read the log).
   */
  async workspaceForUnknownWriteKey(writeKey: string): Promise<string | undefined> {
    if (this.reloadUnknownKeysEveryMs === undefined) return undefined;
    const now = this.clock.now().getTime();
    if (!this.reloading && now - this.lastReloadAt >= this.reloadUnknownKeysEveryMs) {
      this.lastReloadAt = now;
      this.reloading = this.load().finally(() => (this.reloading = undefined));
    }
    await this.reloading;
    return this.workspaceForWriteKey(writeKey);
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
    // Folded aside and swapped in whole: requests answered meanwhile (an ingestion node's reload) see
    // the previous state, not a half-read one.
    let state = initialWorkspacesState();
    for (const stream of [WORKSPACES_STREAM, ADMIN_STREAM]) {
      for (const event of await this.store.readStream(stream)) state = evolveWorkspaces(state, event as unknown as WorkspaceEvent);
    }
    this.state = state;
    this.acceptedWriteKeys.clear();
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
