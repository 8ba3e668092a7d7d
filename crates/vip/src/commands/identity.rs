//! `vip identity ...`: named identities of the running `vip serve` (create,
//! list, delete, cookies in and out, through its control API), and whole
//! identities sealed to a file and back (on the store, with or without a
//! daemon).

use std::process::ExitCode;

use vip_api::{Client, Identity, NewIdentity};

use super::Ctx;
use super::tab::{assignment, encode};
use crate::cli::{CookieKind, CookiesCommand, IdentityCommand};
use crate::output;

/// Runs `vip identity ...`.
pub fn run(ctx: &Ctx, cmd: IdentityCommand) -> anyhow::Result<ExitCode> {
    // Export and import work on the store, with or without `vip serve`.
    match cmd {
        IdentityCommand::Export { name, file } => {
            let store = ctx.store()?;
            let vault = crate::master::open_vault(&store, &ctx.data_dir, false)?;
            let (password, _) = crate::master::password(&ctx.data_dir, false)?;
            let sealed = store.export_identity(&vault, &name, &password)?;
            super::write_private(&file, &sealed)?;
            eprintln!(
                "identity {name} written to {} (sealed under the master password)",
                file.display()
            );
            return Ok(ExitCode::SUCCESS);
        }
        IdentityCommand::Import { file, rename } => {
            let bytes = super::read_input(&file)?;
            let store = ctx.store()?;
            let vault = crate::master::open_vault(&store, &ctx.data_dir, false)?;
            let password = match std::env::var("VIP_FILE_PASSWORD")
                .ok()
                .filter(|p| !p.is_empty())
            {
                Some(p) => vip_store::vault::Secret::new(p),
                None => crate::master::password(&ctx.data_dir, false)?.0,
            };
            let name = store
                .import_identity(&vault, &bytes, &password, rename.as_deref())
                .map_err(|e| {
                    let hint = if e.to_string().contains("does not open") {
                        " (it opens with the master password of the machine that exported it: \
                         when that differs from this one's, give it in VIP_FILE_PASSWORD)"
                    } else {
                        ""
                    };
                    super::InvalidInput(format!("{}: {e}{hint}", file.display()))
                })?;
            eprintln!("identity {name} imported from {}", file.display());
            return Ok(ExitCode::SUCCESS);
        }
        _ => {}
    }
    let client = Client::from_data_dir(&ctx.data_dir)?;
    match cmd {
        IdentityCommand::Create {
            name,
            assign,
            webrtc,
            geo,
        } => {
            let req = NewIdentity {
                name,
                assignment: assignment(&assign),
                webrtc,
                geo,
            };
            let made: Identity = client.post("/api/v1/identities", &req)?;
            eprintln!("identity {} created ({})", made.name, made.assignment);
        }
        IdentityCommand::List(out) => {
            let list: Vec<Identity> = client.get("/api/v1/identities")?;
            if out.json {
                output::json(&list);
            } else {
                let rows: Vec<Vec<String>> = list
                    .iter()
                    .map(|i| {
                        vec![
                            i.name.clone(),
                            i.assignment.to_string(),
                            i.webrtc.clone(),
                            if i.saved_storage { "yes" } else { "no" }.to_string(),
                            i.open_tabs.to_string(),
                        ]
                    })
                    .collect();
                output::table(&["NAME", "THROUGH", "WEBRTC", "SAVED_DATA", "TABS"], &rows);
            }
        }
        IdentityCommand::Cookies(cmd) => return cookies(&client, cmd),
        IdentityCommand::Export { .. } | IdentityCommand::Import { .. } => {}
        IdentityCommand::Rm { name } => {
            let _: serde_json::Value =
                client.delete(&format!("/api/v1/identities/{}", encode(&name)))?;
            eprintln!("identity {name} deleted");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs `vip identity cookies ...`.
fn cookies(client: &Client, cmd: CookiesCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        CookiesCommand::Export {
            name,
            format,
            output,
        } => {
            let format = match format {
                CookieKind::Netscape => "netscape",
                CookieKind::Json => "json",
            };
            let route = format!(
                "/api/v1/identities/{}/cookies?format={format}",
                encode(&name)
            );
            let file: vip_api::CookieFile = client.get(&route)?;
            match output {
                Some(path) => {
                    super::write_private(&path, file.text.as_bytes())?;
                    eprintln!("wrote {} cookies to {}", file.count, path.display());
                }
                None => print!("{}", file.text),
            }
            Ok(ExitCode::SUCCESS)
        }
        CookiesCommand::Import { name, file, out } => {
            let bytes = super::read_input(&file)?;
            let text = String::from_utf8(bytes)
                .map_err(|_| super::InvalidInput(format!("{}: not UTF-8 text", file.display())))?;
            let route = format!("/api/v1/identities/{}/cookies", encode(&name));
            let report: vip_api::CookieReport =
                client.post(&route, &vip_api::CookieUpload { text })?;
            Ok(output::report(&report, out.json, report.invalid))
        }
    }
}
