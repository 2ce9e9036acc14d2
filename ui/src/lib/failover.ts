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

/** What the Logs page knows about how a request's attempts ended, for the last one's words. */
export interface StopContext {
  /** Attempts the request made. */
  attempts: number;
  /** The engine's `proxy.max_attempts`, when known. */
  maxAttempts?: number | null;
  /** How long the request took, and the engine's `proxy.deadline_seconds` in ms. */
  latencyMs?: number | null;
  deadlineMs?: number | null;
}

/**
 * Why no attempt followed the last failed one, from what is known — never "no other key was
 * left" when the request simply used up its attempts or its deadline.
 */
function whyStopped(attempt: AttemptLog, context?: StopContext): string {
  if (attempt.class === 'client_error') return 'Another key would get the same answer, so KeyGate tried no other.';
  if (context?.maxAttempts && context.attempts >= context.maxAttempts) {
    return `That was the last of the ${context.maxAttempts} attempts a request gets (Settings → Max attempts).`;
  }
  if (context?.deadlineMs && context.latencyMs != null && context.latencyMs >= context.deadlineMs * 0.95) {
    return `The request's ${Math.round(context.deadlineMs / 1000)} s deadline ran out (Settings → Deadline).`;
  }
  return 'No other key or provider could take the request then (the rest were cooling down, benched, over a limit or budget, or there were none).';
}

/**
 * One plain sentence for a failed attempt: what went wrong with that key and what the proxy
 * did next. `next` is the attempt that followed, if any; `context` says how the request ended.
 */
export function whyFailedOver(attempt: AttemptLog, next: AttemptLog | null, context?: StopContext): string {
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
  if (!next) return `${sentence}. ${whyStopped(attempt, context)}`;
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
