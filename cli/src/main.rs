//! `seaf-backup`: see the library crate for the commands.

use std::process::ExitCode;

use clap::Parser;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = seaf_backup_cli::Cli::parse();
    ExitCode::from(seaf_backup_cli::run(cli).await as u8)
}
