//! `camplane`: the command-line client. Logic lives in `camplane_controller::cli`.

use clap::Parser;
use std::process::ExitCode;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = camplane_controller::cli::Cli::parse();
    match camplane_controller::cli::run(cli).await {
        Ok(code) => ExitCode::from(code as u8),
        Err(e) => {
            eprintln!("camplane: {e:#}");
            ExitCode::from(1)
        }
    }
}
