//! Per-model prices, to record the cost of each diagnosis.
//!
//! The table is configuration: [`PriceTable::default`] carries list prices known when
//! this was written, and [`PriceTable::from_json`] / [`PriceTable::set`] override them.
//! The defaults for the 5.x generation are placeholders equal to the previous
//! generation's list price (USD per million tokens) and must be checked against the
//! provider's pricing page before the cost figures are relied on.

use super::super::model::Usage;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Prices of one model, USD per million tokens.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ModelPrice {
    /// Uncached input.
    pub input_per_mtok: f64,
    /// Output (thinking included).
    pub output_per_mtok: f64,
    /// Cache write (5 minute TTL), 1.25× input by default.
    pub cache_write_per_mtok: f64,
    /// Cache read, 0.1× input by default.
    pub cache_read_per_mtok: f64,
}

impl ModelPrice {
    /// A price with the usual cache multipliers (write 1.25×, read 0.1×).
    pub fn standard(input: f64, output: f64) -> Self {
        Self {
            input_per_mtok: input,
            output_per_mtok: output,
            cache_write_per_mtok: input * 1.25,
            cache_read_per_mtok: input * 0.1,
        }
    }
}

/// Model id (or id prefix) → price.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PriceTable {
    /// Entries keyed by model id or prefix.
    pub prices: BTreeMap<String, ModelPrice>,
}

impl Default for PriceTable {
    fn default() -> Self {
        let mut prices = BTreeMap::new();
        for (id, i, o) in [
            ("claude-haiku-4-5", 1.0, 5.0),
            ("claude-sonnet-4-5", 3.0, 15.0),
            ("claude-sonnet-4-6", 3.0, 15.0),
            ("claude-sonnet-5", 3.0, 15.0),
            ("claude-sonnet-5-5", 3.0, 15.0),
            ("claude-opus-4-5", 5.0, 25.0),
            ("claude-opus-4-6", 5.0, 25.0),
            ("claude-opus-4-7", 5.0, 25.0),
            ("claude-opus-4-8", 5.0, 25.0),
            ("claude-opus-5", 5.0, 25.0),
            ("claude-opus-5-5", 5.0, 25.0),
        ] {
            prices.insert(id.to_string(), ModelPrice::standard(i, o));
        }
        Self { prices }
    }
}

impl PriceTable {
    /// An empty table (every cost is 0).
    pub fn empty() -> Self {
        Self {
            prices: BTreeMap::new(),
        }
    }

    /// Parses `{"model-id": {"input_per_mtok":…, "output_per_mtok":…, …}}` entries and
    /// overlays them on the defaults.
    pub fn from_json(text: &str) -> Result<Self, serde_json::Error> {
        let extra: BTreeMap<String, ModelPrice> = serde_json::from_str(text)?;
        let mut t = Self::default();
        t.prices.extend(extra);
        Ok(t)
    }

    /// Sets one model's price.
    pub fn set(&mut self, model: &str, price: ModelPrice) {
        self.prices.insert(model.to_string(), price);
    }

    /// The price of `model`: exact id, else the longest prefix (a dated snapshot id such
    /// as `claude-sonnet-4-5-20250929` matches `claude-sonnet-4-5`).
    pub fn lookup(&self, model: &str) -> Option<ModelPrice> {
        if let Some(p) = self.prices.get(model) {
            return Some(*p);
        }
        self.prices
            .iter()
            .filter(|(k, _)| model.starts_with(k.as_str()) && model[k.len()..].starts_with('-'))
            .max_by_key(|(k, _)| k.len())
            .map(|(_, p)| *p)
    }

    /// Cost in USD of `usage` on `model` (0 when the model has no price).
    pub fn cost(&self, model: &str, usage: &Usage) -> f64 {
        let Some(p) = self.lookup(model) else {
            return 0.0;
        };
        (usage.input_tokens as f64 * p.input_per_mtok
            + usage.output_tokens as f64 * p.output_per_mtok
            + usage.cache_creation as f64 * p.cache_write_per_mtok
            + usage.cache_read as f64 * p.cache_read_per_mtok)
            / 1_000_000.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dated_snapshot_id_is_priced_by_its_alias_prefix() {
        let t = PriceTable::default();
        let u = Usage {
            input_tokens: 1_000_000,
            output_tokens: 100_000,
            cache_read: 1_000_000,
            cache_creation: 0,
            cost_usd: 0.0,
            ..Default::default()
        };
        let c = t.cost("claude-sonnet-4-5-20250929", &u);
        assert!((c - (3.0 + 1.5 + 0.3)).abs() < 1e-9, "{c}");
        assert_eq!(t.cost("qwen3:14b", &u), 0.0);
    }

    #[test]
    fn configured_prices_override_the_defaults() {
        let t = PriceTable::from_json(r#"{"qwen3:14b": {"input_per_mtok": 1.0, "output_per_mtok": 2.0, "cache_write_per_mtok": 0.0, "cache_read_per_mtok": 0.0}}"#).unwrap();
        let u = Usage {
            input_tokens: 500_000,
            output_tokens: 500_000,
            ..Default::default()
        };
        assert!((t.cost("qwen3:14b", &u) - 1.5).abs() < 1e-9);
    }
}
