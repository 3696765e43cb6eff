import { NotFoundError } from './http-errors';
import { DEFAULT_WORKSPACE, type WorkspacesService } from '../workspaces/workspaces.service';

/** The `?workspace=` of an admin request: `default` when absent, 404 when unknown. */
export function workspaceFrom(workspaces: WorkspacesService, requested: string | undefined): string {
  const workspace = requested || DEFAULT_WORKSPACE;
  if (!workspaces.exists(workspace)) throw new NotFoundError(`Workspace ${workspace} does not exist`);
  return workspace;
}
