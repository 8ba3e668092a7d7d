//! `rotation_configs` and `proxy_rotation_rules`. Every document is checked by
//! the engine's own parser before it is stored, so what is in the database
//! always loads. Activating a config deactivates the previous active one of
//! its target group in the same transaction; a partial unique index makes two
//! active configs per group impossible.

use rusqlite::{Connection, OptionalExtension, Row, params};
use serde::Serialize;
use serde_json::{Value, json};
use vip_engine::{RotationConfig, RotationDocument, RuleSpec, StrategyName};

use crate::{Result, Store, StoreError, now_ms};

/// A stored rotation config.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RotationRecord {
    /// Row id.
    pub id: i64,
    /// Unique name.
    pub name: String,
    /// Canonical strategy name.
    pub strategy: String,
    /// Target group; `None` is the whole pool.
    pub target_group: Option<String>,
    /// `common_config` document.
    pub common_config: Value,
    /// `strategy_config` document.
    pub strategy_config: Value,
    /// Active for its group.
    pub is_active: bool,
    /// Created (ms).
    pub created_at: i64,
    /// Changed (ms).
    pub updated_at: i64,
}

/// A stored rule.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RuleRecord {
    /// Row id.
    pub id: i64,
    /// Owning config.
    pub config_id: i64,
    /// Name.
    pub name: String,
    /// Higher runs first.
    pub priority: i64,
    /// and / or.
    pub condition_logic: String,
    /// Conditions document.
    pub conditions: Value,
    /// Actions document.
    pub actions: Value,
    /// Stop after a match.
    pub stop_on_match: bool,
    /// Enabled.
    pub enabled: bool,
}

const COLUMNS: &str = "id, name, strategy, target_group, common_config, strategy_config, is_active, created_at, updated_at";

fn record(r: &Row<'_>) -> rusqlite::Result<RotationRecord> {
    let common: String = r.get(4)?;
    let strategy: String = r.get(5)?;
    Ok(RotationRecord {
        id: r.get(0)?,
        name: r.get(1)?,
        strategy: r.get(2)?,
        target_group: r.get(3)?,
        common_config: serde_json::from_str(&common).unwrap_or(Value::Null),
        strategy_config: serde_json::from_str(&strategy).unwrap_or(Value::Null),
        is_active: r.get(6)?,
        created_at: r.get(7)?,
        updated_at: r.get(8)?,
    })
}

fn rule_record(r: &Row<'_>) -> rusqlite::Result<RuleRecord> {
    let conditions: String = r.get(5)?;
    let actions: String = r.get(6)?;
    Ok(RuleRecord {
        id: r.get(0)?,
        config_id: r.get(1)?,
        name: r.get(2)?,
        priority: r.get(3)?,
        condition_logic: r.get(4)?,
        conditions: serde_json::from_str(&conditions).unwrap_or(Value::Null),
        actions: serde_json::from_str(&actions).unwrap_or(Value::Null),
        stop_on_match: r.get(7)?,
        enabled: r.get(8)?,
    })
}

fn invalid(e: vip_engine::ConfigError) -> StoreError {
    StoreError::invalid(e.location(), e.to_string())
}

/// A part of a stored rule as the engine's type (what was stored passed
/// the engine's parser, so a failure means the row was damaged).
fn stored_part<T: serde::de::DeserializeOwned>(
    config: i64,
    rule: i64,
    what: &str,
    value: Value,
) -> Result<T> {
    serde_json::from_value(value).map_err(|e| {
        StoreError::Corrupt(format!(
            "rotation config {config}, rule {rule}: {what}: {e}"
        ))
    })
}

/// Stores one rule as the engine parses it (its defaults are the
/// parser's: nothing is re-implemented here).
fn insert_rule(conn: &Connection, config_id: i64, rule: &Value) -> Result<i64> {
    let spec = RuleSpec::from_value(rule, "rule").map_err(invalid)?;
    let logic = match spec.condition_logic {
        vip_engine::rules::Logic::And => "and",
        vip_engine::rules::Logic::Or => "or",
    };
    conn.execute(
        "INSERT INTO proxy_rotation_rules (config_id, name, priority, condition_logic, conditions, actions,
             stop_on_match, enabled, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![
            config_id,
            spec.name,
            spec.priority,
            logic,
            serde_json::to_string(&spec.conditions).unwrap_or_else(|_| "[]".into()),
            serde_json::to_string(&spec.actions).unwrap_or_else(|_| "[]".into()),
            spec.stop_on_match,
            spec.enabled,
            now_ms(),
        ],
    )?;
    Ok(conn.last_insert_rowid())
}

