/** A person's whole history: every stream that belongs to them, merged in global log order. */
import { Inject } from '@nestjs/common';
import { type IQueryHandler, QueryHandler } from '@nestjs/cqrs';
import { EVENT_STORE, type EventStore, type RecordedEvent } from '../../event-store/event-store.port';
import { IdentityService } from '../../identity/identity.service';
import { parkedEventView, type ParkedEventView } from '../../projection-runner/parked-events';
import { ProjectionRunner } from '../../projection-runner/projection-runner';
import { GetUserHistoryQuery } from './get-user-history.query';

export interface UserHistory {
  workspace: string;
  userId: string;
  streams: string[];
  events: RecordedEvent[];
  /** Events of theirs a projection set aside after its code failed on them (docs/deployment.md). */
  parked: ParkedEvent[];
}

export type ParkedEvent = Omit<ParkedEventView, 'stream'>;

@QueryHandler(GetUserHistoryQuery)
export class GetUserHistoryHandler implements IQueryHandler<GetUserHistoryQuery, UserHistory> {
  constructor(
    @Inject(EVENT_STORE) private readonly store: EventStore,
    private readonly identity: IdentityService,
    private readonly runner: ProjectionRunner,
  ) {}

  async execute({ workspace, id }: GetUserHistoryQuery): Promise<UserHistory> {
    const { userId, streams } = this.identity.streamsOf(workspace, id);
    const perStream = await Promise.all(streams.map((stream) => this.store.readStream(stream)));
    const events = perStream.flat().sort((a, b) => a.position - b.position);
    // Without the stream: it is one of this person's `streams`.
    const parked = this.runner.parkedInStreams(streams).map((row) => {
      const { stream: _stream, ...view } = parkedEventView(row);
      return view;
    });
    return { workspace, userId, streams: streams.filter((_, i) => perStream[i].length > 0), events, parked };
  }
}
