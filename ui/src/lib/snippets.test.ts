import { describe, expect, it } from 'vitest';
import { buildSnippets, TOKEN_PLACEHOLDER } from './snippets';

describe('buildSnippets', () => {
  const byId = (token: string | null) => Object.fromEntries(buildSnippets('http://127.0.0.1:5397', token).map((s) => [s.id, s.text]));

  it('fills in the real address and the token, like the README recipes', () => {
    const s = byId('kg-abc');
    expect(s['claude-code']).toBe('ANTHROPIC_BASE_URL=http://127.0.0.1:5397 ANTHROPIC_AUTH_TOKEN=kg-abc claude');
    expect(s.aider).toBe('aider --openai-api-base http://127.0.0.1:5397/v1 --openai-api-key kg-abc --model openai/gpt-4o');
    expect(s['openai-env']).toBe('export OPENAI_BASE_URL=http://127.0.0.1:5397/v1\nexport OPENAI_API_KEY=kg-abc');
    expect(s.anthropic).toBe('Anthropic(base_url="http://127.0.0.1:5397", api_key="kg-abc")');
  });

  it('gives Codex a keygate provider speaking the Responses API', () => {
    const codex = byId('kg-abc').codex;
    expect(codex).toContain('[model_providers.keygate]');
    expect(codex).toContain('base_url = "http://127.0.0.1:5397/v1"');
    expect(codex).toContain('wire_api = "responses"');
    expect(codex).toContain('export KEYGATE_TOKEN=kg-abc');
  });

  it('gives Gemini CLI the root, and opencode a keygate provider', () => {
    const s = byId('kg-abc');
    expect(s['gemini-cli']).toBe('export GOOGLE_GEMINI_BASE_URL=http://127.0.0.1:5397\nexport GEMINI_API_KEY=kg-abc');
    const opencode = JSON.parse(s.opencode);
    expect(opencode.provider.keygate.options).toEqual({ baseURL: 'http://127.0.0.1:5397/v1', apiKey: 'kg-abc' });
    expect(opencode.model).toBe('keygate/smart');
    expect(JSON.parse(byId(null).opencode).provider.keygate.options.apiKey).toBe('{env:KEYGATE_TOKEN}');
  });

  it('gives Continue an openai model with the /v1 base', () => {
    const yaml = byId('kg-abc').continue;
    expect(yaml).toMatch(/provider: openai\n\s+apiBase: http:\/\/127\.0\.0\.1:5397\/v1\n\s+apiKey: kg-abc/);
  });

  it('gives Cursor its two fields as two values, each copied on its own', () => {
    const s = byId('kg-abc');
    expect(s['cursor-key']).toBe('kg-abc');
    expect(s['cursor-url']).toBe('http://127.0.0.1:5397/v1');
  });

  it('shows a placeholder without a token, and ignores a trailing slash', () => {
    const [claude] = buildSnippets('http://127.0.0.1:9000/', null);
    expect(claude.text).toBe(`ANTHROPIC_BASE_URL=http://127.0.0.1:9000 ANTHROPIC_AUTH_TOKEN=${TOKEN_PLACEHOLDER} claude`);
  });
});
