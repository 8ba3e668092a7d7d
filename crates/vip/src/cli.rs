//! The command line, as clap types. Every user-facing command and flag is
//! declared here so `vip --help` is the complete manual.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// Virtual IP Browser: a privacy browser with serious proxy management.
///
/// Run without a command to see the version, data directory and the
/// commands available in this build.
#[derive(Debug, Parser)]
#[command(name = "vip", version, about, long_about = None)]
pub struct Cli {
    /// Where vip keeps its database and settings [default: the platform's
    /// data directory, e.g. ~/.local/share/vip].
    #[arg(long, global = true, env = "VIP_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,

    /// The command to run.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// List the rotation strategies and what each does.
    Strategies {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Work with rotation configs.
    #[command(subcommand)]
    Rotation(RotationCommand),
}

/// `vip rotation ...`
#[derive(Debug, Subcommand)]
pub enum RotationCommand {
    /// Check a rotation config JSON file and show what it means; errors name
    /// the JSON path (or rule and field) and how to fix it. Exit code 2 when
    /// the file is invalid.
    Validate {
        /// The JSON file ("-" for standard input).
        file: PathBuf,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
}
