{{/*
The workload building blocks every component uses: hardened pods, probes, Deployment, Service,
HorizontalPodAutoscaler, PodDisruptionBudget, ServiceAccount. A component is described once, as a
dict, and handed to these; services.yaml and gateway.yaml hold no Deployment of their own.

A workload dict:
  root            the chart root ($)
  component       "auth-web", "gateway", ...: the name suffix and app.kubernetes.io/component
  account         the ServiceAccount's component ("auth" for all of auth's targets)
  container       the container's name ("web", "gateway", ...)
  image           spectral-<image>
  args            the container's args (the image's ENTRYPOINT is `spectral`); none: its CMD
  values          replicas, resources, autoscaling, pdb, nodeSelector, tolerations, affinity, extraEnv
  env             NAME: value the component needs; values.extraEnv wins over it
  secret          the Secret to read with envFrom, or ""
  ports           [{name, port}]
  probe           {port, scheme, readinessPath}
  scrape          add the prometheus.io annotations (port 8000, /metrics)
  extraVolumes, extraVolumeMounts   more volumes (the gateway's certificate)
*/}}

{{- define "spectral.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
fsGroup: 10001
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{- define "spectral.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/* The root filesystem is read-only: /tmp and VAR_DIR are the only places a process writes. */}}
{{- define "spectral.writableVolumes" -}}
- name: tmp
  emptyDir:
    sizeLimit: 256Mi
- name: var
  emptyDir:
    sizeLimit: 1Gi
{{- end }}

{{- define "spectral.writableVolumeMounts" -}}
- name: tmp
  mountPath: /tmp
- name: var
  mountPath: /var/lib/spectral
{{- end }}

{{/*
Liveness and start-up ask /livez: the process itself (a web target answering, a worker's or
relay's loop still going round), never its dependencies, so a database outage restarts nothing
(ADR 0012, 0027); readiness asks the readiness path (/health: the target's dependencies).
Input: {port, scheme, readinessPath}.
*/}}
{{- define "spectral.probes" -}}
startupProbe:
  httpGet: {path: /livez, port: {{ .port }}, scheme: {{ .scheme }}}
  periodSeconds: 2
  timeoutSeconds: 2
  failureThreshold: 30
livenessProbe:
  httpGet: {path: /livez, port: {{ .port }}, scheme: {{ .scheme }}}
  periodSeconds: 10
  timeoutSeconds: 3
  failureThreshold: 3
readinessProbe:
  httpGet: {path: {{ .readinessPath }}, port: {{ .port }}, scheme: {{ .scheme }}}
  periodSeconds: 10
  timeoutSeconds: 5
  failureThreshold: 3
{{- end }}

{{- define "spectral.scheduling" -}}
{{- with .nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/* Input: (dict "root" $ "component" "auth" "annotations" {...}). */}}
{{- define "spectral.serviceAccount" -}}
{{- if .root.Values.serviceAccount.create -}}
apiVersion: v1
kind: ServiceAccount
metadata:
  name: {{ include "spectral.serviceAccountName" . }}
  labels:
    {{- include "spectral.labels" . | nindent 4 }}
  {{- with merge (deepCopy (.annotations | default dict)) .root.Values.serviceAccount.annotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
automountServiceAccountToken: false
{{- end }}
{{- end }}

{{- define "spectral.deployment" -}}
{{- $root := .root }}
{{- $values := .values }}
{{- $env := merge (deepCopy ($values.extraEnv | default dict)) (.env | default dict) -}}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "spectral.fullname" $root }}-{{ .component }}
  labels:
    {{- include "spectral.labels" . | nindent 4 }}
spec:
  {{- if not $values.autoscaling.enabled }}
  replicas: {{ $values.replicas }}
  {{- end }}
  revisionHistoryLimit: 5
  selector:
    matchLabels:
      {{- include "spectral.selectorLabels" . | nindent 6 }}
  template:
    metadata:
      labels:
        {{- include "spectral.labels" . | nindent 8 }}
      annotations:
        checksum/config: {{ include (print $root.Template.BasePath "/configmap.yaml") $root | sha256sum }}
        {{- if .scrape }}
        prometheus.io/scrape: "true"
        prometheus.io/port: "8000"
        prometheus.io/path: /metrics
        {{- end }}
    spec:
      serviceAccountName: {{ include "spectral.serviceAccountName" (dict "root" $root "component" .account) }}
      automountServiceAccountToken: false
      # No <SERVICE>_PORT variables from other Services: every setting comes from the chart.
      enableServiceLinks: false
      # Above gunicorn's 30-second graceful timeout, so requests and messages in flight finish.
      terminationGracePeriodSeconds: 45
      securityContext:
        {{- include "spectral.podSecurityContext" . | nindent 8 }}
      {{- with $root.Values.imagePullSecrets }}
      imagePullSecrets:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with include "spectral.scheduling" $values }}
      {{- . | trim | nindent 6 }}
      {{- end }}
      containers:
        - name: {{ .container }}
          image: {{ include "spectral.image" . }}
          imagePullPolicy: {{ $root.Values.image.pullPolicy }}
          {{- with .args }}
          args:
            {{- toYaml . | nindent 12 }}
          {{- end }}
          ports:
            {{- range .ports }}
            - name: {{ .name }}
              containerPort: {{ .port }}
              protocol: TCP
            {{- end }}
          {{- with $env }}
          env:
            {{- include "spectral.envList" . | trim | nindent 12 }}
          {{- end }}
          envFrom:
            - configMapRef:
                name: {{ include "spectral.configMapName" $root }}
            {{- with .secret }}
            - secretRef:
                name: {{ . }}
            {{- end }}
          {{- include "spectral.probes" .probe | nindent 10 }}
          resources:
            {{- toYaml $values.resources | nindent 12 }}
          securityContext:
            {{- include "spectral.containerSecurityContext" . | nindent 12 }}
          volumeMounts:
            {{- include "spectral.writableVolumeMounts" . | nindent 12 }}
            {{- with .extraVolumeMounts }}
            {{- toYaml . | nindent 12 }}
            {{- end }}
      volumes:
        {{- include "spectral.writableVolumes" . | nindent 8 }}
        {{- with .extraVolumes }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
{{- end }}

{{/*
Input: (dict "root" $ "component" "auth-web" "type" "ClusterIP" "ports" [{name, port, targetPort}]
"annotations" {...} "extra" {more spec fields}).
*/}}
{{- define "spectral.service" -}}
apiVersion: v1
kind: Service
metadata:
  name: {{ include "spectral.fullname" .root }}-{{ .component }}
  labels:
    {{- include "spectral.labels" . | nindent 4 }}
  {{- with .annotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
spec:
  type: {{ .type | default "ClusterIP" }}
  {{- with .extra }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
  selector:
    {{- include "spectral.selectorLabels" . | nindent 4 }}
  ports:
    {{- range .ports }}
    - name: {{ .name }}
      port: {{ .port }}
      targetPort: {{ .targetPort }}
      protocol: TCP
    {{- end }}
{{- end }}

{{/* Input: the workload dict; renders nothing unless values.autoscaling.enabled. */}}
{{- define "spectral.hpa" -}}
{{- $autoscaling := .values.autoscaling }}
{{- if $autoscaling.enabled -}}
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: {{ include "spectral.fullname" .root }}-{{ .component }}
  labels:
    {{- include "spectral.labels" . | nindent 4 }}
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: {{ include "spectral.fullname" .root }}-{{ .component }}
  minReplicas: {{ $autoscaling.minReplicas }}
  maxReplicas: {{ $autoscaling.maxReplicas }}
  metrics:
    - type: Resource
      resource:
        name: cpu
        target:
          type: Utilization
          averageUtilization: {{ $autoscaling.targetCPUUtilizationPercentage }}
{{- end }}
{{- end }}

{{/* Input: the workload dict; renders nothing for a single replica, which a PDB would pin. */}}
{{- define "spectral.pdb" -}}
{{- $values := .values }}
{{- $least := ternary $values.autoscaling.minReplicas $values.replicas $values.autoscaling.enabled }}
{{- if and $values.pdb.enabled (gt (int $least) 1) -}}
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ include "spectral.fullname" .root }}-{{ .component }}
  labels:
    {{- include "spectral.labels" . | nindent 4 }}
spec:
  maxUnavailable: {{ $values.pdb.maxUnavailable }}
  selector:
    matchLabels:
      {{- include "spectral.selectorLabels" . | nindent 6 }}
{{- end }}
{{- end }}

{{/* A step of the migrations Job. Input: {root, name, image, args, env, secret, resources}. */}}
{{- define "spectral.migrationStep" -}}
- name: {{ .name }}
  image: {{ include "spectral.image" . }}
  imagePullPolicy: {{ .root.Values.image.pullPolicy }}
  args: {{ toJson .args }}
  env:
    {{- include "spectral.envList" .env | trim | nindent 4 }}
  envFrom:
    - secretRef:
        name: {{ .secret }}
  resources:
    {{- toYaml .resources | nindent 4 }}
  securityContext:
    {{- include "spectral.containerSecurityContext" . | nindent 4 }}
  volumeMounts:
    {{- include "spectral.writableVolumeMounts" . | nindent 4 }}
{{- end }}

{{/* A workload with everything around it: Deployment, Service (when ports are published), HPA, PDB. */}}
{{- define "spectral.workload" -}}
---
{{ include "spectral.deployment" . }}
{{- with .service }}
---
{{ include "spectral.service" (merge (dict "root" $.root "component" $.component) .) }}
{{- end }}
{{- with include "spectral.hpa" . }}
---
{{ . }}
{{- end }}
{{- with include "spectral.pdb" . }}
---
{{ . }}
{{- end }}
{{- end }}
