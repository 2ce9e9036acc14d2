// Exact money arithmetic on the engine's decimal text. Prices arrive as strings ("2.50", USD per
// million tokens) and spend as integer micro-dollars; both stay integers (BigInt) here, so a
// cost shown in the UI is the cost the engine records, never a float rounding of it.

const MICROS_PER_USD = 1_000_000n;
const TOKENS_PER_PRICE_UNIT = 1_000_000n;

/**
 * Dollars as written by a person or the engine ("5", "12.50", "$0.000150", ".5") to
 * micro-dollars; `null` when it is not such an amount (negative, more than six decimals, text).
 * The same rules as the engine's parser, so the UI can check a field before sending it.
 */
export function parseUsd(text: string): bigint | null {
  const trimmed = text.trim().replace(/^\$/, '');
  const match = /^(\d*)(?:\.(\d*))?$/.exec(trimmed);
  if (!match) return null;
  const [, whole, frac = ''] = match;
  if ((whole === '' && frac === '') || frac.length > 6) return null;
  return BigInt(whole || '0') * MICROS_PER_USD + BigInt(frac.padEnd(6, '0'));
}

/** A token count typed by a person: a whole number ≥ 0 with optional separators, else null. */
export function parseTokens(text: string): bigint | null {
  const cleaned = text.trim().replace(/[\s,_]/g, '');
  if (cleaned === '') return 0n;
  return /^\d+$/.test(cleaned) ? BigInt(cleaned) : null;
}

export interface ModelPrice {
  input_usd: string | null;
  output_usd: string | null;
  cached_usd: string | null;
}

export interface TokenCounts {
  prompt: bigint;
  completion: bigint;
  /** Prompt tokens the provider served from its cache; part of `prompt`. */
  cached: bigint;
}

export interface Cost {
  /** The exact cost in dollars as decimal text, every digit kept ("0.0000025"). */
  exactUsd: string;
  /** Rounded to the nearest micro-dollar, as the engine records it. */
  micros: bigint;
  /** Each part in micro-dollars (exact, may be fractional, so as pico-dollars ÷ 10⁶). */
  parts: { input: string; cached: string; output: string };
}

/**
 * What a request costs at a model's price: cached prompt tokens at the cached price (the input
 * price when the model has none), the rest of the prompt at the input price, completion
 * tokens at the output price. `null` when the model has no price.
 */
export function requestCost(price: ModelPrice, tokens: TokenCounts): Cost | null {
  const input = price.input_usd === null ? null : parseUsd(price.input_usd);
  const output = price.output_usd === null ? null : parseUsd(price.output_usd);
  if (input === null || output === null) return null;
  const cachedPrice = (price.cached_usd === null ? null : parseUsd(price.cached_usd)) ?? input;
  const cached = tokens.cached < tokens.prompt ? tokens.cached : tokens.prompt;

  // micro-dollars per million tokens × tokens = pico-dollars (10⁻¹² USD).
  const inputPico = (tokens.prompt - cached) * input;
  const cachedPico = cached * cachedPrice;
  const outputPico = tokens.completion * output;
  const totalPico = inputPico + cachedPico + outputPico;
  const scale = MICROS_PER_USD * TOKENS_PER_PRICE_UNIT;
  return {
    exactUsd: decimalText(totalPico, scale, 12),
    micros: (totalPico + TOKENS_PER_PRICE_UNIT / 2n) / TOKENS_PER_PRICE_UNIT,
    parts: {
      input: decimalText(inputPico, scale, 12),
      cached: decimalText(cachedPico, scale, 12),
      output: decimalText(outputPico, scale, 12),
    },
  };
}

/** `value / scale` as decimal text with trailing zeros dropped (at least `minDecimals`, 2). */
export function decimalText(value: bigint, scale: bigint, digits: number, minDecimals = 2): string {
  const negative = value < 0n;
  const abs = negative ? -value : value;
  const whole = abs / scale;
  let frac = (abs % scale).toString().padStart(digits, '0');
  frac = frac.replace(/0+$/, '');
  if (frac.length < minDecimals) frac = frac.padEnd(minDecimals, '0');
  return `${negative ? '-' : ''}${whole}${frac ? `.${frac}` : ''}`;
}

/** Micro-dollars as exact dollar text without a sign: 2500000 → "2.50", 150 → "0.00015". */
export function microsToUsdText(micros: number | bigint): string {
  return decimalText(BigInt(micros), MICROS_PER_USD, 6);
}

/** Micro-dollars with six decimals, as the engine's reports write them: 4000 → "0.004000". */
export function microsToFixed6(micros: number | bigint): string {
  const value = BigInt(micros);
  const abs = value < 0n ? -value : value;
  return `${value < 0n ? '-' : ''}${abs / MICROS_PER_USD}.${(abs % MICROS_PER_USD).toString().padStart(6, '0')}`;
}
