// Hash routing: `#/`, `#/keys?state=unhealthy`, `#/providers`, `#/routes`, `#/models`, `#/usage?range=7d`, `#/logs`,
// `#/connect`, `#/settings`. The admin token fragment is taken
// out of the URL by api.adoptTokenFromUrl() before the router first reads the hash.

export type Page = 'dashboard' | 'keys' | 'providers' | 'routes' | 'models' | 'usage' | 'logs' | 'connect' | 'settings';

export interface Route {
  page: Page;
  params: Record<string, string>;
}

const PATHS: Record<string, Page> = {
  '': 'dashboard',
  '/': 'dashboard',
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
    };
    update();
    window.addEventListener('hashchange', update);
    return () => window.removeEventListener('hashchange', update);
  }

  /** Changes the current page's parameters without adding a history entry. */
  replaceParams(params: Record<string, string>): void {
    const target = href(this.current.page, params);
    window.history.replaceState(window.history.state, '', target);
    this.current = parse(target);
  }
}

export const router = new Router();
