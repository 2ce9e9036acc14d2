// Words and colours for key health, shared by the dashboard tiles and the keys table.

import type { ApiKey, HealthState } from './api';

/** The four colours the dashboard and the tray use; grey covers unknown and disabled. */
export type HealthGroup = 'healthy' | 'degraded' | 'unhealthy' | 'grey';

export const GROUPS: { group: HealthGroup; label: string; hint: string; states: HealthState[] }[] = [
  { group: 'healthy', label: 'Healthy', hint: 'Ready to serve requests', states: ['healthy'] },
  { group: 'degraded', label: 'Degraded', hint: 'Cooling down or near a limit', states: ['degraded'] },
  { group: 'unhealthy', label: 'Unhealthy', hint: 'Auth, quota or secret problem', states: ['unhealthy'] },
  { group: 'grey', label: 'Unknown or disabled', hint: 'Not checked yet, or turned off', states: ['unknown', 'disabled'] },
];

export const STATE_LABELS: Record<HealthState, string> = {
  healthy: 'Healthy',
  degraded: 'Degraded',
  unhealthy: 'Unhealthy',
  unknown: 'Unknown',
  disabled: 'Disabled',
};

const REASONS: Record<string, string> = {
  secret_missing: 'Secret missing: the keyring entry or environment variable is gone',
  secret_unavailable: 'Keyring locked or not running: unlock it and KeyGate reads the secret again',
  auth: 'The provider rejected the key (401/403)',
  quota: 'Quota or billing exhausted',
  rate_limited: 'Rate limited, cooling down',
  errors: 'Several upstream errors in a row',
  expired: 'The key has expired',
  budget: 'Budget reached: KeyGate rests the key until the budget resets',
};

const SHORT_REASONS: Record<string, string> = {
  secret_missing: 'Secret missing',
  secret_unavailable: 'Keyring locked',
  auth: 'Auth failed',
  quota: 'Quota exhausted',
  rate_limited: 'Rate limited',
  errors: 'Repeated errors',
  expired: 'Expired',
  budget: 'Budget reached',
};

const STATE_HINTS: Record<HealthState, string> = {
  healthy: 'Recent requests and checks succeeded',
  degraded: 'Recent failures or close to a limit',
  unhealthy: 'Not used until it recovers',
  unknown: 'Not checked yet',
  disabled: 'Turned off; KeyGate will not use it',
};

export function groupOf(state: HealthState): HealthGroup {
  return GROUPS.find((g) => g.states.includes(state))?.group ?? 'grey';
}

export function stateLabel(state: HealthState): string {
  return STATE_LABELS[state] ?? state;
}

/** One sentence for the tooltip: the reason if there is one, else what the state means. */
export function healthExplanation(key: ApiKey): string {
  const { reason, reason_text: text } = key.health;
  if (reason) return text ? capitalise(text) : (REASONS[reason] ?? reason.replaceAll('_', ' '));
  return STATE_HINTS[key.health.state] ?? '';
}

function capitalise(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

export function shortReason(key: ApiKey): string | null {
  const reason = key.health.reason;
  if (!reason) return null;
  return SHORT_REASONS[reason] ?? reason.replaceAll('_', ' ');
}

export function countByGroup(keys: ApiKey[]): Record<HealthGroup, number> {
  const counts: Record<HealthGroup, number> = { healthy: 0, degraded: 0, unhealthy: 0, grey: 0 };
  for (const key of keys) counts[groupOf(key.health.state)] += 1;
  return counts;
}

export function isHealthGroup(value: string | undefined): value is HealthGroup {
  return GROUPS.some((g) => g.group === value);
}
