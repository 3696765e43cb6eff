import type { EventStore } from '../event-store/event-store.port';

/**
 * A store whose appends sometimes "crash" right after they became durable (so a handler runs again).
 * Only an append that wrote something can crash: the repeat of one that already stands writes
 * nothing, as after a real restart. Drawing for those too made a batch of many appends fail on
 * almost every retry (at 20% a draw, 30 appends pass together one time in 800), so a projection
 * handed a large batch never got past it.
 */
export function crashingStore(store: EventStore, chance: () => boolean): EventStore {
  return new Proxy(store, {
    get(target, property, receiver) {
      if (property === 'append') {
        return async (...args: Parameters<EventStore['append']>) => {
          const result = await target.append(...args);
          if (result.appended > 0 && chance()) throw new Error('simulated crash after a durable append');
          return result;
        };
      }
      const value = Reflect.get(target, property, receiver);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}
