import { helmLint, helmTemplateRun, type ChartValues, type RunResult } from '../src/helm';
import { chartValueSets, withRequired } from '../src/value-sets';

// `helm lint --strict` (real helm v4) over every value set, and the chart refusing what a
// user can get wrong: values.schema.json for each value alone, templates/validate.yaml
// for what needs two of them.

describe('helm lint --strict', () => {
  test.each(chartValueSets().map(({ name, values }) => [name, values] as const))('%s passes', (_name, values) => {
    const result = helmLint(values);
    expect(`${result.stdout}${result.stderr}`).toContain('0 chart(s) failed');
    expect(result.status).toBe(0);
  });
});

function expectFailure(result: RunResult, message: RegExp) {
  expect(result.status).not.toBe(0);
  expect(`${result.stdout}${result.stderr}`).toMatch(message);
}

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
    ['an Anthropic key shorter than 8 characters', ['secrets.anthropicApiKey=sk-1234'], /at '\/secrets\/anthropicApiKey'/],
    ['a webhook secret shorter than 16 characters', ['secrets.alertWebhookSecret=tiny-s3cret'], /at '\/secrets\/alertWebhookSecret'/],
    ['a root user id', ['podSecurityContext.runAsUser=0'], /at '\/podSecurityContext\/runAsUser'/],
    ['an autoscaler allowed down to one replica', ['orchestrator.autoscaling.minReplicas=1'], /at '\/orchestrator\/autoscaling\/minReplicas': minimum: got 1, want 2/],
    ['an agent autoscaler allowed down to one replica', ['writerAgent.autoscaling.minReplicas=1'], /at '\/writerAgent\/autoscaling\/minReplicas'/],
    [
      'a typo in a NetworkPolicy peer',
      ['networkPolicy.apiFrom[0].namespaceSelectr.matchLabels.team=web'],
      /at '\/networkPolicy\/apiFrom\/0': additional properties 'namespaceSelectr' not allowed/,
    ],
    ['a typo in a label selector', ['networkPolicy.metricsFrom[0].podSelector.matchLabel.app=prometheus'], /additional properties 'matchLabel' not allowed/],
    [
      'an ipBlock combined with a selector',
      ['networkPolicy.postgres.to[0].ipBlock.cidr=10.0.0.0/8', 'networkPolicy.postgres.to[0].podSelector.matchLabels.app=db'],
      /at '\/networkPolicy\/postgres\/to\/0'/,
    ],
    ['a typo in a toleration', ['researchAgent.tolerations[0].key=pool', 'researchAgent.tolerations[0].efect=NoSchedule'], /additional properties 'efect' not allowed/],
    ['an unknown toleration effect', ['orchestrator.tolerations[0].effect=NoScheduling'], /at '\/orchestrator\/tolerations\/0\/effect'/],
    ['a typo in an extra egress rule', ['writerAgent.extraEgress[0].too[0].ipBlock.cidr=10.1.0.0/16'], /additional properties 'too' not allowed/],
    ['a typo in an egress port', ['orchestrator.extraEgress[0].ports[0].prot=443'], /additional properties 'prot' not allowed/],
    ['a typo in the kind of affinity', ['orchestrator.affinity.nodeAfinity.x=y'], /additional properties 'nodeAfinity' not allowed/],
  ];

  test.each(refused)('refuses %s: helm lint fails naming it', (_what, set, message) => {
    expectFailure(helmLint(withRequired(...set)), message);
  });
});

describe('templates/validate.yaml (helm install, upgrade and template stop; helm lint only logs a template `fail`)', () => {
  const refused = (values: ChartValues, message: RegExp) => expectFailure(helmTemplateRun(values), message);
  const renders = (values: ChartValues) => expect(helmTemplateRun(values).stderr).toBe('');

  test('refuses an install without a database, naming both ways to give one', () => {
    refused({ set: ['image.registry=registry.example.com'] }, /no database configured: set secrets\.databaseUrl .* or secrets\.existingSecret/);
    renders({ set: ['image.registry=registry.example.com', 'secrets.existingSecret=atelier'] });
  });

  test('refuses an install without an image registry rather than pull docker.io/atelier', () => {
    refused({ set: ['secrets.existingSecret=atelier'] }, /image\.registry is empty: .*does not fall back to Docker Hub/);
  });

  test('refuses maxReplicas below minReplicas, but not when autoscaling is off', () => {
    refused(
      withRequired('researchAgent.autoscaling.minReplicas=4', 'researchAgent.autoscaling.maxReplicas=3'),
      /researchAgent\.autoscaling\.maxReplicas \(3\) is below minReplicas \(4\)/,
    );
    refused(withRequired('orchestrator.autoscaling.maxReplicas=1'), /orchestrator\.autoscaling\.maxReplicas \(1\) is below minReplicas \(2\)/);
    renders(withRequired('autoscaling.enabled=false', 'orchestrator.autoscaling.maxReplicas=1'));
  });

  test('refuses an LLM gateway on a port the agents may not reach, accepts it once the port is open', () => {
    refused(
      withRequired('llm.baseUrl=http://llm-gateway.internal:8080'),
      /llm\.baseUrl http:\/\/llm-gateway\.internal:8080 uses port 8080, which the agents' NetworkPolicy does not open/,
    );
    refused(withRequired('llm.baseUrl=http://10.0.0.15'), /uses port 80,/);
    renders(withRequired('llm.baseUrl=http://llm-gateway.internal:8080', 'networkPolicy.anthropic.ports={8080}'));
    renders(withRequired('llm.baseUrl=https://10.0.0.15'));
  });
});
