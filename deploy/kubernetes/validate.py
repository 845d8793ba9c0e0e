#!/usr/bin/env python3
"""Validates rendered Kubernetes manifests without a cluster, strictly (an unknown field is an error).

- Core objects (Deployment, Service, ...) against Kubernetes' published OpenAPI schemas of each
  --kubernetes-version, as bundled by the PyPI package kubernetes-validate.
- Custom resources (ServiceMonitor, PrometheusRule) against the openAPIV3Schema of their
  CustomResourceDefinition in --crds (deploy/kubernetes/crds/), the way the API server prunes
  and validates them: unknown fields are refused unless the schema preserves them. Their
  metadata is checked against the core ObjectMeta schema. CEL rules (x-kubernetes-validations)
  are not evaluated: that needs an API server.

An object of a kind that neither knows is an error, never skipped.

    kubectl kustomize deploy/kubernetes/overlays/example |
      python3 deploy/kubernetes/validate.py --kubernetes-version 1.32 --crds deploy/kubernetes/crds -

Prints one line per object and version (`ok ...` or `FAIL ...`); exits 1 when one failed, 2 on
bad usage or a missing installation (scripts/install-test-deps.sh installs kubernetes-validate
into ~/.cache/whe-venv-k8s).
"""

import argparse
import glob
import os
import sys

try:
    import jsonschema
    import kubernetes_validate
    import yaml
    from kubernetes_validate import utils as kv
    from referencing import Registry, Resource
except ImportError as e:
    sys.exit(f"validate.py: {e}: run scripts/install-test-deps.sh (pip install kubernetes-validate)")


def crd_schema(node, strict):
    """An openAPIV3Schema node as JSON Schema (draft 4, whose boolean exclusiveMinimum it shares)."""
    if not isinstance(node, dict):
        return node
    out = {}
    for key, value in node.items():
        if key == "properties":
            out[key] = {name: crd_schema(prop, strict) for name, prop in value.items()}
        elif key in ("items", "additionalProperties", "not") and isinstance(value, dict):
            out[key] = crd_schema(value, strict)
        elif key in ("allOf", "anyOf", "oneOf"):
            out[key] = [crd_schema(v, strict) for v in value]
        elif key != "nullable" and not key.startswith("x-kubernetes-"):
            out[key] = value
    if node.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"]
    if node.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out.setdefault("anyOf", [{"type": "integer"}, {"type": "string"}])
    if (
        strict
        and out.get("type") == "object"
        and "properties" in out
        and "additionalProperties" not in out
        and not node.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    return out


def load_crds(directory):
    """(apiVersion, kind) -> (CRD name, Operator version, JSON schema)."""
    crds = {}
    files = sorted(glob.glob(os.path.join(directory, "*.yaml")))
    if not files:
        sys.exit(f"validate.py: no CRD files in {directory}")
    for path in files:
        with open(path) as f:
            for crd in yaml.safe_load_all(f):
                if not crd or crd.get("kind") != "CustomResourceDefinition":
                    continue
                spec = crd["spec"]
                source = crd["metadata"].get("annotations", {}).get("operator.prometheus.io/version", "?")
                for version in spec["versions"]:
                    if not version.get("served"):
                        continue
                    api_version = f"{spec['group']}/{version['name']}"
                    schema = crd_schema(version["schema"]["openAPIV3Schema"], strict=True)
                    crds[(api_version, spec["names"]["kind"])] = (crd["metadata"]["name"], source, schema)
    return crds


def core_errors(doc, kind, api_version, k8s_version):
    """Every error of doc against one schema of kubernetes-validate's bundle (strict): kind and
    api_version name it as the bundle's file names do (deployment, apps-v1)."""
    version = [v for v in kv.all_versions() if kv.major_minor(v) <= kv.major_minor(k8s_version)][-1]
    folder = f"kubernetes-json-schema/v{version}-local-strict"
    try:
        schema = kv.schema_contents(f"{folder}/{kind}-{api_version}.json", k8s_version)
    except FileNotFoundError:
        return None
    definitions = kv.schema_contents(f"{folder}/_definitions.json", k8s_version)
    registry = Resource.from_contents(definitions) @ (Resource.from_contents(schema) @ Registry())
    validator = jsonschema.validators.Draft202012Validator(schema, registry=registry)
    return [(where(e), e.message) for e in validator.iter_errors(doc)]


def where(error, prefix=""):
    return ".".join([prefix] * bool(prefix) + [str(p) for p in error.path]) or "(root)"


def describe(doc):
    name = (doc.get("metadata") or {}).get("name", "?")
    return f"{doc.get('kind', '?')}/{name}"


def check(doc, k8s_version, crds):
    """(ok, what it was checked against, problems)."""
    key = (doc.get("apiVersion"), doc.get("kind"))
    if key in crds:
        crd, source, schema = crds[key]
        problems = [(where(e), e.message) for e in jsonschema.Draft4Validator(schema).iter_errors(doc)]
        metadata = core_errors(doc.get("metadata") or {}, "objectmeta", "meta-v1", k8s_version)
        problems += [("metadata." + at if at != "(root)" else "metadata", m) for at, m in metadata]
        against = f"CRD {crd} of Prometheus Operator {source}, ObjectMeta of Kubernetes {k8s_version}"
        return not problems, against, problems
    against = f"Kubernetes {k8s_version} (kubernetes-validate {kubernetes_validate.__version__})"
    # rbac.authorization.k8s.io/v1 -> rbac-v1, v1 -> v1: the bundle's file names.
    group, _, version = str(key[0]).rpartition("/")
    group_version = f"{group.split('.', 1)[0]}-{version}" if group else version
    problems = core_errors(doc, str(doc.get("kind", "")).lower(), group_version, k8s_version)
    if problems is None:
        return False, against, [("(kind)", f"no schema of {key[1]} {key[0]}, and no CRD in --crds defines it")]
    return not problems, against, problems


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kubernetes-version", action="append", required=True, metavar="X.Y")
    parser.add_argument("--crds", required=True, metavar="DIR")
    parser.add_argument("files", nargs="+", metavar="FILE", help="multi-document YAML, - for stdin")
    args = parser.parse_args()
    for version in args.kubernetes_version:
        if version not in [kv.major_minor(v) for v in kv.all_versions()]:
            sys.exit(f"validate.py: kubernetes-validate {kubernetes_validate.__version__} has no schemas of "
                     f"Kubernetes {version} (it has {', '.join(kv.major_minor(v) for v in kv.all_versions())})")
    crds = load_crds(args.crds)
    failed = False
    count = 0
    for path in args.files:
        text = sys.stdin.read() if path == "-" else open(path).read()
        for doc in yaml.safe_load_all(text):
            if not doc:
                continue
            count += 1
            for version in args.kubernetes_version:
                ok, against, problems = check(doc, version, crds)
                failed |= not ok
                print(f"{'ok' if ok else 'FAIL'} {describe(doc)}: {against}")
                for where, message in problems:
                    print(f"    {where}: {message}")
    if count == 0:
        sys.exit("validate.py: no object to validate")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
