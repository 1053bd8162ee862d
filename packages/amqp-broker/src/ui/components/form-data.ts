/** The submitted form's fields; the handler also stops the browser's own navigation. */
export function readForm(event: Event): {
  form: HTMLFormElement;
  get: (name: string) => string;
  checked: (name: string) => boolean;
} {
  event.preventDefault();
  const form = event.currentTarget as HTMLFormElement;
  const data = new FormData(form);
  return {
    form,
    get: (name) => String(data.get(name) ?? ''),
    checked: (name) => data.get(name) !== null,
  };
}

/** Parses an optional JSON object typed into an arguments box. */
export function parseArguments(text: string, what: string): Record<string, unknown> {
  if (!text.trim()) return {};
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new Error(`${what}: not valid JSON`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new Error(`${what}: must be a JSON object such as {"x-max-length": 1000}`);
  }
  return value as Record<string, unknown>;
}
