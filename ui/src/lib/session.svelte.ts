// Whether this tab may talk to the engine: it needs the admin token from KeyGate's link, or a
// session cookie another tab of this browser got with it.

import { clearToken, hasBrowserSession, hasToken, onUnauthorized, openBrowserSession, signOut } from './api';

export type SessionState = 'checking' | 'ready' | 'missing' | 'rejected';

class Session {
  state = $state<SessionState>('checking');
  /** The engine's own words when it refused the token. */
  reason = $state<string | null>(null);

  start(): void {
    if (hasToken()) {
      this.state = 'ready';
      void openBrowserSession();
    } else {
      this.state = 'checking';
      void hasBrowserSession().then((signedIn) => {
        if (this.state === 'checking') this.state = signedIn ? 'ready' : 'missing';
      });
    }
    onUnauthorized((error) => {
      // A tab signed in by the cookie alone lost its session (an engine restart): it needs the
      // link again, which is not a rejected token.
      // Several requests can be refused at once: the first answer decides what the tab says.
      if (this.state === 'rejected' || this.state === 'missing') return;
      const missing = error.code === 'missing_token' || !hasToken();
      clearToken();
      this.reason = missing ? null : error.message;
      this.state = missing ? 'missing' : 'rejected';
    });
  }

  /** Signs this browser out (its cookie and this tab's token); the link signs in again. */
  async signOut(): Promise<void> {
    try {
      await signOut();
    } catch {
      // The token is forgotten either way; an unreachable engine has no session to end.
    }
    this.reason = null;
    this.state = 'missing';
  }

  /** After a new token was stored (pasted link). */
  resume(): void {
    this.reason = null;
    this.state = hasToken() ? 'ready' : 'missing';
    if (this.state === 'ready') void openBrowserSession();
  }
}

export const session = new Session();
