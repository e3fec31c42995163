import { helmLint } from '../src/helm';
import { chartValueSets } from '../src/value-sets';

// `helm lint --strict` (real helm v4) over every value set, and values.schema.json
// refusing what a user can get wrong.

describe('helm lint --strict', () => {
  test.each(chartValueSets().map(({ name, values }) => [name, values] as const))('%s passes', (_name, values) => {
    const result = helmLint(values);
    expect(`${result.stdout}${result.stderr}`).toContain('0 chart(s) failed');
    expect(result.status).toBe(0);
  });
});

describe('values.schema.json', () => {
  const refused: Array<[string, string[], RegExp]> = [
    ['a typo in a top-level key', ['replicaCount=3'], /additional properties 'replicaCount' not allowed/],
    ['a typo in a nested key', ['orchestrator.replicaz=3'], /at '\/orchestrator': additional properties 'replicaz' not allowed/],
    ['a typo in an autoscaling key', ['researchAgent.autoscaling.maxReplica=9'], /additional properties 'maxReplica' not allowed/],
    ['a string where a port number goes', ['orchestrator.port=http'], /at '\/orchestrator\/port': got string, want integer/],
    ['a number where a boolean goes', ['networkPolicy.enabled=1'], /at '\/networkPolicy\/enabled': got number, want boolean/],
    ['an unknown autoscaling engine', ['autoscaling.engine=kubernetes'], /at '\/autoscaling\/engine'/],
    ['a secret variable in the open config map', ['config.ANTHROPIC_API_KEY=not-a-key'], /invalid propertyName 'ANTHROPIC_API_KEY'/],
    ['a non-string config value', ['writerAgent.config.FOO=1'], /got number, want string/],
    ['a bootstrap key shorter than 24 characters', ['secrets.bootstrapApiKey=short'], /at '\/secrets\/bootstrapApiKey'/],
    ['a root user id', ['podSecurityContext.runAsUser=0'], /at '\/podSecurityContext\/runAsUser'/],
  ];

  test.each(refused)('refuses %s: helm lint fails naming it', (_what, set, message) => {
    const result = helmLint({ set });
    expect(result.status).not.toBe(0);
    expect(`${result.stdout}${result.stderr}`).toMatch(message);
  });
});
