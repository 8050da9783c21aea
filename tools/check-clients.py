"""Generates the Python and the TypeScript client of openapi.yaml (pinned generators) and checks that every
response of every operation, errors included, comes out typed as its schema:

- Python (openapi-python-client): each status has its branch in the operation's `_parse_response`, which builds
  the schema's model (`Problem.from_dict(...)`), or returns None for a response without a body;
- TypeScript (openapi-typescript): each status's content is the schema's type, proven by `tsc --strict` on
  type-equality assertions written from the spec;
- and, with a base URL and an API key, the generated Python client against the running API: a create, a
  validation error, a refused key, a read and a missing ticket each parse into their model.

Usage: check-clients.py SPEC WORKDIR NODE_MODULES [BASE_URL API_KEY]. Prints one line per generator.
"""

import ast
import importlib
import re
import subprocess
import sys
from pathlib import Path

from ruamel.yaml import YAML

spec_path, work, node_modules = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
live = sys.argv[4:6]
spec = YAML(typ="safe").load(spec_path.read_text())
problems = []


def resolve(response):
    """A response object, following a `$ref` to components/responses."""
    ref = response.get("$ref")
    return spec["components"]["responses"][ref.rsplit("/", 1)[1]] if ref else response


def schema_name(media):
    ref = media.get("schema", {}).get("$ref")
    return ref.rsplit("/", 1)[1] if ref else None


def snake(name):
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


operations = []  # (operationId, tag, {status: {media type: schema name or None}})
for path, item in spec["paths"].items():
    for method, op in item.items():
        if method not in ("get", "post", "put", "patch", "delete"):
            continue
        statuses = {}
        for status, response in op["responses"].items():
            content = resolve(response).get("content", {})
            statuses[int(status)] = {media: schema_name(m) for media, m in content.items()}
        operations.append((op["operationId"], op["tags"][0], statuses))
responses = sum(len(s) for _, _, s in operations)

# ---- Python ---------------------------------------------------------------------------------------------------
python_out = work / "python_client"
generated = subprocess.run(
    ["openapi-python-client", "generate", "--path", str(spec_path), "--output-path", str(python_out), "--meta", "none",
     "--overwrite"],
    capture_output=True, text=True,
)
if generated.returncode != 0:
    sys.exit(f"openapi-python-client failed:\n{generated.stdout}\n{generated.stderr}")
warnings = [l for l in (generated.stdout + generated.stderr).splitlines() if "Warning" in l or "Unable" in l]
if warnings:
    problems.append("openapi-python-client warned: " + "; ".join(warnings))

before = len(problems)
for op_id, tag, statuses in operations:
    source = python_out / "api" / tag / f"{snake(op_id)}.py"
    if not source.exists():
        problems.append(f"python: no module for {op_id} ({source.name})")
        continue
    tree = ast.parse(source.read_text())
    parse = next(f for f in tree.body if isinstance(f, ast.FunctionDef) and f.name == "_parse_response")
    built = {}  # status -> what its branch builds
    for branch in ast.walk(parse):
        if not isinstance(branch, ast.If):
            continue
        test = branch.test
        if not (isinstance(test, ast.Compare) and ast.unparse(test.left) == "response.status_code"):
            continue
        status = test.comparators[0].value
        value = branch.body[0].value
        built[status] = ast.unparse(value)
    for status, content in statuses.items():
        models = {name for name in content.values() if name}
        got = built.get(status)
        if got is None:
            problems.append(f"python: {op_id} has no branch for {status}")
        elif not models and got != "cast(Any, None)":
            problems.append(f"python: {op_id} {status} has no body but builds {got}")
        elif models and not any(got.startswith(f"{m}.from_dict(") for m in models):
            problems.append(f"python: {op_id} {status} builds {got}, not one of {sorted(models)}")
if len(problems) == before:
    print(f"python client: {len(operations)} operations, {responses} responses, each parsed into its model")

