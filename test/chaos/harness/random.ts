/** A seeded random source (mulberry32): the same seed replays the same choices. */
export class Random {
  private state: number;

  constructor(readonly seed: number) {
    this.state = seed >>> 0;
  }

  /** In [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** An integer in [min, max]. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error("pick from nothing");
    return items[Math.floor(this.next() * items.length)]!;
  }
}

/** `BATON_CHAOS_SEED` when set (to replay a run), otherwise a fresh one. */
export function chaosSeed(): number {
  const fromEnv = process.env.BATON_CHAOS_SEED;
  if (fromEnv !== undefined && fromEnv !== "") {
    const seed = Number(fromEnv);
    if (!Number.isInteger(seed) || seed < 0)
      throw new Error(`BATON_CHAOS_SEED=${fromEnv} is not a whole number`);
    return seed;
  }
  return Math.floor(Math.random() * 2 ** 31);
}
