/** Facts about workspaces and instance access, kept in the log like every other fact. */
export interface WorkspaceCreated {
  workspace: string;
  name: string;
  writeKeyHash: string;
}

export interface WriteKeyAdded {
  workspace: string;
  writeKeyHash: string;
}

export interface AdminTokenIssued {
  tokenHash: string;
}

export type WorkspaceEvent =
  | { type: 'WorkspaceCreated'; data: WorkspaceCreated }
  | { type: 'WriteKeyAdded'; data: WriteKeyAdded }
  | { type: 'AdminTokenIssued'; data: AdminTokenIssued };

export interface WorkspacesState {
  /** write key hash -> workspace id */
  workspaceByKeyHash: Map<string, string>;
  workspaces: Map<string, { id: string; name: string }>;
  adminTokenHash?: string;
}

export const initialWorkspacesState = (): WorkspacesState => ({ workspaceByKeyHash: new Map(), workspaces: new Map() });

export function evolveWorkspaces(state: WorkspacesState, event: WorkspaceEvent): WorkspacesState {
  switch (event.type) {
    case 'WorkspaceCreated':
      state.workspaces.set(event.data.workspace, { id: event.data.workspace, name: event.data.name });
      state.workspaceByKeyHash.set(event.data.writeKeyHash, event.data.workspace);
      return state;
    case 'WriteKeyAdded':
      state.workspaceByKeyHash.set(event.data.writeKeyHash, event.data.workspace);
      return state;
    case 'AdminTokenIssued':
      state.adminTokenHash ??= event.data.tokenHash;
      return state;
    default: {
      const unhandled: never = event;
      return unhandled;
    }
  }
}
