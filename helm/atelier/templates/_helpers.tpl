{{/*
Names, labels and the pieces every workload shares. Workload helpers take a dict:
  root: the top-level context (.)
  key: the values key of the service (orchestrator, researchAgent, writerAgent, simulator)
*/}}

{{- define "atelier.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end }}

{{- define "atelier.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end }}

{{- define "atelier.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end }}

{{/* The Kubernetes component name of a values key. */}}
{{- define "atelier.component" -}}
{{- get (dict "orchestrator" "orchestrator" "researchAgent" "research-agent" "writerAgent" "writer-agent" "simulator" "llm-simulator") . -}}
{{- end }}

{{/* The agent name (libs/contracts AGENTS) of an agent's values key. */}}
{{- define "atelier.agent" -}}
{{- get (dict "researchAgent" "research" "writerAgent" "writer") . -}}
{{- end }}

{{/*
JetStream stream and durable consumer each agent pulls from, as in
libs/contracts/src/topology.ts (the chart checks in deploy/ compare them).
*/}}
{{- define "atelier.jetstream" -}}
{{- $topology := dict "research" (dict "stream" "AGENT_RESEARCH" "consumer" "research-workers") "writer" (dict "stream" "AGENT_WRITER" "consumer" "writer-workers") -}}
{{- toYaml (get $topology .) -}}
{{- end }}

{{/* dict root, component (optional: chart-wide objects have none) */}}
{{- define "atelier.selectorLabels" -}}
app.kubernetes.io/name: {{ include "atelier.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
{{- with .component }}
app.kubernetes.io/component: {{ . }}
{{- end }}
{{- end }}

{{- define "atelier.labels" -}}
helm.sh/chart: {{ include "atelier.chart" .root }}
{{ include "atelier.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/part-of: atelier
{{- with .root.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "atelier.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "atelier.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end }}

{{- define "atelier.secretName" -}}
{{- default (include "atelier.fullname" .) .Values.secrets.existingSecret -}}
{{- end }}

{{/* dict root, image (a service's image values); templates/validate.yaml requires the registry. */}}
{{- define "atelier.image" -}}
{{- $image := .root.Values.image -}}
{{- $tag := .image.tag | default $image.tag | default .root.Chart.AppVersion -}}
{{- printf "%s/%s/%s:%s" (trimSuffix "/" $image.registry) $image.repository .image.name $tag -}}
{{- end }}

{{/* Whether a service's replica count belongs to an autoscaler. dict root, key */}}
{{- define "atelier.autoscaled" -}}
{{- if and .root.Values.autoscaling.enabled (ne .key "simulator") -}}true{{- end -}}
{{- end }}

{{/*
Environment of one service (string → string): typed values, then `config`, then the
service's own `config`. dict root, key
*/}}
{{- define "atelier.configData" -}}
{{- $root := .root -}}
{{- $values := $root.Values -}}
{{- $service := get $values .key -}}
{{- $data := dict "PORT" (toString $service.port) "NODE_OPTIONS" (printf "--max-old-space-size=%d" (int64 $values.heapLimitMb)) -}}
{{- if eq .key "simulator" -}}
{{- $_ := set $data "HOST" "0.0.0.0" -}}
{{- else -}}
{{- $_ := set $data "NATS_URL" $values.nats.url -}}
{{- $_ := set $data "LOG_LEVEL" $values.logLevel -}}
{{- $_ := set $data "SHUTDOWN_GRACE_MS" (toString (int64 $values.shutdownGraceMs)) -}}
{{- $_ := set $data "DATABASE_POOL_MAX" (toString (int64 $values.databasePoolMax)) -}}
{{- $_ := set $data "LISTEN_HOST" "0.0.0.0" -}}
{{- with $values.otlpEndpoint }}{{ $_ := set $data "OTEL_EXPORTER_OTLP_ENDPOINT" . }}{{ end -}}
{{- if eq .key "orchestrator" -}}
{{- $_ := set $data "RESULTS_CONCURRENCY" (toString (int64 $service.resultsConcurrency)) -}}
{{- $_ := set $data "HTTP_BODY_LIMIT_BYTES" (toString (int64 $service.httpBodyLimitBytes)) -}}
{{- else -}}
{{- $_ := set $data "AGENT_CONCURRENCY" (toString (int64 $service.concurrency)) -}}
{{- $_ := set $data "LLM_TIMEOUT_MS" (toString (int64 $values.llm.timeoutMs)) -}}
{{- with $values.llm.pricingOverrides }}{{ $_ := set $data "LLM_PRICING_OVERRIDES" . }}{{ end -}}
{{- if $values.simulator.enabled -}}
{{- $_ := set $data "LLM_MODE" "simulator" -}}
{{- $_ := set $data "ANTHROPIC_BASE_URL" (printf "http://%s-llm-simulator:%d" (include "atelier.fullname" $root) (int64 $values.simulator.port)) -}}
{{- else -}}
{{- $_ := set $data "LLM_MODE" "anthropic" -}}
{{- with $values.llm.baseUrl }}{{ $_ := set $data "ANTHROPIC_BASE_URL" . }}{{ end -}}
{{- end -}}
{{- end -}}
{{- range $name, $value := $values.config }}{{ $_ := set $data $name $value }}{{ end -}}
{{- end -}}
{{- range $name, $value := $service.config }}{{ $_ := set $data $name $value }}{{ end -}}
{{- toYaml $data -}}
{{- end }}

{{/* Secret variables each service reads. */}}
{{- define "atelier.secretVariables" -}}
{{- $common := list "DATABASE_URL" "NATS_USER" "NATS_PASSWORD" "NATS_TOKEN" -}}
{{- $byKey := dict "orchestrator" (concat $common (list "ATELIER_BOOTSTRAP_API_KEY" "ATELIER_ALERT_WEBHOOK_SECRET")) "researchAgent" (append $common "ANTHROPIC_API_KEY") "writerAgent" (append $common "ANTHROPIC_API_KEY") "simulator" (list) -}}
{{- toJson (get $byKey .) -}}
{{- end }}

{{/* Which field of secrets / secrets.keys holds each variable. */}}
{{- define "atelier.secretField" -}}
{{- get (dict "DATABASE_URL" "databaseUrl" "ANTHROPIC_API_KEY" "anthropicApiKey" "NATS_USER" "natsUser" "NATS_PASSWORD" "natsPassword" "NATS_TOKEN" "natsToken" "ATELIER_BOOTSTRAP_API_KEY" "bootstrapApiKey" "ATELIER_ALERT_WEBHOOK_SECRET" "alertWebhookSecret") . -}}
{{- end }}

{{/*
env entries reading secrets by key; only DATABASE_URL is mandatory (a missing key
stops the pod with an event naming it). dict root, key, secretName
*/}}
{{- define "atelier.secretEnv" -}}
{{- $root := .root -}}
{{- $secretName := .secretName -}}
{{- range $variable := include "atelier.secretVariables" .key | fromJsonArray }}
- name: {{ $variable }}
  valueFrom:
    secretKeyRef:
      name: {{ $secretName }}
      key: {{ get $root.Values.secrets.keys (include "atelier.secretField" $variable) }}
      {{- if ne $variable "DATABASE_URL" }}
      optional: true
      {{- end }}
{{- end }}
{{- end }}

{{/* data of the chart-made Secret: only the values that are set. dict root, variables */}}
{{- define "atelier.secretData" -}}
{{- $secrets := .root.Values.secrets -}}
{{- range $variable := .variables }}
{{- $field := include "atelier.secretField" $variable }}
{{- with get $secrets $field }}
{{ get $secrets.keys $field }}: {{ . | b64enc | quote }}
{{- end }}
{{- end }}
{{- end }}

{{- define "atelier.allSecretVariables" -}}
{{- toJson (list "DATABASE_URL" "ANTHROPIC_API_KEY" "NATS_USER" "NATS_PASSWORD" "NATS_TOKEN" "ATELIER_BOOTSTRAP_API_KEY" "ATELIER_ALERT_WEBHOOK_SECRET") -}}
{{- end }}

{{/*
Where the migration Job reads its DATABASE_URL: the schema owner's login when one is
configured, else the services' own (one login for both). Services never read it.
JSON {secret, key, shared}
*/}}
{{- define "atelier.migrationLogin" -}}
{{- $secrets := .Values.secrets -}}
{{- $fullname := include "atelier.fullname" . -}}
{{- if $secrets.existingSecret -}}
{{- $key := $secrets.keys.migrationDatabaseUrl | default $secrets.keys.databaseUrl -}}
{{- toJson (dict "secret" $secrets.existingSecret "key" $key "shared" (eq $key $secrets.keys.databaseUrl)) -}}
{{- else -}}
{{- $url := $secrets.migrationDatabaseUrl | default $secrets.databaseUrl -}}
{{- toJson (dict "secret" (printf "%s-migrations" $fullname) "key" $secrets.keys.databaseUrl "url" $url "shared" (eq $url $secrets.databaseUrl)) -}}
{{- end -}}
{{- end }}

{{/*
terminationGracePeriodSeconds of a service: the longest it can take to stop by itself
(preStop pause, then SHUTDOWN_GRACE_MS for in-flight work and the 15 s the process gives
the rest of its close before it exits: shutdownTimeoutMs in apps/orchestrator/src/main.ts
and libs/agent-runtime/src/run-agent.ts), plus a margin. dict root, key
*/}}
{{- define "atelier.processCloseMarginSeconds" -}}15{{- end }}

{{- define "atelier.preStopSeconds" -}}
{{- $service := get .root.Values .key -}}
{{- ternary (int64 ($service.preStopSleepSeconds | default 0)) 0 (eq .key "orchestrator") -}}
{{- end }}

{{- define "atelier.terminationGraceSeconds" -}}
{{- $values := .root.Values -}}
{{- $drain := div (add (int64 $values.shutdownGraceMs) 999) 1000 -}}
{{- add (include "atelier.preStopSeconds" . | int64) $drain (include "atelier.processCloseMarginSeconds" . | int64) (int64 $values.terminationGraceExtraSeconds) -}}
{{- end }}

{{- define "atelier.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ int64 .Values.podSecurityContext.runAsUser }}
runAsGroup: {{ int64 .Values.podSecurityContext.runAsGroup }}
fsGroup: {{ int64 .Values.podSecurityContext.fsGroup }}
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{- define "atelier.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
capabilities:
  drop:
    - ALL
{{- end }}

{{/* The only writable path: the root filesystem is read-only. */}}
{{- define "atelier.tmpVolume" -}}
- name: tmp
  emptyDir:
    sizeLimit: {{ .Values.tmpSizeLimit }}
{{- end }}

{{- define "atelier.tmpMount" -}}
- name: tmp
  mountPath: /tmp
{{- end }}

{{/* Pod-level settings every Atelier pod shares. */}}
{{- define "atelier.podBasics" -}}
serviceAccountName: {{ include "atelier.serviceAccountName" . }}
automountServiceAccountToken: false
enableServiceLinks: false
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  {{- include "atelier.podSecurityContext" . | nindent 2 }}
{{- end }}

{{/* One NetworkPolicy egress rule: TCP ports to peers (no peers: any destination). dict ports, to */}}
{{- define "atelier.egressRule" -}}
- ports:
    {{- range .ports }}
    - port: {{ . }}
      protocol: TCP
    {{- end }}
  {{- with .to }}
  to:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}

{{- define "atelier.dnsEgressRule" -}}
- ports:
    - port: 53
      protocol: UDP
    - port: 53
      protocol: TCP
  {{- with .Values.networkPolicy.dns.to }}
  to:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}
