//! Command implementations. Each one is a thin adapter: read input, call a
//! library crate, print a table or JSON.

use std::io::Read;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use vip_engine::{RotationConfig, StrategyConfig, StrategyName};

use crate::cli::{Cli, Command, RotationCommand};
use crate::data_dir;

/// Runs the parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let data_dir = data_dir::resolve(cli.data_dir);
    match cli.command {
        None => {
            println!("vip {} — Virtual IP Browser", env!("CARGO_PKG_VERSION"));
            println!("data directory: {}", data_dir.display());
            println!();
            println!("commands:");
            println!(
                "  vip strategies                 list the {} rotation strategies",
                StrategyName::ALL.len()
            );
            println!("  vip rotation validate FILE     check a rotation config (JSON)");
            println!();
            println!("`vip --help` and `vip COMMAND --help` describe every option.");
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Strategies { json }) => {
            strategies(json);
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Rotation(RotationCommand::Validate { file, json })) => validate(&file, json),
    }
}

fn describe(name: StrategyName) -> &'static str {
    match name {
        StrategyName::RoundRobin => "next available proxy in pool order",
        StrategyName::Random => "uniformly random available proxy",
        StrategyName::Weighted => "random in proportion to weight 0-100 (0 is never picked)",
        StrategyName::Fastest => "lowest connect-latency EWMA, with anti-flap tolerance",
        StrategyName::LeastUsed => "fewest active connections, then fewest recent requests",
        StrategyName::Geographic => {
            "preferred countries and regions first, excluded countries never"
        }
        StrategyName::StickySession => "same proxy per domain for a TTL (consistent hashing)",
        StrategyName::Failover => "first healthy proxy in a fixed order; returns after k successes",
        StrategyName::TimeBased => "hold one proxy for an interval or request count",
        StrategyName::FailureAware => "avoid proxies with recent failures; bench after a threshold",
        StrategyName::CustomRules => "rules on domain/url/tab/time/proxy, then a fallback strategy",
    }
}

fn strategies(json: bool) {
    if json {
        let list: Vec<_> = StrategyName::ALL
            .iter()
            .map(|n| serde_json::json!({ "name": n.as_str(), "description": describe(*n) }))
            .collect();
        println!("{}", serde_json::Value::Array(list));
        return;
    }
    println!("{:<16} DESCRIPTION", "STRATEGY");
    for name in StrategyName::ALL {
        println!("{:<16} {}", name.as_str(), describe(name));
    }
}

fn validate(file: &Path, json: bool) -> anyhow::Result<ExitCode> {
    let text = if file == Path::new("-") {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .context("reading standard input")?;
        s
    } else {
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?
    };
    match RotationConfig::from_json(&text) {
        Ok(config) => {
            let picker = config.strategy.picker().name();
            if json {
                let out = serde_json::json!({
                    "valid": true,
                    "name": config.name,
                    "strategy": config.strategy.name().as_str(),
                    "picker": picker.as_str(),
                    "target_group": config.target_group,
                    "rules": config.rules.len(),
                });
                println!("{out}");
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
                let out = serde_json::json!({ "valid": false, "location": err.location(), "error": err.to_string() });
                println!("{out}");
            } else {
                eprintln!("{}: invalid rotation config: {err}", file.display());
            }
            Ok(ExitCode::from(2))
        }
    }
}
