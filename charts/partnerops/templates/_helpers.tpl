{{/*
The chart's name.
*/}}
{{- define "partnerops.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The prefix of every object's name: the release's name, followed by the
chart's name unless it already holds it. Installed as release "partnerops",
the objects have config/default's names (partnerops-controller-manager, …).
Kept short enough for the longest suffix ("-controller-manager").
*/}}
{{- define "partnerops.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" }}
{{- else if contains (include "partnerops.name" .) .Release.Name }}
{{- .Release.Name | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name (include "partnerops.name" .) | trunc 40 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{/*
Labels on every object.
*/}}
{{- define "partnerops.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/name: {{ include "partnerops.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/*
The labels that select the manager's pods (the Deployment, the Services, the
PodDisruptionBudget, the NetworkPolicy).
*/}}
{{- define "partnerops.selectorLabels" -}}
app.kubernetes.io/name: {{ include "partnerops.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: manager
{{- end }}

{{/*
The manager's ServiceAccount.
*/}}
{{- define "partnerops.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (printf "%s-controller-manager" (include "partnerops.fullname" .)) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
The namespace of the Secrets and the templates ConfigMap the configuration
names: config.secretNamespace, else the release's namespace.
*/}}
{{- define "partnerops.secretNamespace" -}}
{{- default .Release.Namespace .Values.config.secretNamespace }}
{{- end }}

{{/*
The image: repository@digest, else repository:tag (tag defaults to the
chart's appVersion).
*/}}
{{- define "partnerops.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/*
The configuration file (docs/configuration.md): config with apiVersion and
kind, secretNamespace filled in, only the identity backend section of
identityBackend.type, and the acceptance.signIn.oidc section only with
signIn type oidc (the manager refuses a section of another type).
*/}}
{{- define "partnerops.configFile" -}}
{{- $config := deepCopy .Values.config }}
{{- $_ := set $config "secretNamespace" (include "partnerops.secretNamespace" .) }}
{{- $backend := $config.identityBackend }}
{{- range $type := list "scim" "ldap" }}
{{- if ne $type $backend.type }}
{{- $_ := unset $backend $type }}
{{- end }}
{{- end }}
{{- with dig "acceptance" "signIn" dict $config }}
{{- if ne (default "none" .type) "oidc" }}
{{- $_ := unset . "oidc" }}
{{- end }}
{{- end }}
{{- printf "apiVersion: config.partnerops.dev/v1alpha1\nkind: OperatorConfig\n" }}
{{- toYaml $config }}
{{- end }}

{{/*
The acceptance page's container port: the port of
config.acceptance.bindAddress (":8082" by default).
*/}}
{{- define "partnerops.acceptancePort" -}}
{{- $address := default ":8082" .Values.config.acceptance.bindAddress }}
{{- regexFind "[0-9]+$" $address | int }}
{{- end }}

{{/*
The host partners reach the page at: the host of
config.acceptance.publicURL, which must have no path (the page serves
/invitations/…; the Ingress and HTTPRoute do not rewrite paths).
*/}}
{{- define "partnerops.publicHost" -}}
{{- $url := urlParse .Values.config.acceptance.publicURL }}
{{- if not (has $url.path (list "" "/")) }}
{{- fail (printf "config.acceptance.publicURL %s has a path: the Ingress and HTTPRoute serve the page at the root of its host (docs/install.md, step 5)" .Values.config.acceptance.publicURL) }}
{{- end }}
{{- $url.hostname }}
{{- end }}

{{/*
One document of a file under files/ (a copy of config/, written by `make
manifests`), by kind and name, as YAML: the part of the file the chart
renders, so that the chart and config/default install the same thing.
Called with (list $ "files/…" "Kind" "name").
*/}}
{{- define "partnerops.fileDocument" -}}
{{- $root := index . 0 }}
{{- $path := index . 1 }}
{{- $kind := index . 2 }}
{{- $name := index . 3 }}
{{- $found := dict }}
{{- range $doc := regexSplit "(?m)^---[ \t]*$" ($root.Files.Get $path) -1 }}
{{- $object := fromYaml $doc }}
{{- if and (eq (default "" $object.kind) $kind) (eq (default "" (dig "metadata" "name" "" $object)) $name) }}
{{- $found = $object }}
{{- end }}
{{- end }}
{{- if not $found }}
{{- fail (printf "no %s %s in the chart's %s" $kind $name $path) }}
{{- end }}
{{- toYaml $found }}
{{- end }}
