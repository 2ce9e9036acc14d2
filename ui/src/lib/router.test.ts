import { describe, expect, it } from 'vitest';
import { documentTitle, href, PAGE_TITLES } from './router.svelte';

describe('page titles', () => {
  it('names the page first, then KeyGate', () => {
    expect(documentTitle('keys')).toBe('Keys · KeyGate');
    expect(documentTitle('models')).toBe('Models & prices · KeyGate');
  });

  it('has a title for every page the router links to', () => {
    for (const page of Object.keys(PAGE_TITLES) as (keyof typeof PAGE_TITLES)[]) {
      expect(href(page)).toMatch(/^#\//);
      expect(documentTitle(page)).not.toContain('undefined');
    }
  });
});
