"""A stand-in for kubernetes/autoscaler's cluster-autoscaler chart on disk, written by obsctl's
tests (the real chart is fetched by hand only: docs/autoscaling.md has the command).

Like the real chart it runs the autoscaler as `rbac.serviceAccount.name`, turns `autoDiscovery`
and every `extraArgs` entry into flags, passes `awsRegion` as AWS_REGION and appends
`extraObjects` through `tpl`. Its templates are our own and much smaller.
"""

from __future__ import annotations

from pathlib import Path

from obsctl.targets.node_autoscaler import CHART_NAME

HELPERS = """\
{{- define "cluster-autoscaler.name" -}}aws-cluster-autoscaler{{- end -}}
"""
SERVICE_ACCOUNT = """\
apiVersion: v1
kind: ServiceAccount
metadata:
  name: {{ .Values.rbac.serviceAccount.name }}
  namespace: {{ .Release.Namespace }}
"""
DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}-aws-cluster-autoscaler
  namespace: {{ .Release.Namespace }}
spec:
  replicas: 1
  selector:
    matchLabels: &labels
      app.kubernetes.io/instance: {{ .Release.Name | quote }}
      app.kubernetes.io/name: aws-cluster-autoscaler
  template:
    metadata:
      labels: *labels
    spec:
      serviceAccountName: {{ .Values.rbac.serviceAccount.name }}
      securityContext: {{ toJson .Values.securityContext }}
      containers:
        - name: aws-cluster-autoscaler
          image: "registry.k8s.io/autoscaling/cluster-autoscaler:{{ .Values.image.tag }}"
          command:
            - ./cluster-autoscaler
            - --cloud-provider={{ .Values.cloudProvider }}
            {{- $owned := printf "k8s.io/cluster-autoscaler/%s" .Values.autoDiscovery.clusterName }}
            {{- $tags := list "k8s.io/cluster-autoscaler/enabled" $owned }}
            - --node-group-auto-discovery=asg:tag={{ join "," $tags }}
            {{- range $key, $value := .Values.extraArgs }}
            - --{{ $key }}={{ $value }}
            {{- end }}
          env:
            - name: AWS_REGION
              value: {{ .Values.awsRegion | quote }}
          resources: {{ toJson .Values.resources }}
          securityContext: {{ toJson .Values.containerSecurityContext }}
"""
EXTRA = """\
{{ range .Values.extraObjects }}
---
{{ tpl (toYaml .) $ }}
{{ end }}
"""


def write_fake_node_autoscaler_chart(folder: Path, version: str = "9.59.0") -> Path:
    """The chart folder (folder/cluster-autoscaler) with Chart.yaml at `version`."""
    chart = folder / CHART_NAME
    templates = chart / "templates"
    templates.mkdir(parents=True, exist_ok=True)
    (chart / "Chart.yaml").write_text(f"apiVersion: v2\nname: {CHART_NAME}\nversion: {version}\n")
    (chart / "values.yaml").write_text("extraArgs: {v: 4}\nextraObjects: []\ncloudProvider: aws\n")
    for name, text in (
        ("_helpers.tpl", HELPERS),
        ("serviceaccount.yaml", SERVICE_ACCOUNT),
        ("deployment.yaml", DEPLOYMENT),
        ("extra-manifests.yaml", EXTRA),
    ):
        (templates / name).write_text(text)
    return chart
