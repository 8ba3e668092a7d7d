//! `vip rotation ...`: configs and their rules. Documents are validated by
//! the engine before anything is stored.

use std::path::Path;
use std::process::ExitCode;

use vip_engine::{RotationConfig, StrategyConfig};

use super::{Ctx, InvalidInput, read_input, read_json};
use crate::cli::{RotationCommand, RuleCommand};
use crate::output;

pub fn run(ctx: &Ctx, cmd: RotationCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        RotationCommand::List(out) => {
            let columns = [
                ("ID", "id"),
                ("NAME", "name"),
                ("STRATEGY", "strategy"),
                ("GROUP", "target_group"),
                ("ACTIVE", "is_active"),
            ];
            output::records(&ctx.store()?.list_rotations()?, out.json, &columns);
            Ok(ExitCode::SUCCESS)
        }
        RotationCommand::Create {
            file,
            name,
            strategy,
            group,
            activate,
            out,
        } => {
            let doc = match (file, name, strategy) {
                (Some(file), _, _) => read_json(&file)?,
                (None, Some(name), Some(strategy)) => {
                    let strategy = vip_engine::StrategyName::parse(&strategy)
                        .map_err(|e| InvalidInput(e.to_string()))?;
                    let mut doc =
                        serde_json::json!({ "name": name, "strategy": strategy.as_str() });
                    if let Some(g) = group {
                        doc["target_group"] = serde_json::Value::String(g);
                    }
                    if strategy == vip_engine::StrategyName::TimeBased {
                        doc["common_config"] = serde_json::json!({ "interval": 300_000 });
                    }
                    doc
                }
                _ => {
                    return Err(
                        InvalidInput("give a JSON file, or --name and --strategy".into()).into(),
                    );
                }
            };
            let store = ctx.store()?;
            let id = store.create_rotation(&doc)?;
            let replaced = if activate {
                store.activate_rotation(id)?
            } else {
                None
            };
            if out.json {
                output::json(
                    &serde_json::json!({"id": id, "active": activate, "replaced": replaced}),
                );
            } else {
                println!(
                    "created rotation config {id}{}",
                    if activate { " (active)" } else { "" }
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        RotationCommand::Show { config, out } => {
            let store = ctx.store()?;
            let id = store.find_rotation(&config)?.id;
            let record = store.find_rotation(&id.to_string())?;
            let doc = store.rotation_document(id)?;
            if out.json {
                output::json(&serde_json::json!({"config": record, "document": doc}));
            } else {
                println!(
                    "{} (id {}), {}{}",
                    record.name,
                    record.id,
                    record.strategy,
                    if record.is_active { ", active" } else { "" }
                );
                println!(
                    "target group: {}",
                    record.target_group.as_deref().unwrap_or("(whole pool)")
                );
                println!("common_config: {}", record.common_config);
                println!("strategy_config: {}", record.strategy_config);
                output::records(&store.list_rules(id)?, false, RULE_COLUMNS);
            }
            Ok(ExitCode::SUCCESS)
        }
        RotationCommand::Activate { config } => {
            let store = ctx.store()?;
            let id = store.find_rotation(&config)?.id;
            match store.activate_rotation(id)? {
                Some(prev) => println!("activated rotation config {id} (deactivated {prev})"),
                None => println!("activated rotation config {id}"),
            }
            Ok(ExitCode::SUCCESS)
        }
        RotationCommand::Validate { file, out } => validate(&file, out.json),
        RotationCommand::Explain {
            target,
            tab,
            assign,
            out,
        } => {
            let client = vip_api::Client::from_data_dir(&ctx.data_dir)?;
            let req = vip_api::ExplainRequest {
                target,
                tab,
                assignment: super::tab::assignment(&assign),
            };
            let e: vip_api::Explanation = client.post("/api/v1/rotation:explain", &req)?;
            if out.json {
                println!("{}", serde_json::to_string_pretty(&e)?);
            } else {
                println!("{}", e.summary);
                let line = |p: &vip_api::ProxyBrief| {
                    let latency = p
                        .latency_ms
                        .map(|l| format!(", {l} ms"))
                        .unwrap_or_default();
                    format!(
                        "{} {} {}:{} (breaker {}{latency})",
                        p.id, p.protocol, p.host, p.port, p.breaker
                    )
                };
                if let Some(first) = &e.first {
                    println!("  first:    {}", line(first));
                }
                for f in &e.fallbacks {
                    println!("  fallback: {}", line(f));
                }
                if e.unavailable_total > 0 {
                    println!(
                        "  {} proxies unavailable (breaker open or disabled)",
                        e.unavailable_total
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        RotationCommand::Rule(RuleCommand::Add { config, file, out }) => {
            let rule = read_json(&file)?;
            let store = ctx.store()?;
            let config_id = store.find_rotation(&config)?.id;
            let id = store.add_rule(config_id, &rule)?;
            if out.json {
                output::json(&serde_json::json!({"id": id, "config_id": config_id}));
            } else {
                println!("added rule {id} to rotation config {config_id}");
            }
            Ok(ExitCode::SUCCESS)
        }
        RotationCommand::Rule(RuleCommand::List { config, out }) => {
            let store = ctx.store()?;
            let rules = store.list_rules(store.find_rotation(&config)?.id)?;
            output::records(&rules, out.json, RULE_COLUMNS);
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The columns of a rule table.
const RULE_COLUMNS: &[(&str, &str)] = &[
    ("ID", "id"),
    ("PRIORITY", "priority"),
    ("NAME", "name"),
    ("LOGIC", "condition_logic"),
    ("CONDITIONS", "conditions"),
    ("ACTIONS", "actions"),
    ("STOP", "stop_on_match"),
    ("ENABLED", "enabled"),
];

fn validate(file: &Path, json: bool) -> anyhow::Result<ExitCode> {
    let text = read_input(file)?;
    let text = String::from_utf8(text)
        .map_err(|_| InvalidInput(format!("{}: not UTF-8 text", file.display())))?;
    match RotationConfig::from_json(&text) {
        Ok(config) => {
            let picker = config.strategy.picker().name();
            if json {
                output::json(&serde_json::json!({
                    "valid": true, "name": config.name, "strategy": config.strategy.name().as_str(),
                    "picker": picker.as_str(), "target_group": config.target_group, "rules": config.rules.len(),
                }));
            } else {
                println!("valid: {:?}", config.name);
                println!("strategy: {}", config.strategy.name());
                if let StrategyConfig::CustomRules { .. } = config.strategy {
                    println!("fallback strategy: {picker}");
                }
                println!(
                    "target group: {}",
                    config.target_group.as_deref().unwrap_or("(whole pool)")
                );
                println!("rules: {}", config.rules.len());
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(err) => {
            if json {
                output::json(
                    &serde_json::json!({ "valid": false, "location": err.location(), "error": err.to_string() }),
                );
            } else {
                eprintln!("{}: invalid rotation config: {err}", file.display());
            }
            Ok(ExitCode::from(2))
        }
    }
}
