#!/usr/bin/env python3
"""Expand the SAM template to plain CloudFormation (offline, with aws-sam-translator) and
run cfn-lint on the result.

cfn-lint checks SAM templates without expanding them, so some faults only show up in the
expanded form: a circular dependency between a bucket, its notification and the function's
policy (E3004) is the one that bites. Usage: lint_expanded.py infra/template.yaml
"""

import json
import os
import subprocess
import sys
import tempfile

from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")


class ManagedPolicies:
    """The managed policies SAM attaches by name, so the translation needs no AWS call."""

    def load(self):
        return {
            "AWSXrayWriteOnlyAccess": "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess",
            "AWSLambdaBasicExecutionRole": "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
        }


def main(path):
    with open(path) as f:
        template = yaml_parse(f.read())
    for resource in template.get("Resources", {}).values():
        if resource.get("Type") == "AWS::Serverless::Function":
            # sam build replaces CodeUri with the built artefact; any S3 URI will do here.
            resource["Properties"]["CodeUri"] = "s3://example-bucket/code.zip"
    expanded = transform(template, {}, ManagedPolicies())
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as out:
        json.dump(expanded, out, indent=1)
    lint = os.path.join(os.path.dirname(sys.executable), "cfn-lint")
    result = subprocess.run([lint, out.name])
    os.unlink(out.name)
    print("expanded template: %d resources, cfn-lint exit %d" % (len(expanded["Resources"]), result.returncode))
    return result.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "infra/template.yaml"))
