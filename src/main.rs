use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = reserve_dispatch::cli::Cli::parse();
    match reserve_dispatch::cli::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
