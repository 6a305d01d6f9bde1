/**
 * Validates rendered Kubernetes manifests against the Kubernetes OpenAPI
 * schemas (kubernetes-models, and its prometheus-operator and cert-manager
 * CRD models): every object the chart renders must have a known
 * apiVersion/kind and pass its schema.
 */
import { Certificate } from "@kubernetes-models/cert-manager/cert-manager.io/v1";
import {
  PrometheusRule,
  ServiceMonitor,
} from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1";
import { Deployment } from "kubernetes-models/apps/v1";
import { HorizontalPodAutoscaler } from "kubernetes-models/autoscaling/v2";
import { CronJob, Job } from "kubernetes-models/batch/v1";
import { PodDisruptionBudget } from "kubernetes-models/policy/v1";
import { ConfigMap, Namespace, PersistentVolumeClaim, Secret, Service } from "kubernetes-models/v1";

interface Model {
  validate(): void;
}
type ModelClass = new (data: never) => Model;

const MODELS: Record<string, ModelClass> = {
  "v1/ConfigMap": ConfigMap as ModelClass,
  "v1/Secret": Secret as ModelClass,
  "v1/Service": Service as ModelClass,
  "v1/Namespace": Namespace as ModelClass,
  "v1/PersistentVolumeClaim": PersistentVolumeClaim as ModelClass,
  "apps/v1/Deployment": Deployment as ModelClass,
  "batch/v1/Job": Job as ModelClass,
  "batch/v1/CronJob": CronJob as ModelClass,
  "policy/v1/PodDisruptionBudget": PodDisruptionBudget as ModelClass,
  "autoscaling/v2/HorizontalPodAutoscaler": HorizontalPodAutoscaler as ModelClass,
  "monitoring.coreos.com/v1/ServiceMonitor": ServiceMonitor as ModelClass,
  "monitoring.coreos.com/v1/PrometheusRule": PrometheusRule as ModelClass,
  "cert-manager.io/v1/Certificate": Certificate as ModelClass,
};

export interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  // biome-ignore lint/suspicious/noExplicitAny: rendered YAML, inspected by the tests
  spec?: any;
  data?: Record<string, string>;
  stringData?: Record<string, string>;
}

/** Throws naming the object when its apiVersion/kind is unknown or it fails its schema. */
export function validateManifest(m: Manifest): void {
  const key = `${m.apiVersion}/${m.kind}`;
  const Model = MODELS[key];
  if (!Model) throw new Error(`${key} ${m.metadata?.name}: no schema for this kind`);
  try {
    new Model(m as never).validate();
  } catch (err) {
    throw new Error(`${key} ${m.metadata?.name}: ${(err as Error).message}`);
  }
}
