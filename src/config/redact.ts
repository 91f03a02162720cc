/**
 * Removes secrets from text before it reaches a terminal or a log: the password of every
 * `scheme://user:password@` URL, and each secret given (the configured password in plain and
 * URL-encoded form).
 */
export function redact(text: string, secrets: readonly string[] = []): string {
  let out = text.replace(/(\b[a-z][a-z0-9+.-]*:\/\/[^:/@\s]*:)[^@\s]*@/gi, "$1***@");
  for (const secret of secrets) {
    if (secret.length < 3) continue; // too short to redact without mangling ordinary words
    for (const form of new Set([secret, encodeURIComponent(secret)]))
      out = out.split(form).join("***");
  }
  return out;
}
