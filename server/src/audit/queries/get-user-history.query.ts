export class GetUserHistoryQuery {
  constructor(
    readonly workspace: string,
    /** A user id, or an anonymous id (merged ones resolve to their user). */
    readonly id: string,
  ) {}
}
