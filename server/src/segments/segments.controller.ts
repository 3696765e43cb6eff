import { Body, Controller, Delete, Get, HttpCode, Inject, Param, Post, Query, Res, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiConsumes, ApiOperation, ApiQuery, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { AdminGuard } from '../http/admin.guard';
import { BadRequestError } from '../http/http-errors';
import { workspaceFrom } from '../http/workspace.param';
import { WorkspacesService } from '../workspaces/workspaces.service';
import { SegmentCatalog } from './segment-catalog';
import { SegmentQueries } from './segment-queries';

export function pageParams(limitText?: string, offsetText?: string): { limit: number; offset: number } {
  const limit = limitText === undefined ? 100 : Number(limitText);
  const offset = offsetText === undefined ? 0 : Number(offsetText);
  if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw new BadRequestError('limit must be an integer from 1 to 1000', 'limit');
  if (!Number.isInteger(offset) || offset < 0) throw new BadRequestError('offset must be a non-negative integer', 'offset');
  return { limit, offset };
}

@ApiTags('segments')
@ApiBearerAuth()
@UseGuards(AdminGuard)
@Controller('api/segments')
export class SegmentsController {
  constructor(
    private readonly catalog: SegmentCatalog,
    @Inject(SegmentQueries) private readonly queries: SegmentQueries,
    private readonly workspaces: WorkspacesService,
  ) {}

  @Post()
  @ApiOperation({ summary: 'Create or change a segment (JSON, or YAML with Content-Type: application/yaml); computed over existing history' })
  @ApiConsumes('application/json', 'application/yaml')
  @ApiQuery({ name: 'workspace', required: false })
  async define(@Body() body: unknown, @Query('workspace') workspace: string | undefined, @Res({ passthrough: true }) reply: FastifyReply) {
    const result = await this.catalog.define(workspaceFrom(this.workspaces, workspace), body);
    void reply.status(result.created ? 201 : 200);
    return { id: result.id, version: result.version };
  }

  @Get()
  @ApiOperation({ summary: 'All segments of the workspace, with their member counts' })
  async list(@Query('workspace') workspace?: string) {
    const ws = workspaceFrom(this.workspaces, workspace);
    const counts = this.queries.memberCounts(ws);
    const catalog = await this.catalog.read(ws);
    return {
      segments: [...catalog.entries.values()].map((entry) => ({
        id: entry.definition.id,
        name: entry.definition.name,
        version: entry.version,
        definedAt: entry.definedAt,
        members: counts.get(entry.definition.id) ?? 0,
      })),
    };
  }

  @Get(':id')
  @ApiOperation({ summary: 'A segment definition, its version and member count' })
  async get(@Param('id') id: string, @Query('workspace') workspace?: string) {
    const ws = workspaceFrom(this.workspaces, workspace);
    const entry = await this.catalog.get(ws, id);
    return { ...entry, members: this.queries.memberCounts(ws).get(id) ?? 0 };
  }

  @Get(':id/members')
  @ApiOperation({ summary: 'Current members, paginated (limit 1-1000, offset), with the total' })
  async members(@Param('id') id: string, @Query('workspace') workspace?: string, @Query('limit') limit?: string, @Query('offset') offset?: string) {
    const ws = workspaceFrom(this.workspaces, workspace);
    await this.catalog.get(ws, id);
    const page = pageParams(limit, offset);
    const { total, members } = this.queries.members(ws, id, page.limit, page.offset);
    return {
      total,
      ...page,
      members: members.map((member) => ({ ...personIds(member.person), since: member.since })),
    };
  }

  @Delete(':id')
  @HttpCode(200)
  @ApiOperation({ summary: 'Delete a segment; its members exit. 409 while another segment, or a scenario that is not archived, refers to it' })
  async remove(@Param('id') id: string, @Query('workspace') workspace?: string) {
    await this.catalog.delete(workspaceFrom(this.workspaces, workspace), id);
    return { id, deleted: true };
  }
}

export function personIds(person: string): { userId?: string; anonymousId?: string } {
  return person.startsWith('anon:') ? { anonymousId: person.slice(5) } : { userId: person.slice(5) };
}
