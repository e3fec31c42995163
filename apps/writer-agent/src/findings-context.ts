// The research findings every writer call works from, sent as the request's shared
// `context` block: it is marked for prompt caching, so a second review round or a retried
// delivery (same system prompt, same findings) reads it from the cache instead of paying
// for it again.

export function findingsContext(findings: readonly string[]): string {
  return `Findings:\n\n${findings.join('\n\n---\n\n')}`;
}
