// Helpers for the Settings page's forms: whole-number fields, and per-field errors the engine
// gives only inside its message (`interval_minutes: between 1 and 1440; …`).

/** A whole number ≥ 0 from a text field, or an error to show under it. */
export function parseWhole(text: string): { value: number } | { error: string } {
  const trimmed = text.trim();
  if (!/^\d+$/.test(trimmed)) return { error: trimmed ? `"${trimmed}" is not a whole number` : 'Required' };
  const value = Number(trimmed);
  return Number.isSafeInteger(value) ? { value } : { error: 'Too large' };
}

/**
 * Splits a message of `field: problem` parts (joined by `; `) into errors for the `known`
 * fields; parts naming no known field come back in `rest`.
 */
export function fieldsFromMessage(message: string, known: readonly string[]): { fields: Record<string, string>; rest: string[] } {
  const fields: Record<string, string> = {};
  const rest: string[] = [];
  for (const part of message.split(/;\s*/)) {
    const match = /^([a-z_.]+):\s*(.+)$/i.exec(part.trim());
    if (match && known.includes(match[1])) {
      const text = match[2].trim();
      fields[match[1]] = text.charAt(0).toUpperCase() + text.slice(1);
    } else if (part.trim()) rest.push(part.trim());
  }
  return { fields, rest };
}

/** `proxy.max_attempts` → `Max attempts`, for a setting's label. */
export function settingLabel(name: string): string {
  const last = name.split('.').pop() ?? name;
  const words = last.replaceAll('_', ' ').replace(/\bms\b/, '(ms)').replace(/\bmib\b/, '(MiB)').replace(/\bseconds\b/, '(seconds)').replace(/\bdays\b/, '(days)');
  return words.charAt(0).toUpperCase() + words.slice(1);
}

/** Settings that are on (1) or off (0): shown as a switch, not a number field. */
const SWITCHES = new Set(['proxy.sticky_sessions', 'proxy.cost_in_answer']);

export function isSwitch(name: string): boolean {
  return SWITCHES.has(name);
}

/** A setting's description for people: without the `(1 = on, 0 = off)` a switch makes plain. */
export function settingHint(about: string, name: string, defaultValue: number): string {
  const text = about.replace(/\s*\(1 = on, 0 = off\)/, '');
  const shown = isSwitch(name) ? (defaultValue ? 'on' : 'off') : String(defaultValue);
  return `${text.charAt(0).toUpperCase()}${text.slice(1)} · default ${shown}`;
}

/** Where the value in force comes from and when a change to it applies, in a few words. */
export function settingSource(source: 'default' | 'saved', applies: 'now' | 'restart'): string {
  const from = source === 'saved' ? 'Saved value' : 'Default value';
  return applies === 'now' ? `${from} · a change applies to the next request` : `${from} · a change applies after a restart`;
}
