// Copy-paste set-up for the tools people point at KeyGate. The recipes match README.md's
// "Recipes for common tools" word for word, with the engine's real address and the token filled in.

export interface Snippet {
  id: string;
  tool: string;
  /** Where the text goes (a file, a shell, a settings screen). */
  where: string;
  /** `shell` snippets are commands; others are file contents or settings. */
  kind: 'shell' | 'file' | 'text' | 'code';
  text: string;
}

/** What a snippet shows in place of the token when none was just created. */
export const TOKEN_PLACEHOLDER = 'kg-…';

/**
 * The snippets for an engine at `origin` (`http://127.0.0.1:5397`), with `token` filled in
 * (or the placeholder).
 */
export function buildSnippets(origin: string, token: string | null): Snippet[] {
  const root = origin.replace(/\/+$/, '');
  const v1 = `${root}/v1`;
  const key = token || TOKEN_PLACEHOLDER;
  return [
    {
      id: 'claude-code',
      tool: 'Claude Code',
      where: 'Shell',
      kind: 'shell',
      text: `ANTHROPIC_BASE_URL=${root} ANTHROPIC_AUTH_TOKEN=${key} claude`,
    },
    {
      id: 'claude-code-routes',
      tool: 'Claude Code on other models',
      where: 'Shell',
      kind: 'shell',
      text: [
        'keygate route add claude-sonnet-4-5 --to gemini:gemini-2.5-pro,deepseek:deepseek-chat',
        'keygate route add claude-haiku-4-5 --to gemini:gemini-2.5-flash',
      ].join('\n'),
    },
    {
      id: 'gemini-cli',
      tool: 'Gemini CLI',
      where: 'Environment',
      kind: 'shell',
      text: `export GOOGLE_GEMINI_BASE_URL=${root}\nexport GEMINI_API_KEY=${key}`,
    },
    {
      id: 'gemini-cli-routes',
      tool: 'Gemini CLI on other models',
      where: 'Shell',
      kind: 'shell',
      text: 'keygate route add gemini-2.5-pro --to anthropic:claude-sonnet-4-5,deepseek:deepseek-chat',
    },
    {
      id: 'google-genai',
      tool: 'google-genai SDK',
      where: 'Python',
      kind: 'code',
      text: `genai.Client(api_key="${key}", http_options=types.HttpOptions(base_url="${root}"))`,
    },
    {
      id: 'opencode',
      tool: 'opencode',
      where: 'opencode.json',
      kind: 'file',
      text: JSON.stringify(
        {
          $schema: 'https://opencode.ai/config.json',
          provider: {
            keygate: {
              npm: '@ai-sdk/openai-compatible',
              name: 'KeyGate',
              options: { baseURL: v1, apiKey: token ? key : '{env:KEYGATE_TOKEN}' },
              models: { smart: { name: 'smart (a KeyGate route)' } },
            },
          },
          model: 'keygate/smart',
        },
        null,
        2,
      ),
    },
    {
      id: 'cursor-key',
      tool: 'Cursor',
      where: 'Settings → Models → OpenAI API key',
      kind: 'text',
      text: key,
    },
    {
      id: 'cursor-url',
      tool: 'Cursor',
      where: 'Settings → Models → Override OpenAI Base URL',
      kind: 'text',
      text: v1,
    },
    {
      id: 'continue',
      tool: 'Continue',
      where: '~/.continue/config.yaml',
      kind: 'file',
      text: [
        'models:',
        '  - name: KeyGate',
        '    provider: openai',
        `    apiBase: ${v1}`,
        `    apiKey: ${key}`,
        '    model: smart',
      ].join('\n'),
    },
    {
      id: 'aider',
      tool: 'aider',
      where: 'Shell',
      kind: 'shell',
      text: `aider --openai-api-base ${v1} --openai-api-key ${key} --model openai/gpt-4o`,
    },
    {
      id: 'codex',
      tool: 'Codex CLI',
      where: '~/.codex/config.toml',
      kind: 'file',
      text: [
        'model = "gpt-5"',
        'model_provider = "keygate"',
        '[model_providers.keygate]',
        'name = "KeyGate"',
        `base_url = "${v1}"`,
        `env_key = "KEYGATE_TOKEN"        # export KEYGATE_TOKEN=${key}`,
        'wire_api = "responses"',
      ].join('\n'),
    },
    {
      id: 'codex-routes',
      tool: 'Codex on other models',
      where: 'Shell',
      kind: 'shell',
      text: 'keygate route add codex --to anthropic:claude-sonnet-4-5,deepseek:deepseek-chat   # then model = "codex"',
    },
    {
      id: 'openai-env',
      tool: 'OpenAI SDK',
      where: 'Environment',
      kind: 'shell',
      text: `export OPENAI_BASE_URL=${v1}\nexport OPENAI_API_KEY=${key}`,
    },
    {
      id: 'openai-python',
      tool: 'OpenAI SDK (Python)',
      where: 'Python',
      kind: 'code',
      text: `OpenAI(base_url="${v1}", api_key="${key}")`,
    },
    {
      id: 'anthropic',
      tool: 'Anthropic SDK',
      where: 'Python',
      kind: 'code',
      text: `Anthropic(base_url="${root}", api_key="${key}")`,
    },
    {
      id: 'anthropic-env',
      tool: 'Anthropic SDK (env)',
      where: 'Environment',
      kind: 'shell',
      text: `export ANTHROPIC_BASE_URL=${root}\nexport ANTHROPIC_API_KEY=${key}`,
    },
  ];
}
