//! `vip vault ...`: create the vault, show its status, rotate the data key,
//! change the master password. Never prints a secret.

use std::process::ExitCode;

use vip_store::vault::{Vault, master};

use super::Ctx;
use crate::cli::VaultCommand;
use crate::{master as password, output};

pub fn run(ctx: &Ctx, cmd: VaultCommand) -> anyhow::Result<ExitCode> {
    let store = ctx.store()?;
    match cmd {
        VaultCommand::Init { keychain } => {
            let (secret, _) = password::password(&ctx.data_dir, true)?;
            Vault::init(store.conn(), &secret)?;
            println!("vault initialised");
            if keychain {
                if master::store_in_keychain(&ctx.data_dir, &secret) {
                    println!("master password stored in the OS keychain");
                } else {
                    eprintln!(
                        "no OS keychain is available here; use VIP_MASTER_PASSWORD or the prompt"
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        VaultCommand::Status(out) => {
            let status = Vault::status(store.conn())?;
            if out.json {
                output::json(&status);
            } else if status.initialized {
                println!(
                    "vault: initialised, active key {}",
                    output::opt(status.active_key_id)
                );
                println!("credentials: {}", status.credentials);
                if let Some(k) = status.kdf {
                    println!(
                        "kdf: argon2id, {} KiB, {} passes, {} lanes",
                        k.memory_kib, k.iterations, k.parallelism
                    );
                }
            } else {
                println!("vault: not initialised (run `vip vault init`)");
            }
            Ok(ExitCode::SUCCESS)
        }
        VaultCommand::RotateKey(out) => {
            let mut vault = password::open_vault(&store, &ctx.data_dir, false)?;
            let report = vault.rotate_key(store.conn())?;
            if out.json {
                output::json(&report);
            } else {
                println!(
                    "new data key {}; {} credentials re-encrypted; {} old key(s) deleted",
                    report.new_key_id, report.credentials, report.retired_keys
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        VaultCommand::ChangePassword => {
            let mut vault = password::open_vault(&store, &ctx.data_dir, false)?;
            let new = password::new_password()?;
            vault.change_password(store.conn(), &new)?;
            if master::from_keychain(&ctx.data_dir).is_some() {
                master::store_in_keychain(&ctx.data_dir, &new);
            }
            println!("master password changed");
            Ok(ExitCode::SUCCESS)
        }
    }
}
