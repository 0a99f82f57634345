"""Asset check results from the problems a run found, one result per check over all its days."""

import dagster as dg


def check_result(
    asset: str, name: str, problems: list[str], severity: dg.AssetCheckSeverity = dg.AssetCheckSeverity.ERROR
) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        asset_key=asset,
        check_name=name,
        passed=not problems,
        severity=severity,
        metadata={"problems": dg.MetadataValue.json(problems[:200]), "problem_count": len(problems)},
    )
