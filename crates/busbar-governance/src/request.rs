//! Admin request bodies: `POST /admin/keys` and `PATCH /admin/keys/ID`,
//! validated field by field so every 400 names the field at fault.
//!
//! Bodies are read as a `serde_json::Value` and checked by hand rather than
//! derived: serde's messages name types ("invalid type: string, expected
//! u64"), and a PATCH must tell an absent field from an explicit `null`.

use serde_json::{Map, Value};

use crate::api::KeyMetadata;
use crate::error::AdminError;
use crate::money::{Cents, MAX_CENTS};
use crate::window::BudgetPeriod;

const MAX_NAME_CHARS: usize = 256;
const MAX_POOLS: usize = 1024;

/// A key to create: the validated body of `POST /admin/keys`.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct NewKey {
    /// Required, non-empty, at most 256 characters.
    pub name: String,
    /// A JSON object, or none.
    pub metadata: Option<Map<String, Value>>,
    /// Pools or models the key may reach; empty means all.
    pub allowed_pools: Vec<String>,
    /// The cap per budget window; `None` is unlimited.
    pub max_budget: Option<Cents>,
    /// The budget window (default `total`).
    pub budget_period: BudgetPeriod,
    /// ≥ 1, or unlimited.
    pub rpm_limit: Option<u64>,
    /// ≥ 1, or unlimited.
    pub tpm_limit: Option<u64>,
    /// Whether the key starts enabled (default true).
    pub enabled: bool,
}

impl NewKey {
    /// An enabled, unlimited key reaching every pool.
    pub fn named(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            metadata: None,
            allowed_pools: Vec::new(),
            max_budget: None,
            budget_period: BudgetPeriod::Total,
            rpm_limit: None,
            tpm_limit: None,
            enabled: true,
        }
    }

    /// Parses and validates a create body. `null` for an optional field is
    /// the same as leaving it out.
    pub fn from_json(body: &[u8]) -> Result<Self, AdminError> {
        let fields = object(body)?;
        let mut key = Self::named(String::new());
        let mut named = false;
        for (field, value) in &fields {
            match field.as_str() {
                "name" => {
                    key.name = name(value)?;
                    named = true;
                }
                "metadata" => key.metadata = optional(value, metadata)?,
                "allowed_pools" => key.allowed_pools = optional(value, pools)?.unwrap_or_default(),
                "max_budget_cents" => key.max_budget = optional(value, budget)?,
                "budget_period" => key.budget_period = optional(value, period)?.unwrap_or_default(),
                "rpm_limit" => key.rpm_limit = optional(value, |v| limit("rpm_limit", v))?,
                "tpm_limit" => key.tpm_limit = optional(value, |v| limit("tpm_limit", v))?,
                "enabled" => key.enabled = enabled(value)?,
                other => return Err(unknown(other)),
            }
        }
        if !named {
            return Err(AdminError::invalid("name is required"));
        }
        Ok(key)
    }
}

/// One field of a PATCH: left out, set to `null`, or given a value.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Patch<T> {
    /// The field was absent: it stays as it is.
    #[default]
    Keep,
    /// The field was `null`: back to unlimited (or the default).
    Clear,
    /// The field was given this value.
    Set(T),
}

impl<T: Clone> Patch<T> {
    fn apply(&self, slot: &mut Option<T>) {
        match self {
            Self::Keep => {}
            Self::Clear => *slot = None,
            Self::Set(value) => *slot = Some(value.clone()),
        }
    }
}

/// The validated body of `PATCH /admin/keys/ID`.
#[derive(Debug, Clone, PartialEq, Default)]
#[non_exhaustive]
pub struct KeyPatch {
    /// A new name; `null` is refused.
    pub name: Option<String>,
    /// `null` removes the metadata.
    pub metadata: Patch<Map<String, Value>>,
    /// `null` (or `[]`) opens the key to every pool.
    pub allowed_pools: Patch<Vec<String>>,
    /// `null` makes the budget unlimited.
    pub max_budget: Patch<Cents>,
    /// `null` returns to `total`.
    pub budget_period: Patch<BudgetPeriod>,
    /// `null` removes the limit.
    pub rpm_limit: Patch<u64>,
    /// `null` removes the limit.
    pub tpm_limit: Patch<u64>,
    /// `false` suspends the key, `true` resumes it; `null` is refused.
    pub enabled: Option<bool>,
}

impl KeyPatch {
    /// Parses and validates a patch body.
    pub fn from_json(body: &[u8]) -> Result<Self, AdminError> {
        let fields = object(body)?;
        let mut patch = Self::default();
        for (field, value) in &fields {
            match field.as_str() {
                "name" => patch.name = Some(name(value)?),
                "metadata" => patch.metadata = patched(value, metadata)?,
                "allowed_pools" => patch.allowed_pools = patched(value, pools)?,
                "max_budget_cents" => patch.max_budget = patched(value, budget)?,
                "budget_period" => patch.budget_period = patched(value, period)?,
                "rpm_limit" => patch.rpm_limit = patched(value, |v| limit("rpm_limit", v))?,
                "tpm_limit" => patch.tpm_limit = patched(value, |v| limit("tpm_limit", v))?,
                "enabled" => patch.enabled = Some(enabled(value)?),
                other => return Err(unknown(other)),
            }
        }
        Ok(patch)
    }

