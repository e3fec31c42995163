{{/*
The Deployment, ConfigMap, Service and PodDisruptionBudget of one service.
dict root, key (values key); probes come from the service's health endpoints:
/health/live (no dependencies) and /health/ready (Postgres, NATS, consumer).
*/}}
{{- define "atelier.workload" -}}
{{- $root := .root -}}
{{- $values := $root.Values -}}
{{- $service := get $values .key -}}
{{- $component := include "atelier.component" .key -}}
{{- $name := printf "%s-%s" (include "atelier.fullname" $root) $component -}}
{{- $labels := dict "root" $root "component" $component -}}
{{- $live := ternary "/health" "/health/live" (eq .key "simulator") -}}
{{- $ready := ternary "/health" "/health/ready" (eq .key "simulator") -}}
{{- $preStop := include "atelier.preStopSeconds" . | int64 -}}
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ $name }}
  labels:
    {{- include "atelier.labels" $labels | nindent 4 }}
data:
  {{- include "atelier.configData" . | nindent 2 }}
---
apiVersion: v1
kind: Service
metadata:
  name: {{ $name }}
  labels:
    {{- include "atelier.labels" $labels | nindent 4 }}
  {{- with ($service.service | default dict).annotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
spec:
  type: {{ ($service.service | default dict).type | default "ClusterIP" }}
  selector:
    {{- include "atelier.selectorLabels" $labels | nindent 4 }}
  ports:
    - name: http
      port: {{ ($service.service | default dict).port | default $service.port }}
      targetPort: http
      protocol: TCP
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ $name }}
  labels:
    {{- include "atelier.labels" $labels | nindent 4 }}
spec:
  {{- if not (include "atelier.autoscaled" .) }}
  replicas: {{ $service.replicas }}
  {{- end }}
  revisionHistoryLimit: 5
  selector:
    matchLabels:
      {{- include "atelier.selectorLabels" $labels | nindent 6 }}
  strategy:
    type: RollingUpdate
    rollingUpdate:
      maxSurge: 25%
      maxUnavailable: 0
  template:
    metadata:
      labels:
        {{- include "atelier.labels" $labels | nindent 8 }}
        {{- with $service.podLabels }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      annotations:
        checksum/config: {{ include "atelier.configData" . | sha256sum }}
        {{- if not $values.secrets.existingSecret }}
        checksum/secret: {{ include "atelier.secretData" (dict "root" $root "variables" (include "atelier.secretVariables" .key | fromJsonArray)) | sha256sum }}
        {{- end }}
        {{- with $service.podAnnotations }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
    spec:
      {{- include "atelier.podBasics" $root | nindent 6 }}
      terminationGracePeriodSeconds: {{ include "atelier.terminationGraceSeconds" . }}
      {{- with $service.priorityClassName }}
      priorityClassName: {{ . }}
      {{- end }}
      {{- with $service.nodeSelector }}
      nodeSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $service.tolerations }}
      tolerations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $service.affinity }}
      affinity:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- if $values.topologySpread.enabled }}
      topologySpreadConstraints:
        {{- range $values.topologySpread.topologyKeys }}
        - topologyKey: {{ . }}
          maxSkew: {{ $values.topologySpread.maxSkew }}
          whenUnsatisfiable: {{ $values.topologySpread.whenUnsatisfiable }}
          labelSelector:
            matchLabels:
              {{- include "atelier.selectorLabels" $labels | nindent 14 }}
          matchLabelKeys:
            - pod-template-hash
        {{- end }}
      {{- end }}
      containers:
        - name: {{ $component }}
          image: {{ include "atelier.image" (dict "root" $root "image" $service.image) }}
          imagePullPolicy: {{ $values.image.pullPolicy }}
          ports:
            - name: http
              containerPort: {{ $service.port }}
              protocol: TCP
          envFrom:
            - configMapRef:
                name: {{ $name }}
          {{- with include "atelier.secretEnv" (dict "root" $root "key" .key "secretName" (include "atelier.secretName" $root)) }}
          env:
            {{- . | trim | nindent 12 }}
          {{- end }}
          startupProbe:
            httpGet:
              path: {{ $live }}
              port: http
            {{- toYaml $values.probes.startup | nindent 12 }}
          livenessProbe:
            httpGet:
              path: {{ $live }}
              port: http
            {{- toYaml $values.probes.liveness | nindent 12 }}
          readinessProbe:
            httpGet:
              path: {{ $ready }}
              port: http
            {{- toYaml $values.probes.readiness | nindent 12 }}
          {{- if gt $preStop 0 }}
          lifecycle:
            preStop:
              sleep:
                seconds: {{ $preStop }}
          {{- end }}
          resources:
            {{- toYaml $service.resources | nindent 12 }}
          securityContext:
            {{- include "atelier.containerSecurityContext" $root | nindent 12 }}
          volumeMounts:
            {{- include "atelier.tmpMount" $root | nindent 12 }}
      volumes:
        {{- include "atelier.tmpVolume" $root | nindent 8 }}
{{- if $service.pdb.enabled }}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ $name }}
  labels:
    {{- include "atelier.labels" $labels | nindent 4 }}
spec:
  maxUnavailable: {{ $service.pdb.maxUnavailable }}
  selector:
    matchLabels:
      {{- include "atelier.selectorLabels" $labels | nindent 6 }}
{{- end }}
{{- end }}
