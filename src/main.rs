use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = reserve_dispatch::cli::Cli::parse();
    match reserve_dispatch::cli::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            // One line: what failed, and for the server's answers the field at fault.
            eprintln!("error: {err:#}");
            std::process::ExitCode::from(reserve_dispatch::client::exit_code(&err))
        }
    }
}
