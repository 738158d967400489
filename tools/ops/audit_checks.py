"""The checks the annual audit report runs against the configured storage target: verify-retention,
the purge log over the audit period, `cloud check` and the audit chain against the bucket's locked
heads. A check that cannot run is reported with its error, never left out."""

from __future__ import annotations

import datetime as dt

from cloud import bucket
from gateway.access import annual, audit
from gateway.config import Config
from gateway.store import Store
from tools.ops.cloud_cmd import target_for

GRACE_DAYS = 2.0  # as `alpr cloud verify-retention` by default


def _why(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}"


def _unix(iso: str) -> float:
    when = dt.datetime.fromisoformat(iso)
    return (when if when.tzinfo else when.replace(tzinfo=dt.UTC)).timestamp()


def run(config: Config, period_from: str, period_to: str) -> annual.ReportExtras:
    """Every check, each caught on its own so that one unreachable part does not hide the rest."""
    ret = annual.RetentionCheck(config.retention_days, GRACE_DAYS)
    integrity = annual.IntegrityCheck(config.storage.target)
    extras = annual.ReportExtras(retention=ret, cloud=integrity)
    try:
        target = target_for(config)
    except Exception as exc:  # the report is still written: the error is its finding
        ret.late_error = integrity.drift_error = integrity.heads_error = _why(exc)
    else:
        try:
            ret.late = bucket.verify_retention(target, config.retention_days, GRACE_DAYS)
        except Exception as exc:
            ret.late_error = _why(exc)
        try:
            report = bucket.check(
                target,
                config.retention_days,
                config.storage.gateway_principal,
                config.evidence.principal,
            )
            integrity.drift, integrity.unsupported = report.drift, report.unsupported
        except Exception as exc:
            integrity.drift_error = _why(exc)
        try:
            extras.chain_heads = audit.exported_heads(target)
        except Exception as exc:
            integrity.heads_error = _why(exc)
    try:
        rows = (
            Store(config.data_dir)
            .connect()
            .execute(
                "SELECT * FROM purge_log WHERE at >= ? AND at < ? ORDER BY at",
                (_unix(period_from), _unix(period_to)),
            )
        )
        ret.purges = [dict(r) for r in rows]
    except Exception as exc:
        ret.purges_error = _why(exc)
    return extras
