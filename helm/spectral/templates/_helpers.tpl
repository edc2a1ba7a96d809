{{/*
Names, labels, images and settings. The workload building blocks are in _workloads.tpl.
*/}}

{{- define "spectral.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 40 | trimSuffix "-" }}
{{- end }}

{{/*
The prefix of every resource. 40 characters leave room for the longest suffix
("-governance-worker") within the 63 a Service name or label value may have.
*/}}
{{- define "spectral.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "spectral.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The services, in the order the docs list them. */}}
{{- define "spectral.serviceNames" -}}
{{- toJson (list "auth" "governance" "audit" "billing" "reports") }}
{{- end }}

{{- define "spectral.targetNames" -}}
{{- toJson (list "web" "worker" "relay") }}
{{- end }}

{{/*
A service's target with the chart-wide defaults of its type merged under it.
Input: (dict "root" $ "service" "auth" "target" "web").
*/}}
{{- define "spectral.targetValues" -}}
{{- $defaults := index .root.Values.defaults .target }}
{{- $overrides := index (index .root.Values.services .service) .target | default dict }}
{{- toJson (mergeOverwrite (deepCopy $defaults) (deepCopy $overrides)) }}
{{- end }}

{{/*
The components whose web target runs, e.g. ["auth-web", ...]: what the gateway and the platform
router reach.
*/}}
{{- define "spectral.webComponents" -}}
{{- $root := . }}
{{- $components := list }}
{{- range $service := include "spectral.serviceNames" . | fromJsonArray }}
{{- $web := include "spectral.targetValues" (dict "root" $root "service" $service "target" "web") | fromJson }}
{{- if $web.enabled }}
{{- $components = append $components (printf "%s-web" $service) }}
{{- end }}
{{- end }}
{{- toJson $components }}
{{- end }}

{{/* Every enabled service target, plus the migrations: the pods that use the data stores. */}}
{{- define "spectral.serviceComponents" -}}
{{- $root := . }}
{{- $components := list }}
{{- range $service := include "spectral.serviceNames" . | fromJsonArray }}
{{- range $target := include "spectral.targetNames" $root | fromJsonArray }}
{{- $values := include "spectral.targetValues" (dict "root" $root "service" $service "target" $target) | fromJson }}
{{- if $values.enabled }}
{{- $components = append $components (printf "%s-%s" $service $target) }}
{{- end }}
{{- end }}
{{- end }}
{{- if .Values.migrations.enabled }}
{{- $components = append $components "migrations" }}
{{- end }}
{{- toJson $components }}
{{- end }}

{{/* Every pod of the release carries these; the deny-all policy selects by them. */}}
{{- define "spectral.releaseSelectorLabels" -}}
app.kubernetes.io/name: {{ include "spectral.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Input: (dict "root" $ "component" "auth-web"). */}}
{{- define "spectral.selectorLabels" -}}
{{ include "spectral.releaseSelectorLabels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* Input: (dict "root" $ "component" "auth-web"). */}}
{{- define "spectral.labels" -}}
helm.sh/chart: {{ include "spectral.chart" .root }}
{{ include "spectral.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/part-of: spectral
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
{{- end }}

{{/* Input: (dict "root" $ "image" "auth"): [<registry>/]spectral-auth:<tag or appVersion>. */}}
{{- define "spectral.image" -}}
{{- $image := .root.Values.image }}
{{- $prefix := ternary "" (printf "%s/" (trimSuffix "/" $image.registry)) (empty $image.registry) }}
{{- printf "%sspectral-%s:%s" $prefix .image (default .root.Chart.AppVersion $image.tag) }}
{{- end }}

{{/* The name of a component's ServiceAccount. Input: (dict "root" $ "component" "auth"). */}}
{{- define "spectral.serviceAccountName" -}}
{{- if .root.Values.serviceAccount.create }}
{{- printf "%s-%s" (include "spectral.fullname" .root) .component }}
{{- else }}
{{- .root.Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "spectral.configMapName" -}}
{{- printf "%s-config" (include "spectral.fullname" .) }}
{{- end }}

{{/*
The non-secret settings, NAME: "value". The ConfigMap holds them; the migration hook gets them
inline (see migrations-job.yaml), so there is one source.
*/}}
{{- define "spectral.configData" -}}
{{- $config := .Values.config }}
{{- $data := dict
  "SPECTRAL_ENV" $config.environment
  "BASE_URL" (required "config.baseUrl is required: the public https:// address of the gateway (access-token issuer, links in e-mails)" $config.baseUrl)
  "LOG_LEVEL" $config.logLevel
  "AUTH_INTERNAL_URL" (printf "http://%s-auth-web:8000" (include "spectral.fullname" .))
  "VAR_DIR" "/var/lib/spectral"
  "AWS_REGION" $config.awsRegion
}}
{{- with $config.awsS3Bucket }}{{ $_ := set $data "AWS_S3_BUCKET" . }}{{ end }}
{{- with $config.s3EndpointUrl }}{{ $_ := set $data "S3_ENDPOINT_URL" . }}{{ end }}
{{- with $config.otel.endpoint }}{{ $_ := set $data "OTEL_EXPORTER_OTLP_ENDPOINT" . }}{{ end }}
{{- with $config.otel.tracesExporter }}{{ $_ := set $data "OTEL_TRACES_EXPORTER" . }}{{ end }}
{{- with $config.otel.tracesSampler }}{{ $_ := set $data "OTEL_TRACES_SAMPLER" . }}{{ end }}
{{- with $config.otel.tracesSamplerArg }}{{ $_ := set $data "OTEL_TRACES_SAMPLER_ARG" . }}{{ end }}
{{- range $name, $value := $config.extraEnv }}{{ $_ := set $data $name (toString $value) }}{{ end }}
{{- range $name := keys $data | sortAlpha }}
{{ $name }}: {{ index $data $name | quote }}
{{- end }}
{{- end }}

{{/* A NAME: value map as a container env list, in name order. */}}
{{- define "spectral.envList" -}}
{{- range $name := keys . | sortAlpha }}
- name: {{ $name }}
  value: {{ index $ $name | toString | quote }}
{{- end }}
{{- end }}

{{/*
A label selector for some of the release's components, by app.kubernetes.io/component.
Input: (dict "root" $ "components" (list "auth-web" ...)).
*/}}
{{- define "spectral.componentsSelector" -}}
matchLabels:
  {{- include "spectral.releaseSelectorLabels" .root | nindent 2 }}
matchExpressions:
  - key: app.kubernetes.io/component
    operator: In
    values: {{ toJson .components }}
{{- end }}

{{/* A NetworkPolicy peer (a list item): those components' pods in the release's namespace. */}}
{{- define "spectral.componentsPeer" -}}
- podSelector:
    {{- include "spectral.componentsSelector" . | nindent 4 }}
{{- end }}
