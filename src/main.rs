use clap::Parser;
use kubemaas::cli::{Cli, Command};
use kubemaas::paths::Paths;

fn main() -> color_eyre::Result<()> {
    color_eyre::config::HookBuilder::default()
        .display_env_section(false)
        .install()?;
    let cli = Cli::parse();
    let paths = Paths::resolve(cli.state_dir.as_deref())?;
    paths.ensure_state_dir()?;
    let _log_guard = kubemaas::logging::init_file_logging(&paths.log_dir())?;
    tracing::info!(version = env!("CARGO_PKG_VERSION"), "kubemaas starting");
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async move {
        match cli.command {
            Some(Command::Sim(args)) => kubemaas::cli::sim_cmd::run(args).await,
            Some(Command::Maas(args)) => kubemaas::cli::maas_cmd::run(args).await,
            None => {
                use clap::CommandFactory;
                Cli::command().print_help()?;
                Ok(())
            }
        }
    })
}
