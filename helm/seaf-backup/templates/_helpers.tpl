{{/*
The chart name.
*/}}
{{- define "seaf-backup.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The full name: the prefix of every resource name (at most 63 characters).
*/}}
{{- define "seaf-backup.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/*
The name of one component's resources: <fullname>-<component>. Call with (list $ "coordinator").
*/}}
{{- define "seaf-backup.componentName" -}}
{{- $root := index . 0 }}
{{- printf "%s-%s" (include "seaf-backup.fullname" $root) (index . 1) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Chart name and version, for the helm.sh/chart label.
*/}}
{{- define "seaf-backup.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Labels of every resource.
*/}}
{{- define "seaf-backup.labels" -}}
helm.sh/chart: {{ include "seaf-backup.chart" . }}
{{ include "seaf-backup.selectorLabels" . }}
{{- if .Chart.AppVersion }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: seaf-backup
{{- end }}

{{/*
Selector labels shared by every resource.
*/}}
{{- define "seaf-backup.selectorLabels" -}}
app.kubernetes.io/name: {{ include "seaf-backup.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
Labels of one component's resources. Call with (list $ "coordinator").
*/}}
{{- define "seaf-backup.componentLabels" -}}
{{ include "seaf-backup.labels" (index . 0) }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end }}

{{/*
Selector labels of one component. Call with (list $ "coordinator").
*/}}
{{- define "seaf-backup.componentSelectorLabels" -}}
{{ include "seaf-backup.selectorLabels" (index . 0) }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end }}

