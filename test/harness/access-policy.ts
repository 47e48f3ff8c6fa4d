// AccessPolicy documents for tests that write them into a control plane's policy directory.

/** An AccessPolicy protecting `service` in namespace default; `rules` undefined means none (allow all). */
export function accessPolicyYaml(service: string, mtls: 'strict' | 'permissive' | string, rules?: { serviceAccounts: string[]; paths?: string[] }[]): string {
  const lines = [
    'apiVersion: petrel.dev/v1alpha1',
    'kind: AccessPolicy',
    `metadata: { name: ${service}, namespace: default }`,
    'spec:',
    `  targetRef: { kind: Service, name: ${service} }`,
    `  mtls: ${mtls}`,
  ];
  if (rules !== undefined) {
    lines.push('  rules:');
    for (const r of rules) {
      lines.push(`    - from: { serviceAccounts: [${r.serviceAccounts.join(', ')}] }`);
      if (r.paths !== undefined) lines.push(`      to: { paths: [${r.paths.join(', ')}] }`);
    }
  }
  return `${lines.join('\n')}\n`;
}