    /// Applies the patch to a key's metadata.
    pub fn apply(&self, key: &mut KeyMetadata) {
        if let Some(name) = &self.name {
            key.name.clone_from(name);
        }
        self.metadata.apply(&mut key.metadata);
        let mut pools = Some(std::mem::take(&mut key.allowed_pools));
        self.allowed_pools.apply(&mut pools);
        key.allowed_pools = pools.unwrap_or_default();
        self.max_budget.apply(&mut key.max_budget);
        let mut period = Some(key.budget_period);
        self.budget_period.apply(&mut period);
        key.budget_period = period.unwrap_or_default();
        self.rpm_limit.apply(&mut key.rpm_limit);
        self.tpm_limit.apply(&mut key.tpm_limit);
        if let Some(enabled) = self.enabled {
            key.enabled = enabled;
        }
    }
}

fn object(body: &[u8]) -> Result<Map<String, Value>, AdminError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(fields)) => Ok(fields),
        Ok(_) => Err(AdminError::invalid("the body must be a JSON object")),
        Err(err) => Err(AdminError::invalid(format!(
            "the body is not valid JSON: {err}"
        ))),
    }
}

fn unknown(field: &str) -> AdminError {
    AdminError::invalid(format!("unknown field `{field}`"))
}

fn optional<T>(
    value: &Value,
    parse: impl FnOnce(&Value) -> Result<T, AdminError>,
) -> Result<Option<T>, AdminError> {
    if value.is_null() {
        Ok(None)
    } else {
        parse(value).map(Some)
    }
}

fn patched<T>(
    value: &Value,
    parse: impl FnOnce(&Value) -> Result<T, AdminError>,
) -> Result<Patch<T>, AdminError> {
    Ok(optional(value, parse)?.map_or(Patch::Clear, Patch::Set))
}

fn name(value: &Value) -> Result<String, AdminError> {
    match value.as_str().map(str::trim) {
        Some(name) if !name.is_empty() && name.chars().count() <= MAX_NAME_CHARS => {
            Ok(name.to_owned())
        }
        _ => Err(AdminError::invalid(
            "name must be a non-empty string of at most 256 characters",
        )),
    }
}

fn metadata(value: &Value) -> Result<Map<String, Value>, AdminError> {
    value
        .as_object()
        .cloned()
        .ok_or_else(|| AdminError::invalid("metadata must be a JSON object"))
}

fn pools(value: &Value) -> Result<Vec<String>, AdminError> {
    let bad = || {
        AdminError::invalid(format!(
            "allowed_pools must be an array of at most {MAX_POOLS} non-empty pool or model names"
        ))
    };
    let items = value
        .as_array()
        .filter(|a| a.len() <= MAX_POOLS)
        .ok_or_else(bad)?;
    let mut names: Vec<String> = Vec::with_capacity(items.len());
    for item in items {
        let name = item
            .as_str()
            .filter(|s| !s.trim().is_empty())
            .ok_or_else(bad)?;
        if !names.iter().any(|n| n == name) {
            names.push(name.to_owned());
        }
    }
    Ok(names)
}

/// A budget in cents, kept to the micro-cent (a millionth of a cent): a
/// finer figure is rounded to the nearest, and a positive budget that would
/// round to nothing is refused rather than silently becoming 0.
fn budget(value: &Value) -> Result<Cents, AdminError> {
    let refused = || {
        AdminError::invalid(format!(
            "max_budget_cents must be 0 or a number from 0.000001 (budgets are kept to a \
             millionth of a cent) to {MAX_CENTS:e}"
        ))
    };
    let cents = value.as_f64().ok_or_else(refused)?;
    let kept = Cents::from_f64(cents).ok_or_else(refused)?;
    if cents > 0.0 && kept.micros() == 0 {
        return Err(refused());
    }
    Ok(kept)
}

fn period(value: &Value) -> Result<BudgetPeriod, AdminError> {
    value
        .as_str()
        .and_then(BudgetPeriod::parse)
        .ok_or_else(|| AdminError::invalid("budget_period must be one of total, daily, monthly"))
}

fn limit(field: &str, value: &Value) -> Result<u64, AdminError> {
    // Stored as a signed 64-bit integer in both databases.
    value
        .as_u64()
        .filter(|n| (1..=i64::MAX as u64).contains(n))
        .ok_or_else(|| AdminError::invalid(format!("{field} must be an integer ≥ 1")))
}

fn enabled(value: &Value) -> Result<bool, AdminError> {
    value
        .as_bool()
        .ok_or_else(|| AdminError::invalid("enabled must be true or false"))
}

#[cfg(test)]
mod tests;
