//! `vip tab` and `vip session`: clients of the running `vip serve`'s
//! control API.

use std::process::ExitCode;

use vip_api::{AssignmentSpec, Client, OpenTab, SessionInfo, Tab};

use super::Ctx;
use crate::cli::{AssignArgs, SessionCommand, TabCommand};
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
            let tab: Tab = client.post("/api/v1/tabs", &req)?;
            print_tabs(&[tab], out.json);
        }
        TabCommand::List(out) => {
            let tabs: Vec<Tab> = client.get("/api/v1/tabs")?;
            print_tabs(&tabs, out.json);
        }
        TabCommand::Close { id } => {
            let _: serde_json::Value = client.delete(&format!("/api/v1/tabs/{id}"))?;
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
            let info: SessionInfo =
                client.post(&format!("/api/v1/sessions/{}", encode(&name)), &())?;
            eprintln!("session {} saved with {} tabs", info.name, info.tabs);
        }
        SessionCommand::Load { name, out } => {
            let tabs: Vec<Tab> =
                client.post(&format!("/api/v1/sessions/{}/load", encode(&name)), &())?;
            print_tabs(&tabs, out.json);
        }
        SessionCommand::List(out) => {
            let sessions: Vec<SessionInfo> = client.get("/api/v1/sessions")?;
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

/// A name as one URL path segment.
pub(super) fn encode(name: &str) -> String {
    percent_encoding::utf8_percent_encode(name, percent_encoding::NON_ALPHANUMERIC).to_string()
}
