//! `vip`: the Virtual IP Browser binary. Wiring only: parse the command line,
//! resolve the data directory, run the command, map errors to exit codes.
//! Exit codes: 0 success, 1 failure at run time, 2 invalid input or usage.

mod cli;
mod commands;
mod data_dir;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match commands::run(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(1)
        }
    }
}
