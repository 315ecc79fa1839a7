/**
 * A number kept as its source text, so that values beyond 2^53 and decimals such as `1.10` come out exactly as
 * they came in (KrakenD decodes with Go's json.Number). Produced by the lossless parser only when a body holds a
 * number that a float64 would not reproduce.
 */
export class JsonNumber {
  constructor(readonly text: string) {}
  toString(): string {
    return this.text;
  }
  valueOf(): number {
    return Number(this.text);
  }
}

export type JsonValue = null | boolean | number | string | JsonNumber | JsonValue[] | JsonObject;
export interface JsonObject {
  [key: string]: JsonValue;
}

export function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof JsonNumber);
}
