// Validates every object of rendered Kubernetes manifests against the API schemas: the
// kubernetes-models package (validators generated from the official OpenAPI spec) for built-in
// kinds, @kubernetes-models/prometheus-operator for ServiceMonitor and PrometheusRule. Run by
// check.sh from the directory the packages are installed in. Exits 1 on the first bad file,
// after naming every invalid object in it.
import { readFileSync } from "node:fs";
import yaml from "js-yaml";

function modulePath(apiVersion) {
  if (apiVersion === "monitoring.coreos.com/v1") {
    return "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1";
  }
  return `kubernetes-models/${apiVersion}`;  // "v1", "apps/v1", "policy/v1", ...
}

let failed = false;
for (const file of process.argv.slice(2)) {
  const docs = yaml.loadAll(readFileSync(file, "utf8")).filter((d) => d);
  const kinds = [];
  for (const doc of docs) {
    const what = `${file}: ${doc.kind} ${doc.metadata?.name}`;
    let Model;
    try {
      Model = (await import(modulePath(doc.apiVersion)))[doc.kind];
    } catch (e) {
      Model = undefined;
    }
    if (!Model) {
      console.error(`${what}: no schema for ${doc.apiVersion} ${doc.kind}`);
      failed = true;
      continue;
    }
    try {
      new Model(doc).validate();
      kinds.push(doc.kind);
    } catch (e) {
      console.error(`${what}: ${e.message}`);
      failed = true;
    }
  }
  console.log(`${file}: ${kinds.length} of ${docs.length} objects valid (${kinds.join(", ")})`);
}
process.exit(failed ? 1 : 0);
