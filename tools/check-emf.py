"""Reads log lines on stdin, keeps the CloudWatch Embedded Metric Format documents (JSON objects with `_aws`),
and checks each against the EMF specification: the JSON schema (argv[1]), and the rules a schema cannot say,
that every dimension and every metric a directive names is a member of the document, a dimension's value a
string, a metric's value a number or a list of at most 100 numbers. Prints one JSON line: the metric names
seen, with their dimension sets, and how many documents were checked. Exits non-zero on the first violation.
"""

import json
import sys

import jsonschema

schema = json.load(open(sys.argv[1]))
validator = jsonschema.Draft7Validator(schema)
documents = 0
seen = {}
for line in sys.stdin:
    start = line.find('{"_aws"')
    if start < 0:
        continue
    document = json.loads(line[start:])
    errors = sorted(validator.iter_errors(document), key=str)
    if errors:
        sys.exit(f"not an EMF document ({errors[0].message}): {line.strip()}")
    for directive in document["_aws"]["CloudWatchMetrics"]:
        for dimension_set in directive["Dimensions"]:
            for name in dimension_set:
                if not isinstance(document.get(name), str):
                    sys.exit(f"dimension {name} is not a string member: {line.strip()}")
        for metric in directive["Metrics"]:
            value = document.get(metric["Name"])
            numbers = value if isinstance(value, list) else [value]
            if not numbers or len(numbers) > 100 or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in numbers):
                sys.exit(f"metric {metric['Name']} has no numeric value: {line.strip()}")
            seen.setdefault(metric["Name"], set()).update(",".join(d) for d in directive["Dimensions"])
    documents += 1
print(json.dumps({"documents": documents, "metrics": {k: sorted(v) for k, v in seen.items()}}))
