// Hash routing: `#/`, `#/keys?state=unhealthy`, `#/providers`, `#/routes`, `#/models`, `#/usage?range=7d`, `#/logs`,
// `#/connect`, `#/settings`. The admin token fragment is taken
// out of the URL by api.adoptTokenFromUrl() before the router first reads the hash.

export type Page = 'welcome' | 'dashboard' | 'keys' | 'providers' | 'routes' | 'models' | 'usage' | 'logs' | 'connect' | 'settings';

export interface Route {
  page: Page;
  params: Record<string, string>;
}

const PATHS: Record<string, Page> = {
  '': 'dashboard',
  '/': 'dashboard',
  '/welcome': 'welcome',
  '/keys': 'keys',
  '/providers': 'providers',
  '/models': 'models',
  '/usage': 'usage',
  '/routes': 'routes',
  '/logs': 'logs',
  '/connect': 'connect',
  '/settings': 'settings',
};

function parse(hash: string): Route {
  const raw = hash.replace(/^#/, '');
  const [path, query = ''] = raw.split('?', 2);
  const page = PATHS[path] ?? 'dashboard';
  const params: Record<string, string> = {};
  for (const [name, value] of new URLSearchParams(query)) params[name] = value;
  return { page, params };
}

/** What each page is called in the window's title (and the tab's, in a browser). */
export const PAGE_TITLES: Record<Page, string> = {
  welcome: 'Get started',
  dashboard: 'Dashboard',
  keys: 'Keys',
  providers: 'Providers',
  routes: 'Routes',
  models: 'Models & prices',
  usage: 'Usage',
  logs: 'Logs',
  connect: 'Connect',
  settings: 'Settings',
};

/** `Keys · KeyGate`: the page first, so tabs and the window list tell pages apart. */
export function documentTitle(page: Page): string {
  return `${PAGE_TITLES[page]} · KeyGate`;
}

/** The hash link for a page, for `<a href>`. */
export function href(page: Page, params: Record<string, string> = {}): string {
  const path = page === 'dashboard' ? '/' : `/${page}`;
  const query = new URLSearchParams(Object.entries(params).filter(([, v]) => v !== '')).toString();
  return `#${path}${query ? `?${query}` : ''}`;
}

class Router {
  current = $state<Route>(parse(''));

  start(): () => void {
    const update = () => {
      this.current = parse(window.location.hash);
      document.title = documentTitle(this.current.page);
    };
    update();
    window.addEventListener('hashchange', update);
    return () => window.removeEventListener('hashchange', update);
  }

  /** Opens a page in place of the current one (no history entry: Back leaves the app's start). */
  go(page: Page, params: Record<string, string> = {}): void {
    const target = href(page, params);
    window.history.replaceState(window.history.state, '', target);
    this.current = parse(target);
    document.title = documentTitle(this.current.page);
  }

  /** Changes the current page's parameters without adding a history entry. */
  replaceParams(params: Record<string, string>): void {
    const target = href(this.current.page, params);
    window.history.replaceState(window.history.state, '', target);
    this.current = parse(target);
    document.title = documentTitle(this.current.page);
  }
}

export const router = new Router();