# ---- TypeScript -----------------------------------------------------------------------------------------------
ts_dir = work / "typescript_client"
ts_dir.mkdir(parents=True, exist_ok=True)
bin_dir = node_modules / ".bin"
generated = subprocess.run(
    [str(bin_dir / "openapi-typescript"), str(spec_path), "-o", str(ts_dir / "api.d.ts")], capture_output=True,
    text=True,
)
if generated.returncode != 0:
    sys.exit(f"openapi-typescript failed:\n{generated.stdout}\n{generated.stderr}")
checks = [
    'import type { components, operations } from "./api";',
    "type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;",
]
for op_id, _, statuses in operations:
    for status, content in statuses.items():
        response = f'operations["{op_id}"]["responses"][{status}]'
        if not content:
            checks.append(f"const _{op_id}_{status}: Same<NonNullable<{response}[\"content\"]>, never> = true;")
        for media, name in content.items():
            expected = f'components["schemas"]["{name}"]' if name else "string"
            variable = f"_{op_id}_{status}_{re.sub(r'[^a-z]', '_', media)}"
            checks.append(f'const {variable}: Same<{response}["content"]["{media}"], {expected}> = true;')
(ts_dir / "checks.ts").write_text("\n".join(checks) + "\n")
compiled = subprocess.run(
    [str(bin_dir / "tsc"), "--noEmit", "--strict", str(ts_dir / "checks.ts")],
    capture_output=True, text=True,
)
if compiled.returncode != 0:
    problems.append(f"typescript: the types are not the spec's:\n{compiled.stdout}{compiled.stderr}")
else:
    print(f"typescript client: {len(operations)} operations, {responses} responses, "
          f"{len(checks) - 2} content types proven by tsc")

# ---- the generated Python client against the running API ------------------------------------------------------
if live:
    base_url, api_key = live
    sys.path.insert(0, str(work))
    client_pkg = importlib.import_module("python_client")
    models = importlib.import_module("python_client.models")
    create = importlib.import_module("python_client.api.tickets.create_ticket")
    view = importlib.import_module("python_client.api.conversation.view_ticket")
    client = client_pkg.Client(base_url=base_url, headers={"x-api-key": api_key})
    body = models.NewTicket(user_email="python@email.com", title="From the generated client", message="Hello")
    seen = {}
    reply = create.sync_detailed("demo-collection", client=client, body=body)
    seen["create"] = (reply.status_code, type(reply.parsed).__name__)
    bad = models.NewTicket(user_email="not-an-address", title="x", message="y")
    reply = create.sync_detailed("demo-collection", client=client, body=bad)
    seen["invalid"] = (reply.status_code, type(reply.parsed).__name__)
    anonymous = client_pkg.Client(base_url=base_url, headers={"x-api-key": "tkapi_wrong"})
    reply = create.sync_detailed("demo-collection", client=anonymous, body=body)
    seen["refused key"] = (reply.status_code, type(reply.parsed).__name__)
    number = seen["create"][0] == 201 and create.sync("demo-collection", client=client, body=body).ticket_number
    reply = view.sync_detailed("demo-collection", number or 1, client=client)
    seen["read"] = (reply.status_code, type(reply.parsed).__name__)
    reply = view.sync_detailed("demo-collection", 999_999, client=client)
    seen["missing"] = (reply.status_code, type(reply.parsed).__name__)
    wanted = {
        "create": (201, "Created"),
        "invalid": (422, "ValidationProblem"),
        "refused key": (401, "Problem"),
        "read": (200, "Conversation"),
        "missing": (404, "Problem"),
    }
    if seen != wanted:
        problems.append(f"python client against the API: got {seen}, wanted {wanted}")
    print("python client against the API: " + ", ".join(f"{k} {s} {t}" for k, (s, t) in seen.items()))

if problems:
    sys.exit("\n".join(problems))
