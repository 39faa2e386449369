{{/* vim: set filetype=mustache: */}}
{{/*
Name of the chart, overridable with nameOverride.
*/}}
{{- define "obsctl-app.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Fully qualified app name, used for every resource of the release.
Truncated at 63 characters because some Kubernetes name fields are limited to that (DNS labels).
If the release name already contains the chart name, it is used as is.
*/}}
{{- define "obsctl-app.fullname" -}}
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
Chart name and version, for the helm.sh/chart label.
*/}}
{{- define "obsctl-app.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Labels on every resource of the chart.
*/}}
{{- define "obsctl-app.labels" -}}
helm.sh/chart: {{ include "obsctl-app.chart" . }}
{{ include "obsctl-app.selectorLabels" . }}
app.kubernetes.io/version: {{ include "obsctl-app.version" . | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: obsctl
{{- end }}

{{/*
Labels that select the app Pods (Deployment, Service, ServiceMonitor, PDB, NetworkPolicy).
Never change them on a running release: a Deployment's selector is immutable.
*/}}
{{- define "obsctl-app.selectorLabels" -}}
app.kubernetes.io/name: {{ include "obsctl-app.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
Labels of the objects kube-prometheus-stack must discover (ServiceMonitor, PrometheusRule):
the common labels plus `release: <kube-prometheus-stack release>`, which is what its Prometheus
selects on when prometheusSpec.*SelectorNilUsesHelmValues are left at their default (true).
obsctl's kube-prometheus-stack values set them to false, so this label is a second safety net.
*/}}
{{- define "obsctl-app.monitoringLabels" -}}
{{ include "obsctl-app.labels" . }}
release: {{ .Values.monitoring.release | quote }}
{{- end }}

{{/*
Value of the app.kubernetes.io/version label: app.version, else the image tag, else the chart's
appVersion, made a valid label value ("+" of semver build metadata becomes "_", at most 63
characters). OBSAPP_VERSION in configmap.yaml gets the same choice unaltered.
*/}}
{{- define "obsctl-app.version" -}}
{{- .Values.app.version | default .Values.image.tag | default .Chart.AppVersion | replace "+" "_" | trunc 63 | trimSuffix "-" | trimSuffix "." }}
{{- end }}

{{/*
Container image reference: "repository@digest" when a digest is given (immutable, preferred),
else "repository:tag" with the tag defaulting to the chart's appVersion.
*/}}
{{- define "obsctl-app.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}
{{- end }}

{{/*
Name of the ServiceAccount the Pods run as.
*/}}
{{- define "obsctl-app.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "obsctl-app.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
Namespace of the dashboard ConfigMaps: grafanaDashboards.namespace, else the release namespace.
*/}}
{{- define "obsctl-app.dashboardsNamespace" -}}
{{- .Values.grafanaDashboards.namespace | default .Release.Namespace }}
{{- end }}

{{/*
Name of the ConfigMap of one dashboard; call with (list $ $stem). The file stem is lower-cased
and "_" becomes "-" so that any stem the schema admits yields a valid object name.
*/}}
{{- define "obsctl-app.dashboardName" -}}
{{- $root := index . 0 }}
{{- $stem := index . 1 | lower | replace "_" "-" | replace "." "-" }}
{{- printf "%s-dashboard-%s" (include "obsctl-app.fullname" $root) $stem | trunc 63 | trimSuffix "-" }}
{{- end }}
