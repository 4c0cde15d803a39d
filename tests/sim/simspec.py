"""simspec.py - OpenAPI documents and endpoints of simulated applications.

Generates a deterministic OpenAPI 3 document for an application, parses
uploaded specs (JSON, or the YAML subset that starts with ``openapi:``) into
endpoint lists, and computes endpoint ids (base64url of ``METHOD:/path``).
"""

import base64
import json
import re

HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")

RESOURCES = (
    "accounts", "users", "orders", "payments", "invoices", "customers",
    "products", "carts", "transfers", "cards", "sessions", "webhooks",
    "reports", "documents", "subscriptions", "refunds", "merchants",
    "devices", "notifications", "audit-logs",
)

# The first application keeps these so examples such as GET /accounts/{id}
# hold for every seed.
FIRST_APP_RESOURCES = ("accounts", "payments", "refunds", "cards")


class SpecError(ValueError):
    """An uploaded document is not an OpenAPI spec we can read."""


def endpoint_id(method, path):
    raw = f"{method}:{path}".encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def make_endpoints(rng, first=False):
    """Sorted (method, path) pairs for a made-up REST API."""
    if first:
        resources = FIRST_APP_RESOURCES
    else:
        resources = rng.sample(RESOURCES, rng.randint(3, 6))
    endpoints = [("GET", "/health")]
    for res in resources:
        coll, item = f"/{res}", f"/{res}/{{id}}"
        endpoints += [("GET", coll), ("POST", coll), ("GET", item)]
        endpoints.append((rng.choice(("PUT", "PATCH")), item))
        if first or rng.random() < 0.6:
            endpoints.append(("DELETE", item))
        if rng.random() < 0.3:
            endpoints.append(("GET", f"{item}/events"))
    return sort_endpoints(endpoints)


def sort_endpoints(endpoints):
    order = {m: i for i, m in enumerate(HTTP_METHODS)}
    return sorted(set(endpoints), key=lambda e: (e[1], order.get(e[0], 9)))


def render_spec(title, host_url, endpoints):
    """A pretty-printed OpenAPI 3.0.3 JSON document for the endpoints."""
    paths = {}
    for method, path in endpoints:
        parts = [p for p in path.split("/") if p and not p.startswith("{")]
        tag = parts[0] if parts else "root"
        op = {
            "operationId": re.sub(r"\W+", "_", f"{method.lower()}{path}").strip("_"),
            "summary": f"{method} {path}",
            "tags": [tag],
            "responses": {"200": {"description": "OK"},
                          "401": {"description": "Unauthorized"}},
        }
        if "{id}" in path:
            op["parameters"] = [{"name": "id", "in": "path", "required": True,
                                 "schema": {"type": "string"}}]
        if method in ("POST", "PUT", "PATCH"):
            op["requestBody"] = {"content": {"application/json": {
                "schema": {"type": "object"}}}}
        paths.setdefault(path, {})[method.lower()] = op
    doc = {
        "openapi": "3.0.3",
        "info": {"title": title, "version": "1.0.0"},
        "servers": [{"url": host_url}],
        "security": [{"bearerAuth": []}],
        "paths": paths,
        "components": {"securitySchemes": {
            "bearerAuth": {"type": "http", "scheme": "bearer"}}},
    }
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def parse_spec(text):
    """Return (content_type, endpoints) for an uploaded spec, or raise
    SpecError when it is neither a JSON OpenAPI object nor YAML text that
    starts with ``openapi:``."""
    stripped = text.lstrip()
    if stripped.startswith("openapi:"):
        return "application/yaml", yaml_endpoints(text)
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise SpecError(f"spec is neither JSON nor OpenAPI YAML: {exc}") from None
    if not isinstance(doc, dict) or not ("openapi" in doc or "swagger" in doc):
        raise SpecError("spec must be an OpenAPI object with an 'openapi' field")
    paths = doc.get("paths") or {}
    if not isinstance(paths, dict):
        raise SpecError("'paths' must be an object")
    endpoints = []
    for path, ops in paths.items():
        if isinstance(ops, dict):
            endpoints += [(m.upper(), path) for m in ops if m.upper() in HTTP_METHODS]
    return "application/json", sort_endpoints(endpoints)


def yaml_endpoints(text):
    """Endpoints from the ``paths:`` block of a YAML spec, read by indent:
    path keys one level in, method keys one level below them."""
    endpoints, in_paths, path_indent, path = [], False, None, None
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        indent = len(line) - len(line.lstrip())
        key = line.strip().split(":", 1)[0].strip().strip("'\"")
        if indent == 0:
            in_paths = key == "paths"
            path_indent = path = None
        elif in_paths and key.startswith("/") and (path_indent is None
                                                   or indent == path_indent):
            path_indent, path = indent, key
        elif in_paths and path and indent > path_indent \
                and key.upper() in HTTP_METHODS:
            endpoints.append((key.upper(), path))
    return sort_endpoints(endpoints)
