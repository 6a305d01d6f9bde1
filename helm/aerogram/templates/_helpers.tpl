{{/* Chart name, truncated to the DNS label limit. */}}
{{- define "aerogram.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* <release>-aerogram unless the release name already contains it. */}}
{{- define "aerogram.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "aerogram.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "aerogram.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: aerogram
{{- end -}}

{{/* Selector labels of one component; call with (dict "root" $ "component" $name). */}}
{{- define "aerogram.selectorLabels" -}}
app.kubernetes.io/name: {{ include "aerogram.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "aerogram.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{- define "aerogram.secretName" -}}
{{- default (printf "%s-env" (include "aerogram.fullname" .)) .Values.existingSecret -}}
{{- end -}}

{{- define "aerogram.configMapName" -}}
{{- printf "%s-env" (include "aerogram.fullname" .) -}}
{{- end -}}

{{- define "aerogram.tlsSecretName" -}}
{{- default (printf "%s-tls" (include "aerogram.fullname" .)) .Values.tls.secretName -}}
{{- end -}}

{{/* TLS_SNI_CERTS: certfile:keyfile of each tls.sniSecrets entry, mounted under /etc/aerogram/tls-sni/<name>. */}}
{{- define "aerogram.sniCerts" -}}
{{- $pairs := list -}}
{{- range .Values.tls.sniSecrets -}}
{{- $pairs = append $pairs (printf "/etc/aerogram/tls-sni/%s/tls.crt:/etc/aerogram/tls-sni/%s/tls.key" . .) -}}
{{- end -}}
{{- join "," $pairs -}}
{{- end -}}

{{/* Where the TLS secret is mounted in the containers. */}}
{{- define "aerogram.tlsDir" -}}/etc/aerogram/tls{{- end -}}

{{/* The environment every Aerogram container shares: ConfigMap + Secret. */}}
{{- define "aerogram.envFrom" -}}
- configMapRef:
    name: {{ include "aerogram.configMapName" . }}
- secretRef:
    name: {{ include "aerogram.secretName" . }}
{{- end -}}
