// Light/dark theme: follows the system unless the user picked one, which is kept in localStorage.

export type ThemeChoice = 'system' | 'light' | 'dark';

const STORAGE_KEY = 'keygate.theme';
const darkQuery = () => window.matchMedia('(prefers-color-scheme: dark)');

function readChoice(): ThemeChoice {
  try {
    const stored = window.localStorage.getItem(STORAGE_KEY);
    if (stored === 'light' || stored === 'dark') return stored;
  } catch {
    // No storage: follow the system.
  }
  return 'system';
}

class Theme {
  choice = $state<ThemeChoice>('system');
  systemDark = $state(false);
  resolved = $derived<'light' | 'dark'>(
    this.choice === 'system' ? (this.systemDark ? 'dark' : 'light') : this.choice,
  );

  /** Applies the theme before the first paint and keeps following the system setting. */
  start(): void {
    const query = darkQuery();
    this.choice = readChoice();
    this.systemDark = query.matches;
    this.apply();
    query.addEventListener('change', (event) => {
      this.systemDark = event.matches;
      this.apply();
    });
  }

  set(choice: ThemeChoice): void {
    this.choice = choice;
    try {
      if (choice === 'system') window.localStorage.removeItem(STORAGE_KEY);
      else window.localStorage.setItem(STORAGE_KEY, choice);
    } catch {
      // The choice then lasts until the page is reloaded.
    }
    this.apply();
  }

  private apply(): void {
    document.documentElement.dataset.theme = this.resolved;
  }
}

export const theme = new Theme();
