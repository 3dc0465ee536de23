use clap::Parser;
use kubemaas::cli::{Cli, Command};
use kubemaas::paths::Paths;
use kubemaas::untrusted::TerminalSafe;
use std::process::ExitCode;

fn main() -> ExitCode {
    // color-eyre's hooks make panics readable; ordinary errors are printed below without a
    // backtrace, because operators need the message and the fix, not our stack.
    if let Err(e) = color_eyre::config::HookBuilder::default()
        .display_env_section(false)
        .install()
    {
        eprintln!("warning: cannot install the error reporter: {e}");
    }
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // Errors quote MAAS, gateways and files: never let their text drive the terminal.
            eprintln!("error: {}", TerminalSafe(&e.to_string()));
            for cause in e.chain().skip(1) {
                eprintln!("  caused by: {}", TerminalSafe(&cause.to_string()));
            }
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> color_eyre::Result<()> {
    let paths = Paths::resolve(cli.state_dir.as_deref())?;
    paths.ensure_state_dir()?;
    // Logs stay in the operator's state dir even with --demo, so a demo session can be debugged.
    let _log_guard = kubemaas::logging::init_file_logging(&paths.log_dir())?;
    tracing::info!(version = env!("CARGO_PKG_VERSION"), "kubemaas starting");
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async move {
        match cli.command {
            Some(Command::Sim(args)) => kubemaas::cli::sim_cmd::run(args).await,
            Some(Command::Maas(args)) => kubemaas::cli::maas_cmd::run(args, &paths.state_dir).await,
            Some(Command::Account(args)) => {
                kubemaas::cli::account_cmd::run(args, &paths, cli.state_dir.as_deref()).await
            }
            Some(Command::Profile(args)) => kubemaas::cli::profile_cmd::run(args, &paths.state_dir),
            Some(Command::Gateway(args)) => {
                kubemaas::cli::gateway_cmd::check_readonly(&args, cli.readonly)?;
                kubemaas::cli::gateway_cmd::run(args, &paths).await
            }
            Some(Command::Cluster(args)) => {
                kubemaas::cli::cluster_cmd::run(args, &paths.state_dir).await
            }
            None => {
                // `--demo` keeps its state in a throw-away directory, removed when the console
                // closes; configuration (themes, keymap) still comes from the operator's.
                let demo_dir = if cli.demo {
                    Some(kubemaas::paths::DemoDir::create()?)
                } else {
                    None
                };
                let console_paths = match &demo_dir {
                    Some(d) => Paths {
                        state_dir: d.path().to_path_buf(),
                        config_dir: paths.config_dir.clone(),
                    },
                    None => paths,
                };
                let opts = kubemaas::tui::ConsoleOptions {
                    theme: cli.theme,
                    readonly: cli.readonly,
                    mouse: cli.mouse,
                    demo: cli.demo,
                    gateway: cli.gateway,
                    paths: console_paths,
                };
                kubemaas::tui::run_console(opts).await?;
                drop(demo_dir);
                Ok(())
            }
        }
    })
}
