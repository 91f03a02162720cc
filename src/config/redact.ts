/**
 * Removes secrets from text before it reaches a terminal, a log, a file or a row: the password
 * of every `scheme://user:password@` URL, and every form each given secret may take in text.
 * Redact first, shorten after: a cut can split a secret so that no form of it matches any more.
 */
export function redact(text: string, secrets: readonly string[] = []): string {
  let out = text.replace(/(\b[a-z][a-z0-9+.-]*:\/\/[^:/@\s]*:)[^@\s]*@/gi, "$1***@");
  const forms = secrets.flatMap(secretForms).sort((a, b) => b.length - a.length);
  for (const form of forms) out = out.split(form).join("***");
  return out;
}

/**
 * The ways a password shows up in text: as is, URL-encoded (by encodeURIComponent and by
 * URLSearchParams, which differ), escaped inside a JSON or shell string. Longest first, so a
 * longer form is replaced before a shorter one inside it.
 */
export function secretForms(secret: string): string[] {
  if (secret.length < 3) return []; // too short to redact without mangling ordinary words
  const forms = new Set([
    secret,
    encodeURIComponent(secret),
    new URLSearchParams({ s: secret }).toString().slice(2),
    JSON.stringify(secret).slice(1, -1),
    secret.replaceAll("'", "'\\''"),
  ]);
  return [...forms].filter((form) => form.length >= 3);
}

/** The secrets this process knows (passwords it connects with), in one place for every writer. */
const known = new Set<string>();

/** Registers values (passwords) that must never be printed, in any of their forms. */
export function registerSecret(...values: (string | undefined)[]): void {
  for (const secret of values) if (secret) known.add(secret);
}

/** `text` with URL passwords and every registered secret hidden. */
export function redactKnown(text: string): string {
  return redact(text, [...known]);
}
