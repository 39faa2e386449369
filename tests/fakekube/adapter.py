"""A stand-in for the prometheus-adapter chart on disk, written by obsctl's tests (the real
chart is fetched by hand only, never committed: docs/autoscaling.md has the command).

Like the real 5.3.0 chart it keeps the rules in a ConfigMap (config.yaml), registers the
APIService v1beta1.custom.metrics.k8s.io (apiregistration.k8s.io/v1 when the capabilities
have it, else v1beta1), runs a Deployment, and appends `extraManifests`. Its templates are
our own, much smaller: enough to run obsctl's render, `helm template` and the manifest
validation over the values obsctl writes. What the real chart makes of those values was
checked by hand (docs/autoscaling.md).
"""

from __future__ import annotations

from pathlib import Path

from obsctl.targets.adapter import ADAPTER_CHART_NAME

CONFIGMAP = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}
  namespace: {{ .Release.Namespace }}
data:
  config.yaml: |
    rules:
{{ toYaml .Values.rules.custom | indent 4 }}
"""
APISERVICE = """\
{{- if or .Values.rules.default .Values.rules.custom }}
{{- if .Capabilities.APIVersions.Has "apiregistration.k8s.io/v1" }}
apiVersion: apiregistration.k8s.io/v1
{{- else }}
apiVersion: apiregistration.k8s.io/v1beta1
{{- end }}
kind: APIService
metadata:
  name: v1beta1.custom.metrics.k8s.io
spec:
  service:
    name: {{ .Release.Name }}
    namespace: {{ .Release.Namespace | quote }}
  group: custom.metrics.k8s.io
  version: v1beta1
  insecureSkipTLSVerify: true
  groupPriorityMinimum: 100
  versionPriority: 100
{{- end }}
"""
DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}
  namespace: {{ .Release.Namespace }}
spec:
  replicas: {{ .Values.replicas }}
  selector:
    matchLabels: {app.kubernetes.io/name: prometheus-adapter, app.kubernetes.io/instance: {{ .Release.Name }}}
  template:
    metadata:
      labels: {app.kubernetes.io/name: prometheus-adapter, app.kubernetes.io/instance: {{ .Release.Name }}}
    spec:
      containers:
        - name: prometheus-adapter
          image: registry.k8s.io/prometheus-adapter/prometheus-adapter:v0.12.0
          args:
            - --prometheus-url={{ .Values.prometheus.url }}:{{ .Values.prometheus.port }}{{ .Values.prometheus.path }}
          resources: {{ toJson .Values.resources }}
"""
EXTRA = """\
{{ range .Values.extraManifests }}
---
{{ tpl (toYaml .) $ }}
{{ end }}
"""


def write_fake_adapter_chart(folder: Path, version: str = "5.3.0") -> Path:
    """The chart folder (folder/prometheus-adapter) with Chart.yaml at `version`."""
    chart = folder / ADAPTER_CHART_NAME
    templates = chart / "templates"
    templates.mkdir(parents=True, exist_ok=True)
    (chart / "Chart.yaml").write_text(f"apiVersion: v1\nname: {ADAPTER_CHART_NAME}\nversion: {version}\n")
    (chart / "values.yaml").write_text("rules: {default: true, custom: []}\nextraManifests: []\nreplicas: 1\n")
    for name, text in (
        ("configmap.yaml", CONFIGMAP),
        ("custom-metrics-apiservice.yaml", APISERVICE),
        ("deployment.yaml", DEPLOYMENT),
        ("extra-objects.yaml", EXTRA),
    ):
        (templates / name).write_text(text)
    return chart
