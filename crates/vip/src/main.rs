//! `vip`: the Virtual IP Browser binary. Wiring only: parse the command line,
//! resolve the data directory, run the command, map errors to exit codes
//! (documented in `vip --help`).

mod cli;
mod commands;
mod data_dir;
mod logging;
mod master;
mod output;
mod serve;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    if let Err(e) = logging::init(cli.log_level.as_deref(), cli.log_format) {
        eprintln!("error: {e}");
        return ExitCode::from(2);
    }
    match commands::run(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(commands::exit_code(&err))
        }
    }
}