impl Store {
    /// Validates and stores a rotation config document (with its `rules`).
    pub fn create_rotation(&self, doc: &Value) -> Result<i64> {
        let parsed = RotationConfig::from_value(doc).map_err(invalid)?;
        let tx = self.conn().unchecked_transaction()?;
        let taken: bool = tx.query_row(
            "SELECT EXISTS (SELECT 1 FROM rotation_configs WHERE name = ?1)",
            [&parsed.name],
            |r| r.get(0),
        )?;
        if taken {
            return Err(StoreError::invalid(
                "name",
                format!(
                    "a rotation config named {:?} exists; choose another name",
                    parsed.name
                ),
            ));
        }
        let now = now_ms();
        tx.execute(
            "INSERT INTO rotation_configs (name, strategy, target_group, common_config, strategy_config, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
            params![
                parsed.name,
                parsed.strategy.name().as_str(),
                parsed.target_group,
                canonical_common(&parsed),
                parsed.strategy.to_value().to_string(),
                now,
            ],
        )?;
        let id = tx.last_insert_rowid();
        for rule in doc
            .get("rules")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            insert_rule(&tx, id, rule)?;
        }
        tx.commit()?;
        Ok(id)
    }

    /// Replaces a config's settings (and its rules, when the document has
    /// `rules`), after validating the result.
    pub fn update_rotation(&self, id: i64, doc: &Value) -> Result<()> {
        let parsed = RotationConfig::from_value(doc).map_err(invalid)?;
        let tx = self.conn().unchecked_transaction()?;
        let n = tx.execute(
            "UPDATE rotation_configs SET name = ?1, strategy = ?2, target_group = ?3, common_config = ?4,
                 strategy_config = ?5, updated_at = ?6 WHERE id = ?7",
            params![
                parsed.name,
                parsed.strategy.name().as_str(),
                parsed.target_group,
                canonical_common(&parsed),
                parsed.strategy.to_value().to_string(),
                now_ms(),
                id,
            ],
        )?;
        if n == 0 {
            return Err(StoreError::not_found("rotation config", id));
        }
        if let Some(rules) = doc.get("rules").and_then(Value::as_array) {
            tx.execute(
                "DELETE FROM proxy_rotation_rules WHERE config_id = ?1",
                [id],
            )?;
            for rule in rules {
                insert_rule(&tx, id, rule)?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// All configs by id.
    pub fn list_rotations(&self) -> Result<Vec<RotationRecord>> {
        let mut stmt = self.conn().prepare(&format!(
            "SELECT {COLUMNS} FROM rotation_configs ORDER BY id"
        ))?;
        let rows = stmt.query_map([], record)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// A config by id, or by name when `key` is not a number.
    pub fn find_rotation(&self, key: &str) -> Result<RotationRecord> {
        let found = match key.parse::<i64>() {
            Ok(id) => self
                .conn()
                .query_row(
                    &format!("SELECT {COLUMNS} FROM rotation_configs WHERE id = ?1"),
                    [id],
                    record,
                )
                .optional()?,
            Err(_) => self
                .conn()
                .query_row(
                    &format!("SELECT {COLUMNS} FROM rotation_configs WHERE name = ?1"),
                    [key],
                    record,
                )
                .optional()?,
        };
        found.ok_or_else(|| StoreError::not_found("rotation config", key))
    }

    /// The active config of a group (`None` is the whole pool).
    pub fn active_rotation(&self, group: Option<&str>) -> Result<Option<RotationRecord>> {
        Ok(self
            .conn()
            .query_row(
                &format!(
                    "SELECT {COLUMNS} FROM rotation_configs WHERE is_active = 1 AND COALESCE(target_group, '') = COALESCE(?1, '')"
                ),
                [group],
                record,
            )
            .optional()?)
    }

    /// Deletes a config that is not active (its rules and sticky mappings
    /// go with it; rotation events keep their history).
    pub fn delete_rotation(&self, id: i64) -> Result<()> {
        let tx = self.conn().unchecked_transaction()?;
        let active: Option<bool> = tx
            .query_row(
                "SELECT is_active FROM rotation_configs WHERE id = ?1",
                [id],
                |r| r.get(0),
            )
            .optional()?;
        match active {
            None => return Err(StoreError::not_found("rotation config", id)),
            Some(true) => {
                return Err(StoreError::invalid(
                    "id",
                    format!(
                        "rotation config {id} is active: activate another one for its group first"
                    ),
                ));
            }
            Some(false) => {}
        }
        tx.execute("DELETE FROM rotation_configs WHERE id = ?1", [id])?;
        tx.commit()?;
        Ok(())
    }

    /// Makes `id` the active config of its group, deactivating the previous
    /// one in the same transaction. Returns the id it replaced.
    pub fn activate_rotation(&self, id: i64) -> Result<Option<i64>> {
        let tx = self.conn().unchecked_transaction()?;
        let group: Option<Option<String>> = tx
            .query_row(
                "SELECT target_group FROM rotation_configs WHERE id = ?1",
                [id],
                |r| r.get(0),
            )
            .optional()?;
        let Some(group) = group else {
            return Err(StoreError::not_found("rotation config", id));
        };
        let previous: Option<i64> = tx
            .query_row(
                "SELECT id FROM rotation_configs WHERE is_active = 1 AND COALESCE(target_group, '') = COALESCE(?1, '') AND id <> ?2",
                params![group, id],
                |r| r.get(0),
            )
            .optional()?;
        let now = now_ms();
        if let Some(p) = previous {
            tx.execute(
                "UPDATE rotation_configs SET is_active = 0, updated_at = ?1 WHERE id = ?2",
                params![now, p],
            )?;
        }
        tx.execute(
            "UPDATE rotation_configs SET is_active = 1, updated_at = ?1 WHERE id = ?2",
            params![now, id],
        )?;
        tx.commit()?;
        Ok(previous)
    }

    /// Adds a rule to a config after checking the config still loads with it.
    pub fn add_rule(&self, config_id: i64, rule: &Value) -> Result<i64> {
        let mut doc = self.rotation_document(config_id)?;
        if let Some(rules) = doc.get_mut("rules").and_then(Value::as_array_mut) {
            rules.push(rule.clone());
        }
        RotationConfig::from_value(&doc).map_err(invalid)?;
        insert_rule(self.conn(), config_id, rule)
    }

    /// A config's rules in evaluation order.
    pub fn list_rules(&self, config_id: i64) -> Result<Vec<RuleRecord>> {
        let mut stmt = self.conn().prepare(
            "SELECT id, config_id, name, priority, condition_logic, conditions, actions, stop_on_match, enabled
             FROM proxy_rotation_rules WHERE config_id = ?1 ORDER BY priority DESC, id",
        )?;
        let rows = stmt.query_map([config_id], rule_record)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The full document (settings and rules) of a stored config, in the
    /// engine's canonical form.
    pub fn rotation_document(&self, id: i64) -> Result<Value> {
        let r = self.find_rotation(&id.to_string())?;
        let corrupt = |what: String| StoreError::Corrupt(format!("rotation config {id}: {what}"));
        let mut rules = Vec::new();
        for rule in self.list_rules(id)? {
            rules.push(RuleSpec {
                id: rule.id as u64,
                name: rule.name.clone(),
                priority: i32::try_from(rule.priority).unwrap_or(0),
                enabled: rule.enabled,
                condition_logic: stored_part(
                    id,
                    rule.id,
                    "condition_logic",
                    Value::String(rule.condition_logic.clone()),
                )?,
                conditions: stored_part(id, rule.id, "conditions", rule.conditions.clone())?,
                actions: stored_part(id, rule.id, "actions", rule.actions.clone())?,
                stop_on_match: rule.stop_on_match,
            });
        }
        let document = RotationDocument {
            id: r.id as u64,
            name: r.name,
            strategy: StrategyName::parse(&r.strategy).map_err(|e| corrupt(e.to_string()))?,
            target_group: r.target_group,
            common_config: r.common_config,
            strategy_config: r.strategy_config,
            rules,
        };
        Ok(document.to_value())
    }

    /// A stored config as the engine loads it.
    pub fn engine_rotation(&self, id: i64) -> Result<RotationConfig> {
        RotationConfig::from_value(&self.rotation_document(id)?).map_err(invalid)
    }
}

/// `common_config` in canonical form: every setting written out.
fn canonical_common(config: &RotationConfig) -> String {
    // Invariant: CommonConfig is plain numbers and options.
    serde_json::to_value(&config.common)
        .unwrap_or_else(|_| json!({}))
        .to_string()
}
