/**
 * Returns the cached promise for `key`, loading it on first use. A rejected load is forgotten, so
 * the next call tries again instead of repeating the failure.
 */
export function cachedPromise<K, V>(cache: Map<K, Promise<V>>, key: K, load: () => Promise<V>): Promise<V> {
  let value = cache.get(key);
  if (!value) {
    value = load();
    cache.set(key, value);
    value.catch(() => cache.delete(key));
  }
  return value;
}
