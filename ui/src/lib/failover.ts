// The Logs page's words for what happened to a request: each attempt's outcome, and why the
// proxy moved on to the next key after a failed one.

import type { AttemptLog, RequestLog } from './api';

const CLASS_LABELS: Record<string, string> = {
  success: 'OK',
  auth: 'Auth',
  quota: 'Quota',
  rate_limited: 'Rate limited',
  server_error: 'Server error',
  timeout: 'Timeout',
  connect: 'Connect',
  client_error: 'Client error',
  stream_broken: 'Stream broken',
};

/** A short label for a failure class (`rate_limited` → `Rate limited`). */
export function classLabel(cls: string | null | undefined): string {
  if (!cls) return '—';
  return CLASS_LABELS[cls] ?? cls.replaceAll('_', ' ').replace(/^./, (c) => c.toUpperCase());
}

/** Whether an attempt got a complete answer. */
export function attemptOk(attempt: AttemptLog): boolean {
  return attempt.class === 'success';
}

/**
 * One plain sentence for a failed attempt: what went wrong with that key and what the proxy
 * did next. `next` is the attempt that followed, if any.
 */
export function whyFailedOver(attempt: AttemptLog, next: AttemptLog | null): string {
  const who = attempt.key_label || attempt.key_id;
  const status = attempt.status ? ` (HTTP ${attempt.status})` : '';
  const reasons: Record<string, string> = {
    auth: `Key ${who} was refused by ${attempt.provider}${status}: revoked, mistyped or without access`,
    quota: `Key ${who} is out of credit or quota at ${attempt.provider}${status}`,
    rate_limited: `Key ${who} was rate-limited by ${attempt.provider}${status} and rests until the limit resets`,
    server_error: `Provider ${attempt.provider} had a server error${status}, not a problem with key ${who}`,
    timeout: `Provider ${attempt.provider} did not answer in time with key ${who}`,
    connect: `KeyGate could not connect to ${attempt.provider}`,
    stream_broken: `The answer from ${attempt.provider} broke off mid-stream`,
    client_error: `Provider ${attempt.provider} rejected the request itself${status}`,
  };
  const sentence = reasons[attempt.class] ?? `Key ${who} failed (${classLabel(attempt.class)}${status})`;
  if (!next) return `${sentence}. No other key was left to try.`;
  const target = next.provider === attempt.provider ? `key ${next.key_label || next.key_id}` : `${next.provider} (key ${next.key_label || next.key_id})`;
  return `${sentence}, so KeyGate tried ${target} next.`;
}

/** Whether a request failed for its caller: an error status, or a stream that broke. */
export function requestFailed(request: RequestLog): boolean {
  return request.status < 200 || request.status >= 300 || request.error_class !== null;
}

/** Whether the request needed more than one attempt. */
export function failedOver(request: RequestLog): boolean {
  return request.attempts.length > 1;
}

/** Whether a log row matches every word of a search (token, models, provider, key, status, class). */
export function matchesLogSearch(request: RequestLog, search: string): boolean {
  const needle = search.trim().toLowerCase();
  if (!needle) return true;
  const hay = [
    request.token ?? '',
    request.endpoint,
    request.model_requested,
    request.model_served ?? '',
    request.provider ?? '',
    request.key_id ?? '',
    String(request.status),
    request.error_class ?? '',
    ...request.attempts.map((a) => `${a.provider} ${a.key_label} ${a.class}`),
  ]
    .join(' ')
    .toLowerCase();
  return needle.split(/\s+/).every((word) => hay.includes(word));
}
