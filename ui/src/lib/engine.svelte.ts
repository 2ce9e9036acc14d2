// What the pages show, loaded through api.ts and refreshed in the background. Pages share one
// copy, so moving between them shows the last data at once instead of a loading state.
//
// The engine's live events arrive here, on the one `/api/events` stream of the tab: a key's new
// health, budgets and provider pauses update the shared data whichever page is open, and pages
// that show events themselves (the Dashboard's activity, Settings' pause switch) subscribe.

type EventListener = (event: LiveEvent) => void;
type StatusListener = (status: StreamStatus) => void;

import {
  ApiError,
  getEngineHealth,
  listKeys,
  listProviders,
  watchEvents,
  type ApiKey,
  type HealthState,
  type LiveEvent,
  type Provider,
  type StreamStatus,
} from './api';
import { toasts } from './toasts.svelte';

const REFRESH_MS = 10_000;
// After a live event: long enough to fold a burst of events into one reload and for the
// engine's background writer (it gathers 50 ms) to have saved what the event announced.
const SOON_MS = 300;

class Engine {
  keys = $state<ApiKey[] | null>(null);
  providers = $state<Provider[] | null>(null);
  version = $state<string | null>(null);
  /** The engine runs no background checks this run (`KEYGATE_HEALTH_CHECKER=off`). */
  checkerOffForRun = $state(false);
  reachable = $state<boolean | null>(null);
  /** Set when the last load failed and there is nothing older to show. */
  loadError = $state<string | null>(null);
  refreshing = $state(false);
  /** Where the live event stream stands. */
  stream = $state<StreamStatus>('connecting');

  private timer: number | null = null;
  private eventListeners = new Set<EventListener>();
  private statusListeners = new Set<StatusListener>();
  private soonTimer: number | null = null;
  /** A reload was asked for while one ran; it may have read too early, so run another. */
  private again = false;

  /** Loads everything now and then every few seconds while the window is visible. */
  start(): () => void {
    void this.refresh();
    const tick = () => {
      if (document.visibilityState === 'visible') void this.refresh();
    };
    this.timer = window.setInterval(tick, REFRESH_MS);
    const onVisible = () => tick();
    document.addEventListener('visibilitychange', onVisible);
    const stopEvents = watchEvents({
      onEvent: (event) => this.dispatch(event),
      onStatus: (status) => {
        const reconnected = status === 'live' && this.stream !== 'live';
        this.stream = status;
        // Whatever changed while the stream was down.
        if (reconnected) this.refreshSoon();
        for (const listener of this.statusListeners) listener(status);
      },
    });
    return () => {
      stopEvents();
      if (this.timer !== null) window.clearInterval(this.timer);
      if (this.soonTimer !== null) window.clearTimeout(this.soonTimer);
      document.removeEventListener('visibilitychange', onVisible);
    };
  }

  /**
   * Follows the live events (and the stream's status, told at once) until the returned
   * function is called.
   */
  subscribe(onEvent: EventListener, onStatus?: StatusListener): () => void {
    this.eventListeners.add(onEvent);
    if (onStatus) {
      this.statusListeners.add(onStatus);
      onStatus(this.stream);
    }
    return () => {
      this.eventListeners.delete(onEvent);
      if (onStatus) this.statusListeners.delete(onStatus);
    };
  }

  private dispatch(event: LiveEvent): void {
    if (event.kind === 'key_state_changed') {
      if (event.key_id && event.state) this.setKeyHealth(event.key_id, event.state, event.reason);
      this.refreshSoon();
    } else if (event.kind.startsWith('budget_') || event.kind.startsWith('provider_')) {
      this.refreshSoon(); // budget bars, providers' live state
    }
    for (const listener of this.eventListeners) listener(event);
  }

  /** Reloads shortly, once for a burst of calls (used when live events say something changed). */
  refreshSoon(): void {
    if (this.soonTimer !== null) return;
    this.soonTimer = window.setTimeout(() => {
      this.soonTimer = null;
      void this.refresh();
    }, SOON_MS);
  }

  /**
   * Shows a key's new health at once (from a test report or a live event), before the next
   * reload brings the rest of its health details.
   */
  setKeyHealth(id: string, state: HealthState, reason: string | null): void {
    const key = this.keys?.find((k) => k.id === id);
    if (!key) return;
    key.health.state = state;
    key.health.reason = reason;
    key.health.reason_text = null;
  }

  async refresh(): Promise<void> {
    if (this.refreshing) {
      this.again = true;
      return;
    }
    this.refreshing = true;
    this.again = false;
    try {
      const [keys, providers, health] = await Promise.all([
        listKeys(),
        listProviders(),
        getEngineHealth().catch(() => null),
      ]);
      this.keys = keys;
      this.providers = providers;
      if (health) {
        this.version = health.version;
        this.checkerOffForRun = health.health_checker_off_for_this_run;
      }
      this.reachable = true;
      this.loadError = null;
    } catch (error) {
      if (error instanceof ApiError && error.isUnauthorized) return; // the session shows its own screen
      const message = error instanceof Error ? error.message : String(error);
      this.reachable = !(error instanceof ApiError && error.code === 'network');
      // With nothing loaded yet the page shows the error in place; later failures of the
      // background refresh keep the last data on screen and say so in a toast.
      if (this.keys === null) this.loadError = message;
      else toasts.error(message);
    } finally {
      this.refreshing = false;
    }
    if (this.again) void this.refresh();
  }
}

export const engine = new Engine();
