// How every Kubernetes client of the control plane finds its cluster: the --kubeconfig file, else
// in-cluster (the pod's ServiceAccount), else ~/.kube/config. Import it lazily: it loads client-node.
import { KubeConfig } from '@kubernetes/client-node';

export function loadKubeConfig(file: string | undefined): KubeConfig {
  const kc = new KubeConfig();
  if (file !== undefined) kc.loadFromFile(file);
  else kc.loadFromDefault();
  return kc;
}
