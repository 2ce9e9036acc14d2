// Whether the first-run guide (#/welcome) opens by itself: only for an engine with no
// providers and no keys, and only until it was finished or skipped once in this browser (or
// window). It stays reachable from the Dashboard either way.

const STORAGE_KEY = 'keygate.setup';

/** Marks the guide as finished or skipped, so an empty engine opens on the Dashboard next time. */
export function finishSetup(): void {
  try {
    window.localStorage.setItem(STORAGE_KEY, 'done');
  } catch {
    // Storage refused (a private window): the guide shows again next time, which is harmless.
  }
}

function setupDone(): boolean {
  try {
    return window.localStorage.getItem(STORAGE_KEY) === 'done';
  } catch {
    return false;
  }
}

/** Whether an engine with these counts should open on the guide. */
export function opensOnWelcome(providers: number, keys: number, done = setupDone()): boolean {
  return providers === 0 && keys === 0 && !done;
}
