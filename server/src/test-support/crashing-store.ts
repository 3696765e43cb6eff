import type { EventStore } from '../event-store/event-store.port';

/** A store whose appends sometimes "crash" right after they became durable (so a handler runs again). */
export function crashingStore(store: EventStore, chance: () => boolean): EventStore {
  return new Proxy(store, {
    get(target, property, receiver) {
      if (property === 'append') {
        return async (...args: Parameters<EventStore['append']>) => {
          const result = await target.append(...args);
          if (chance()) throw new Error('simulated crash after a durable append');
          return result;
        };
      }
      const value = Reflect.get(target, property, receiver);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}
