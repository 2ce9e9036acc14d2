// Whether this tab may talk to the engine: it needs the admin token from KeyGate's link.

import { clearToken, hasToken, onUnauthorized } from './api';

export type SessionState = 'ready' | 'missing' | 'rejected';

class Session {
  state = $state<SessionState>('missing');
  /** The engine's own words when it refused the token. */
  reason = $state<string | null>(null);

  start(): void {
    this.state = hasToken() ? 'ready' : 'missing';
    onUnauthorized((error) => {
      clearToken();
      this.reason = error.code === 'missing_token' ? null : error.message;
      this.state = error.code === 'missing_token' ? 'missing' : 'rejected';
    });
  }

  /** After a new token was stored (pasted link). */
  resume(): void {
    this.reason = null;
    this.state = hasToken() ? 'ready' : 'missing';
  }
}

export const session = new Session();
