/**
 * A map of what was used lately, bounded without per-access bookkeeping: entries go into the current
 * generation; when it is full it becomes the previous one and the one before is dropped. An entry
 * set or read back into the current generation lives at least one more generation.
 */
export class GenerationalMap<K, V> {
  private current = new Map<K, V>();
  private previous = new Map<K, V>();

  constructor(private readonly perGeneration: number) {}

  get(key: K): V | undefined {
    return this.current.get(key) ?? this.previous.get(key);
  }

  set(key: K, value: V): void {
    if (this.current.size >= this.perGeneration && !this.current.has(key)) {
      this.previous = this.current;
      this.current = new Map();
    }
    this.current.set(key, value);
    this.previous.delete(key);
  }

  delete(key: K): void {
    this.current.delete(key);
    this.previous.delete(key);
  }

  deleteWhere(test: (key: K) => boolean): void {
    for (const generation of [this.current, this.previous]) for (const key of generation.keys()) if (test(key)) generation.delete(key);
  }

  clear(): void {
    this.current = new Map();
    this.previous = new Map();
  }
}
