//! `vip tab`, `vip identity` and `vip session`: clients of the running
//! `vip serve`'s control API.

use std::process::ExitCode;

use vip_api::{AssignmentSpec, Client, Identity, NewIdentity, OpenTab, SessionInfo, Tab};

use super::Ctx;
use crate::cli::{
    AssignArgs, CookieKind, CookiesCommand, IdentityCommand, SessionCommand, TabCommand,
};
use crate::output;

fn print_tabs(tabs: &[Tab], json: bool) {
    if json {
        output::json(&tabs);
        return;
    }
    let rows: Vec<Vec<String>> = tabs
        .iter()
        .map(|t| {
            vec![
                t.id.to_string(),
                t.identity.clone().unwrap_or_else(|| {
                    format!("({})", t.anonymous.as_deref().unwrap_or("unnamed"))
                }),
                t.assignment.to_string(),
                output::opt(t.country.as_deref()),
                t.timezone.clone(),
                t.webrtc.clone(),
                t.blocked.to_string(),
                t.state.clone(),
                t.url.clone(),
            ]
        })
        .collect();
    output::table(
        &[
            "ID", "IDENTITY", "THROUGH", "COUNTRY", "TIMEZONE", "WEBRTC", "BLOCKED", "STATE", "URL",
        ],
        &rows,
    );
}

/// The assignment the flags ask for, if any.
pub fn assignment(a: &AssignArgs) -> Option<AssignmentSpec> {
    let a = a.clone();
    match (a.proxy, a.group, a.country, a.rotation, a.direct) {
        (Some(id), ..) => Some(AssignmentSpec::Proxy { id }),
        (_, Some(group), ..) => Some(AssignmentSpec::Group { group }),
        (_, _, Some(country), ..) => Some(AssignmentSpec::Country { country }),
        (_, _, _, Some(config), _) => Some(AssignmentSpec::Rotation { config }),
        (.., true) => Some(AssignmentSpec::Direct),
        _ => None,
    }
}

/// Runs `vip identity ...`.
pub fn identity(ctx: &Ctx, cmd: IdentityCommand) -> anyhow::Result<ExitCode> {
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
            let made: Identity = client.post("/v1/identities", &req)?;
            eprintln!("identity {} created ({})", made.name, made.assignment);
        }
        IdentityCommand::List(out) => {
            let list: Vec<Identity> = client.get("/v1/identities")?;
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
                client.delete(&format!("/v1/identities/{}", encode(&name)))?;
            eprintln!("identity {name} deleted");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs `vip tab ...`.
pub fn run(ctx: &Ctx, cmd: TabCommand) -> anyhow::Result<ExitCode> {
    let client = Client::from_data_dir(&ctx.data_dir)?;
    match cmd {
        TabCommand::Open {
            url,
            identity,
            assign,
            webrtc,
            geo,
            out,
        } => {
            let assignment = assignment(&assign);
            let req = OpenTab {
                geo,
                url,
                identity,
                assignment,
                webrtc,
                shared_with: None,
            };
            let tab: Tab = client.post("/v1/tabs", &req)?;
            print_tabs(&[tab], out.json);
        }
        TabCommand::List(out) => {
            let tabs: Vec<Tab> = client.get("/v1/tabs")?;
            print_tabs(&tabs, out.json);
        }
        TabCommand::Close { id } => {
            let _: serde_json::Value = client.delete(&format!("/v1/tabs/{id}"))?;
            eprintln!("tab {id} closed");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs `vip session ...`.
pub fn session(ctx: &Ctx, cmd: SessionCommand) -> anyhow::Result<ExitCode> {
    let client = Client::from_data_dir(&ctx.data_dir)?;
    match cmd {
        SessionCommand::Save { name } => {
            let info: SessionInfo = client.post(&format!("/v1/sessions/{}", encode(&name)), &())?;
            eprintln!("session {} saved with {} tabs", info.name, info.tabs);
        }
        SessionCommand::Load { name, out } => {
            let tabs: Vec<Tab> =
                client.post(&format!("/v1/sessions/{}/load", encode(&name)), &())?;
            print_tabs(&tabs, out.json);
        }
        SessionCommand::List(out) => {
            let sessions: Vec<SessionInfo> = client.get("/v1/sessions")?;
            let columns = [
                ("NAME", "name"),
                ("TABS", "tabs"),
                ("SAVED_AT_MS", "saved_at"),
            ];
            output::records(&sessions, out.json, &columns);
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
            let route = format!("/v1/identities/{}/cookies?format={format}", encode(&name));
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
            let route = format!("/v1/identities/{}/cookies", encode(&name));
            let report: vip_api::CookieReport =
                client.post(&route, &vip_api::CookieUpload { text })?;
            if out.json {
                output::json(&report);
            } else {
                let unit = if report.format == "json" {
                    "entry"
                } else {
                    "line"
                };
                for v in &report.verdicts {
                    let at = &v["at"];
                    match v["verdict"].as_str() {
                        Some("imported") => {
                            println!("{unit} {at}: imported {} for {}", v["name"], v["domain"])
                        }
                        Some("expired") => {
                            println!("{unit} {at}: expired, left out: {}", v["name"])
                        }
                        _ => println!(
                            "{unit} {at}: invalid: {}",
                            v["reason"].as_str().unwrap_or("?")
                        ),
                    }
                }
                println!(
                    "{} format: {} imported, {} expired, {} invalid",
                    report.format, report.imported, report.expired, report.invalid
                );
            }
            Ok(if report.invalid > 0 {
                ExitCode::from(3)
            } else {
                ExitCode::SUCCESS
            })
        }
    }
}

fn encode(name: &str) -> String {
    percent_encoding::utf8_percent_encode(name, percent_encoding::NON_ALPHANUMERIC).to_string()
}
