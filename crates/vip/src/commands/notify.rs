//! Changes made while `vip serve` runs apply before the command returns:
//! every command that edits what the daemon loads (the pool, rotation
//! configs and rules, credentials) writes the store as it does without a
//! daemon (same checks, messages and exit codes), then asks the running
//! daemon to reload through the control API and waits for its answer. With
//! no daemon running nothing more happens; the daemon's own poll still
//! catches changes made by other means.

use crate::cli::{Command, DbCommand, ProxyCommand, RotationCommand, RuleCommand, VaultCommand};

/// Whether `command` may change what `vip serve` has loaded.
pub fn changes_what_serve_runs(command: &Command) -> bool {
    match command {
        Command::Proxy(p) => !matches!(p, ProxyCommand::List { .. } | ProxyCommand::Export { .. }),
        Command::Rotation(r) => match r {
            RotationCommand::Create { .. } | RotationCommand::Activate { .. } => true,
            RotationCommand::Rule(rule) => matches!(rule, RuleCommand::Add { .. }),
            _ => false,
        },
        Command::Vault(v) => !matches!(v, VaultCommand::Status(_)),
        Command::Db(d) => matches!(d, DbCommand::Migrate { .. }),
        _ => false,
    }
}

/// Asks the running daemon, if any, to reload now. A daemon that is not
/// running (no endpoint file, or nothing answering it) is not an error; a
/// daemon that answers but cannot reload is reported, since the change is
/// stored but not yet in use.
pub fn reload_running_daemon(data_dir: &std::path::Path) {
    let Ok(client) = vip_api::Client::from_data_dir(data_dir) else {
        return;
    };
    match client.post::<_, vip_api::Reloaded>("/api/v1/reload", &serde_json::json!({})) {
        Ok(done) if done.unreadable_logins > 0 => eprintln!(
            "warning: the running vip serve cannot read the logins of {} prox{} (its vault is locked or \
             has a new password): restart it, or start it with VIP_MASTER_PASSWORD set",
            done.unreadable_logins,
            if done.unreadable_logins == 1 {
                "y"
            } else {
                "ies"
            }
        ),
        Ok(_) => {}
        Err(e) if e.status == 503 && e.message.starts_with("vip serve does not answer") => {}
        Err(e) => eprintln!(
            "warning: the change is stored, but the running vip serve did not apply it yet: {e}"
        ),
    }
}
