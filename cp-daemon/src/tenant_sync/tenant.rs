//! Tenant ids inside sink paths. Pure.
//!
//! The pools concern validates tenant ids at its edge; this module checks
//! again, because here an id becomes part of a path and a key prefix: no
//! path character may reach either.

/// The placeholder a prefix or local path must hold.
pub const TENANT_PLACEHOLDER: &str = "${tenantId}";

/// Longest tenant id accepted.
const MAX_TENANT_LEN: usize = 128;

/// A tenant id that cannot be part of a sink path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("tenant id {0:?} is not allowed in a sync path: use 1-128 of A-Z a-z 0-9 . _ -, starting with a letter or digit")]
pub struct BadTenantId(pub String);

/// Accepts ids of `[A-Za-z0-9][A-Za-z0-9._-]{0,127}`: no `/`, and never
/// `.` or `..`, so the id is always exactly one path component of its own.
pub fn check_tenant_id(tenant: &str) -> Result<(), BadTenantId> {
    let mut chars = tenant.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
    let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if first_ok && rest_ok && tenant.len() <= MAX_TENANT_LEN {
        Ok(())
    } else {
        Err(BadTenantId(tenant.to_owned()))
    }
}

/// The template with the tenant's id put in, after checking the id.
///
/// Invariant: two different valid ids never give the same or nested
/// paths, because the id has no `/` and the template holds the
/// placeholder at least once (checked by `SyncSpec::validate`).
pub fn substitute(template: &str, tenant: &str) -> Result<String, BadTenantId> {
    check_tenant_id(tenant)?;
    Ok(template.replace(TENANT_PLACEHOLDER, tenant))
}

/// The non-empty `/`-separated components of a template or path.
pub fn template_components(template: &str) -> impl Iterator<Item = &str> {
    template.split('/').filter(|c| !c.is_empty())
}
