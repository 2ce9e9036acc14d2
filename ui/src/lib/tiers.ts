// The route dialog's tier list: moving rows by drag or by the up/down buttons.

/** A copy of `items` with the item at `from` moved to `to` (both clamped to the list). */
export function moveItem<T>(items: readonly T[], from: number, to: number): T[] {
  const copy = [...items];
  if (from < 0 || from >= copy.length) return copy;
  const target = Math.max(0, Math.min(copy.length - 1, to));
  const [item] = copy.splice(from, 1);
  copy.splice(target, 0, item);
  return copy;
}

/** The route strategies the engine accepts, with a few words each (DESIGN §4). */
export const STRATEGIES: { value: string; label: string; about: string }[] = [
  { value: 'priority', label: 'Priority', about: 'lower key priority first; ties take turns' },
  { value: 'round_robin', label: 'Round robin', about: 'each key in turn' },
  { value: 'least_used', label: 'Least used', about: 'the key with the fewest recent requests' },
  { value: 'weighted', label: 'Weighted', about: 'random, in proportion to key weight' },
  { value: 'lowest_latency', label: 'Lowest latency', about: 'the fastest key lately' },
  { value: 'lowest_cost', label: 'Lowest cost', about: 'the cheapest price for the model' },
  { value: 'headroom', label: 'Headroom', about: 'most remaining upstream rate limit' },
];

export function strategyLabel(value: string): string {
  return STRATEGIES.find((s) => s.value === value)?.label ?? value;
}
