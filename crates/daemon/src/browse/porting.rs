//! Many proxies at once through the API: an import of any list format
//! (`vip-store`'s parser and per-entry savepoints: a verdict per line, one
//! bad line never stops the rest; logins sealed in the vault), an export
//! without logins, and bulk delete, enable, disable and regroup (each
//! proxy's change atomic on its own; ids not stored are reported). The
//! caller reloads the pool before answering.

use vip_api::{
    ApiError, BulkChange, BulkResult, ExportQuery, ImportBody, ImportResult, LineVerdict,
};
use vip_store::porting::{self, ExportFormat, ImportDefaults, Verdict};
use vip_store::repo::proxies::ProxyPatch;

use super::{Browsing, internal};

impl Browsing {
    pub(crate) async fn import_proxies(&self, body: ImportBody) -> Result<ImportResult, ApiError> {
        let parsed = porting::parse(body.text.as_bytes());
        let vault = if parsed.needs_vault() {
            Some(self.vault().await.map_err(|e| {
                e.hint("the list has logins, which are sealed in the vault: unlock it, or import without them")
            })?)
        } else {
            None
        };
        let defaults = ImportDefaults {
            group: body.group,
            country: body.country,
            region: body.region,
            city: body.city,
            weight: body.weight,
            tags: body.tags,
            disabled: body.disabled,
        };
        let report = self
            .on_store(move |s| {
                porting::apply(s, vault.as_deref(), parsed, &defaults, &mut |_, _| {})
            })
            .await?
            .map_err(|e| match e {
                vip_store::StoreError::Invalid { .. } => ApiError::invalid(e.to_string()),
                e => internal(e),
            })?;
        let format = serde_json::to_value(report.format)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        let verdicts = report
            .verdicts
            .into_iter()
            .map(|v| match v {
                Verdict::Imported { at, id } => ("imported", at, Some(id), None),
                Verdict::Duplicate { at, id } => ("duplicate", at, Some(id), None),
                Verdict::Invalid { at, reason } => ("invalid", at, None, Some(reason)),
            })
            .map(|(verdict, at, id, reason)| LineVerdict {
                verdict: verdict.into(),
                at: at as u64,
                id,
                reason,
            })
            .collect();
        Ok(ImportResult {
            format,
            unit: report.unit.into(),
            imported: report.imported as u64,
            duplicates: report.duplicates as u64,
            invalid: report.invalid as u64,
            verdicts,
        })
    }

    pub(crate) async fn export_proxies(&self, q: ExportQuery) -> Result<String, ApiError> {
        let format = match q.format.as_deref().unwrap_or("urls") {
            "csv" => ExportFormat::Csv,
            "pac" => ExportFormat::Pac,
            _ => ExportFormat::Urls,
        };
        self.on_store(move |s| porting::export(s, None, format, false, q.group.as_deref()))
            .await?
            .map_err(internal)
    }

    pub(crate) async fn bulk_proxies(&self, change: BulkChange) -> Result<BulkResult, ApiError> {
        self.on_store(move |s| {
            let mut out = BulkResult {
                affected: 0,
                missing: Vec::new(),
            };
            let patch = ProxyPatch {
                enabled: match change.action.as_str() {
                    "enable" => Some(true),
                    "disable" => Some(false),
                    _ => None,
                },
                group: change.group.clone(),
                ..ProxyPatch::default()
            };
            for id in change.ids {
                let done = if change.action == "delete" {
                    s.remove_proxy(id)
                } else {
                    s.update_proxy(id, &patch).map(|_| ())
                };
                match done {
                    Ok(()) => out.affected += 1,
                    Err(vip_store::StoreError::NotFound { .. }) => out.missing.push(id),
                    Err(e) => return Err(internal(e)),
                }
            }
            Ok(out)
        })
        .await?
    }
}
