#!/usr/bin/env python3
"""Prints a CloudFormation/SAM template as JSON, with short-form intrinsics (!Ref, !Sub, ...) turned into their
long form ({"Ref": ...}), using cfn-lint's own decoder. Used by tests/it/template.rs."""
import json
import sys

from cfnlint.decode import decode

template, problems = decode(sys.argv[1])
if problems:
    sys.exit("\n".join(str(p) for p in problems))
json.dump(template, sys.stdout, indent=1, default=str)