{{/*
The ServiceAccount the pods run as.
*/}}
{{- define "seaf-backup.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "seaf-backup.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
The image reference; the tag defaults to the chart's appVersion.
*/}}
{{- define "seaf-backup.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion | toString) }}
{{- end }}

{{/*
The Secret holding sync-token, jwt-private-key, database-url and redis-url.
*/}}
{{- define "seaf-backup.secretName" -}}
{{- default (include "seaf-backup.fullname" .) .Values.existingSecret }}
{{- end }}

{{/*
Where the ConfigMap is mounted, and the config file every component is started with.
*/}}
{{- define "seaf-backup.configDir" -}}/etc/seaf-backup{{- end }}
{{- define "seaf-backup.configFile" -}}/etc/seaf-backup/seaf-backup.toml{{- end }}

{{/*
The coordinator's in-cluster URL, used by the gateway and the fetchers.
*/}}
{{- define "seaf-backup.coordinatorUrl" -}}
{{- printf "%s://%s:%v" (include "seaf-backup.grpcScheme" .) (include "seaf-backup.componentName" (list . "coordinator")) .Values.coordinator.port }}
{{- end }}
{{- define "seaf-backup.grpcScheme" -}}{{ ternary "https" "http" (.Values.coordinator.tls.enabled | default false) }}{{- end }}

{{/*
gRPC TLS (coordinator.tls): where the coordinator's TLS Secret (tls.crt, tls.key, ca.crt) and the
client certificate's Secret (tls.crt, tls.key) are mounted. Only the coordinator mounts the server
key; the gateway and the fetchers get ca.crt alone.
*/}}
{{- define "seaf-backup.tlsDir" -}}/etc/seaf-backup-tls/server{{- end }}
{{- define "seaf-backup.tlsClientDir" -}}/etc/seaf-backup-tls/client{{- end }}

{{/*
The TLS volume mounts of a component. Call with (list $ COMPONENT).
*/}}
{{- define "seaf-backup.tlsMounts" -}}
{{- $root := index . 0 -}}
{{- $t := $root.Values.coordinator.tls -}}
{{- if $t.enabled }}
- name: grpc-tls
  mountPath: {{ include "seaf-backup.tlsDir" $root }}
  readOnly: true
{{- if $t.mutual }}
- name: grpc-tls-client
  mountPath: {{ include "seaf-backup.tlsClientDir" $root }}
  readOnly: true
{{- end }}
{{- end }}
{{- end }}

{{/*
The TLS volumes of a component. Call with (list $ COMPONENT).
*/}}
{{- define "seaf-backup.tlsVolumes" -}}
{{- $root := index . 0 -}}
{{- $t := $root.Values.coordinator.tls -}}
{{- if $t.enabled }}
- name: grpc-tls
  secret:
    secretName: {{ $t.secretName }}
    {{- if ne (index . 1) "coordinator" }}
    items:
      - key: ca.crt
        path: ca.crt
    {{- end }}
{{- if $t.mutual }}
- name: grpc-tls-client
  secret:
    secretName: {{ $t.clientSecretName }}
{{- end }}
{{- end }}
{{- end }}

{{/*
The environment that lets the seaf-backup CLI run with kubectl exec over TLS: the CA (and the
client certificate under mutual TLS). Call with (list $ COMPONENT).
*/}}
{{- define "seaf-backup.cliTlsEnv" -}}
{{- $root := index . 0 -}}
{{- $t := $root.Values.coordinator.tls -}}
{{- if $t.enabled }}
- name: SEAF_BACKUP_CA_CERT
  value: {{ printf "%s/ca.crt" (include "seaf-backup.tlsDir" $root) | quote }}
{{- if eq (index . 1) "coordinator" }}
{{- /* In its own pod the CLI connects to 127.0.0.1: it checks the certificate against the Service name. */}}
- name: SEAF_BACKUP_TLS_DOMAIN
  value: {{ include "seaf-backup.componentName" (list $root "coordinator") | quote }}
{{- end }}
{{- if $t.mutual }}
- name: SEAF_BACKUP_CLIENT_CERT
  value: {{ printf "%s/tls.crt" (include "seaf-backup.tlsClientDir" $root) | quote }}
- name: SEAF_BACKUP_CLIENT_KEY
  value: {{ printf "%s/tls.key" (include "seaf-backup.tlsClientDir" $root) | quote }}
{{- end }}
{{- end }}
{{- end }}

{{/*
A probe of the coordinator's gRPC port. Kubernetes' gRPC probes cannot speak TLS, so with
coordinator.tls on the probes only open a TCP connection. Call with (list $ SERVICE PROBE_TIMINGS).
*/}}
{{- define "seaf-backup.coordinatorProbe" -}}
{{- $root := index . 0 -}}
{{- if $root.Values.coordinator.tls.enabled }}
tcpSocket:
  port: {{ $root.Values.coordinator.port }}
{{- else }}
grpc:
  port: {{ $root.Values.coordinator.port }}
  service: {{ index . 1 | quote }}
{{- end }}
{{ toYaml (index . 2) }}
{{- end }}

{{/*
A TOML value: strings are quoted and escaped (a JSON string is a valid TOML basic string),
numbers and booleans are written as they are.
*/}}
{{- define "seaf-backup.toml" -}}
{{- toJson . }}
{{- end }}

{{/*
Whole seconds of a duration given as "20s", "2m", "1h" or "500ms"; empty for any other form.
*/}}
{{- define "seaf-backup.seconds" -}}
{{- $d := toString . | trim }}
{{- if regexMatch "^[0-9]+ms$" $d }}
{{- div (trimSuffix "ms" $d | atoi) 1000 }}
{{- else if regexMatch "^[0-9]+s$" $d }}
{{- trimSuffix "s" $d | atoi }}
{{- else if regexMatch "^[0-9]+m$" $d }}
{{- mul (trimSuffix "m" $d | atoi) 60 }}
{{- else if regexMatch "^[0-9]+h$" $d }}
{{- mul (trimSuffix "h" $d | atoi) 3600 }}
{{- end }}
{{- end }}

{{/*
One secret environment variable. Call with (dict "root" $ "env" NAME "key" KEY "optional" BOOL).
*/}}
{{- define "seaf-backup.secretEnv" -}}
- name: {{ .env }}
  valueFrom:
    secretKeyRef:
      name: {{ include "seaf-backup.secretName" .root }}
      key: {{ .key }}
      {{- if .optional }}
      optional: true
      {{- end }}
{{- end }}

{{/*
Environment shared by every container. SEAF_BACKUP_CONFIG names the config file for commands run
with kubectl exec; SEAF_BACKUP_COORDINATOR is where the seaf-backup CLI connects: the coordinator's
own port in its pod (so the CLI answers even while the pod is not ready), its Service elsewhere.
Call with (list $ COORDINATOR_URL).
*/}}
{{- define "seaf-backup.commonEnv" -}}
{{- $root := index . 0 -}}
- name: SEAF_BACKUP_CONFIG
  value: {{ include "seaf-backup.configFile" $root }}
- name: SEAF_BACKUP_COORDINATOR
  value: {{ index . 1 | quote }}
- name: RUST_LOG
  value: {{ $root.Values.logLevel | quote }}
{{- with $root.Values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
Pod annotations: restart the pods when the rendered configuration (or the chart's Secret) changes.
Call with (list $ COMPONENT_POD_ANNOTATIONS).
*/}}
{{- define "seaf-backup.podAnnotations" -}}
{{- $root := index . 0 -}}
checksum/config: {{ include (print $root.Template.BasePath "/configmap.yaml") $root | sha256sum }}
{{- if not $root.Values.existingSecret }}
checksum/secret: {{ include (print $root.Template.BasePath "/secret.yaml") $root | sha256sum }}
{{- end }}
{{- with $root.Values.podAnnotations }}
{{ toYaml . }}
{{- end }}
{{- with index . 1 }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
Pod-level settings shared by every component: pull secrets, service account, security context,
scheduling. Call with (list $ COMPONENT_VALUES).
*/}}
{{- define "seaf-backup.podSpecCommon" -}}
{{- $root := index . 0 -}}
{{- $c := index . 1 -}}
{{- with $root.Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
serviceAccountName: {{ include "seaf-backup.serviceAccountName" $root }}
automountServiceAccountToken: {{ $root.Values.serviceAccount.automount }}
enableServiceLinks: false
{{- with $root.Values.podSecurityContext }}
securityContext:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with ($c.nodeSelector | default $root.Values.nodeSelector) }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with ($c.tolerations | default $root.Values.tolerations) }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with ($c.affinity | default $root.Values.affinity) }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/*
Checks the values; every template includes it first, so the first problem is the one reported,
whichever template Helm renders first. Renders nothing.
*/}}
{{- define "seaf-backup.validate" -}}
{{- $primary := required "backup.primaryUrl is required: the primary's sync API, e.g. --set backup.primaryUrl=https://seafile.example.com/seafhttp" .Values.backup.primaryUrl -}}
{{- if not (regexMatch "^https?://" (toString $primary)) }}
{{- fail (printf "backup.primaryUrl must be an http:// or https:// URL, not %q" (toString $primary)) }}
{{- end }}
{{- if not .Values.existingSecret }}
{{- $hint := "(or set existingSecret to a Secret with the keys sync-token, database-url and redis-url)" }}
{{- $_ := required (printf "backup.syncToken is required: the shared secret of the primary's [backup] sync_token %s" $hint) .Values.backup.syncToken }}
{{- $_ := required (printf "database.url is required: mysql://USER:PASSWORD@HOST:PORT/DATABASE of the backup's seafile database %s" $hint) .Values.database.url }}
{{- $_ := required (printf "redis.url is required: redis://[:PASSWORD@]HOST:PORT/DB of the job queue %s" $hint) .Values.redis.url }}
{{- end }}
{{- if not (has .Values.store.durability (list "syncfs" "fsync")) }}
{{- fail (printf "store.durability must be \"syncfs\" or \"fsync\", not %q" (toString .Values.store.durability)) }}
{{- end }}
{{- $grace := include "seaf-backup.seconds" .Values.fetcher.shutdownGrace }}
{{- if and $grace (ge (atoi $grace) (int .Values.fetcher.terminationGracePeriodSeconds)) }}
{{- fail (printf "fetcher.shutdownGrace (%s) must be shorter than fetcher.terminationGracePeriodSeconds (%v), or Kubernetes kills fetchers before they hand their jobs back" (toString .Values.fetcher.shutdownGrace) .Values.fetcher.terminationGracePeriodSeconds) }}
{{- end }}
{{- if not (has .Values.tracing.logFormat (list "text" "json")) }}
{{- fail (printf "tracing.logFormat must be \"text\" or \"json\", not %q" (toString .Values.tracing.logFormat)) }}
{{- end }}
{{- with .Values.tracing.otlpEndpoint }}
{{- if not (regexMatch "^https?://" (toString .)) }}
{{- fail (printf "tracing.otlpEndpoint must be an http:// or https:// URL, not %q" (toString .)) }}
{{- end }}
{{- end }}
{{- $tls := .Values.coordinator.tls }}
{{- if and $tls.enabled (not $tls.secretName) }}
{{- fail "coordinator.tls.enabled needs coordinator.tls.secretName: a Secret with tls.crt, tls.key and ca.crt" }}
{{- end }}
{{- if and $tls.mutual (not $tls.enabled) }}
{{- fail "coordinator.tls.mutual needs coordinator.tls.enabled: mutual TLS is TLS first" }}
{{- end }}
{{- if and $tls.mutual (not $tls.clientSecretName) }}
{{- fail "coordinator.tls.mutual needs coordinator.tls.clientSecretName: a Secret with the clients' tls.crt and tls.key" }}
{{- end }}
{{- if and .Values.metrics.serviceMonitor.enabled (not .Values.metrics.enabled) }}
{{- fail "metrics.serviceMonitor.enabled needs metrics.enabled: there is no /metrics to scrape" }}
{{- end }}
{{- $a := .Values.fetcher.autoscaling }}
{{- if $a.enabled }}
{{- if not .Values.metrics.enabled }}
{{- fail "fetcher.autoscaling.enabled needs metrics.enabled: the fetchers scale on the coordinator's seaf_backup_fetcher_demand" }}
{{- end }}
{{- if not (has $a.kind (list "hpa" "keda")) }}
{{- fail (printf "fetcher.autoscaling.kind must be \"hpa\" or \"keda\", not %q" (toString $a.kind)) }}
{{- end }}
{{- if or (lt (int $a.minReplicas) 1) (gt (int $a.minReplicas) (int $a.maxReplicas)) }}
{{- fail (printf "fetcher.autoscaling needs 1 <= minReplicas <= maxReplicas, not %v and %v" $a.minReplicas $a.maxReplicas) }}
{{- end }}
{{- if and (eq $a.kind "keda") (not $a.prometheusAddress) }}
{{- fail "fetcher.autoscaling.kind=keda needs fetcher.autoscaling.prometheusAddress: the Prometheus that scrapes the coordinator" }}
{{- end }}
{{- end }}
{{- $port := int .Values.metrics.port }}
{{- if and .Values.metrics.enabled (has $port (list (int .Values.coordinator.port) (int .Values.gateway.port))) }}
{{- fail (printf "metrics.port (%v) must differ from coordinator.port and gateway.port" .Values.metrics.port) }}
{{- end }}
{{- end }}

{{/*
The label matchers that pick this release's series in the alerts and the KEDA query.
*/}}
{{- define "seaf-backup.alertSelector" -}}
{{- .Values.metrics.prometheusRule.selector | default (printf "namespace=%q,job=~%q" .Release.Namespace (printf "%s-.+" (include "seaf-backup.fullname" .))) }}
{{- end }}
