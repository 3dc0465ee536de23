//! The tables `account add|list|show|validate|set-key` print for people.

use super::{AccountView, CheckReport};
use crate::cli::output::Table;

pub(super) fn render_check(r: &CheckReport, what: &str) -> String {
    let mut out = format!(
        "account {} {what}: MAAS {} at {}, key of {} ({})\n",
        r.account,
        r.maas_version,
        r.endpoint,
        r.maas_user,
        if r.admin { "admin" } else { "non-admin user" }
    );
    if !r.admin {
        out.push_str("note: a non-admin key can allocate and deploy machines, but not create MAAS DNS records: use a VIP for the control-plane endpoint, or an admin's key.\n");
    }
    out
}

pub(super) fn render_list(views: &[AccountView]) -> String {
    if views.is_empty() {
        return "no cloud accounts: add one with `kubemaas account add NAME --endpoint URL --api-key KEY`\n".into();
    }
    let mut t = Table::new(["NAME", "ENDPOINT", "GATEWAY", "CA", "CLUSTERS", "VALIDATED"]);
    for v in views {
        t.row([
            v.name.clone(),
            v.endpoint.clone(),
            v.gateway.clone(),
            if v.ca_cert { "yes" } else { "-" }.to_string(),
            v.clusters.len().to_string(),
            v.last_validated
                .map(|t| t.format("%Y-%m-%d %H:%M").to_string())
                .unwrap_or_else(|| "never".into()),
        ]);
    }
    t.render()
}

pub(super) fn render_show(v: &AccountView) -> String {
    let mut t = Table::new(["FIELD", "VALUE"]);
    t.row(["name".to_string(), v.name.clone()]);
    t.row(["endpoint".to_string(), v.endpoint.clone()]);
    t.row(["gateway".to_string(), v.gateway.clone()]);
    t.row(["api key".to_string(), v.api_key.clone()]);
    t.row([
        "CA certificate".to_string(),
        if v.ca_cert {
            "stored"
        } else {
            "none (system roots)"
        }
        .to_string(),
    ]);
    t.row(["created".to_string(), v.created.to_rfc3339()]);
    t.row([
        "last validated".to_string(),
        v.last_validated
            .map(|t| t.to_rfc3339())
            .unwrap_or_else(|| "never".into()),
    ]);
    t.row([
        "clusters".to_string(),
        if v.clusters.is_empty() {
            "-".to_string()
        } else {
            v.clusters.join(", ")
        },
    ]);
    t.render()
}
