"""simreport.py - scan reports: the JSON document and SARIF 2.1.0.

Pure functions from a completed scan's findings (as Store.scan_findings
returns them) to the report objects GET /v1/scans/{id}/report serves.
"""

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
SARIF_LEVELS = {"critical": "error", "high": "error", "medium": "warning",
                "low": "note", "info": "note"}
TOOL_NAME = "apisec-platform-sim"
TOOL_VERSION = "1.0.0"


def json_report(scan, app_name, host_url, vulns):
    return {
        "reportFormat": "json",
        "generatedAt": scan["completedAt"],
        "scan": scan,
        "application": {"applicationId": scan["applicationId"],
                        "applicationName": app_name},
        "instance": {"instanceId": scan["instanceId"], "hostUrl": host_url},
        "summary": scan["vulnerabilityStats"],
        "vulnerabilities": vulns,
    }


def rule_id(category):
    """"API1:2023 Broken Object Level Authorization" -> "API1:2023"."""
    return category.split(" ", 1)[0]


def sarif_report(scan, app_name, host_url, vulns):
    rules = {}
    for v in vulns:
        rid = rule_id(v["category"])
        rules.setdefault(rid, {
            "id": rid,
            "name": v["category"].split(" ", 1)[1].title().replace(" ", ""),
            "shortDescription": {"text": v["category"]},
            "fullDescription": {"text": v["remediation"]},
            "helpUri": "https://owasp.org/API-Security/editions/2023/en/0x11-t10/",
        })
    results = [{
        "ruleId": rule_id(v["category"]),
        "level": SARIF_LEVELS[v["severity"]],
        "message": {"text": f"{v['title']}: {v['description']}"},
        "locations": [{
            "physicalLocation": {"artifactLocation": {
                "uri": host_url.rstrip("/") + v["endpoint"]["path"]}},
            "logicalLocations": [{"name": f"{v['endpoint']['method']} {v['endpoint']['path']}",
                                  "kind": "function"}],
        }],
        "partialFingerprints": {"vulnerabilityId": v["vulnerabilityId"],
                                "weakness": v["fingerprint"]},
        "properties": {"severity": v["severity"], "cvssScore": v["cvssScore"],
                       "status": v["status"]},
    } for v in vulns]
    return {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": TOOL_NAME, "version": TOOL_VERSION,
                                "rules": [rules[k] for k in sorted(rules)]}},
            "automationDetails": {"id": f"{app_name}/{scan['scanId']}"},
            "results": results,
        }],
    }
