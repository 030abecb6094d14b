//! kubesmith: kubebuilder for Rust.

mod builtin;
mod commands;
mod crd;
mod external;
mod from_crd;
mod names;
mod project;
mod rbac;
mod scaffold;
mod source;
mod templates;
mod versions;
mod webhook;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

/// Scaffold Kubernetes operators in Rust, generate their CRD and RBAC manifests from Rust
/// attributes, and run them against an embedded API server.
#[derive(Debug, Parser)]
#[command(
    name = "kubesmith",
    version,
    after_help = "Get started by initializing a new project:\n  \
    mkdir memcached-operator && cd memcached-operator\n  \
    kubesmith init --domain example.com\n  \
    kubesmith create api --group cache --version v1alpha1 --kind Memcached\n  \
    cargo test"
)]
struct Cli {
    /// The project to work on (default: the current directory).
    #[arg(long, global = true)]
    project_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Initialize a new operator project in the current directory.
    Init(commands::init::InitArgs),
    /// Scaffold a Kubernetes API (types, controller, sample, test).
    #[command(subcommand)]
    Create(CreateCommand),
    /// Change a project-wide setting (namespaced, license, owner) and update what it scaffolded.
    Edit(commands::edit::EditArgs),
    /// Generate CRDs (config/crd/bases) and RBAC (config/rbac/role.yaml) from the Rust attributes.
    Generate(commands::generate::GenerateArgs),
    /// The embedded Kubernetes API server.
    #[command(subcommand)]
    Envtest(EnvtestCommand),
    /// Experimental commands.
    #[command(subcommand)]
    Alpha(AlphaCommand),
    /// Print the versions of kubesmith and of what it generates.
    Version,
    /// Print a shell completion script.
    #[command(after_help = "Examples:\n  \
    kubesmith completion bash > /etc/bash_completion.d/kubesmith\n  \
    kubesmith completion zsh > \"${fpath[1]}/_kubesmith\"\n  \
    kubesmith completion fish > ~/.config/fish/completions/kubesmith.fish")]
    Completion {
        /// The shell to complete for.
        shell: clap_complete::Shell,
    },
}

#[derive(Debug, Subcommand)]
enum CreateCommand {
    /// Scaffold a new API: the kind's types, its controller, a sample and a test.
    Api(commands::create_api::CreateApiArgs),
    /// Scaffold a defaulting, validating and/or conversion webhook for a kind.
    Webhook(commands::create_webhook::CreateWebhookArgs),
}

#[derive(Debug, Subcommand)]
enum AlphaCommand {
    /// Re-scaffold the project from its PROJECT file with the current templates.
    Generate(commands::alpha::GenerateArgs),
}

#[derive(Debug, Subcommand)]
enum EnvtestCommand {
    /// Run the embedded API server until Ctrl-C, for kubectl and `cargo run`.
    Serve(commands::envtest::ServeArgs),
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // Help and --version are not errors; bad arguments exit 1 like every other bad input.
        Err(err) if !err.use_stderr() => {
            let _ = err.print();
            return ExitCode::SUCCESS;
        }
        Err(err) => {
            let _ = err.print();
            return ExitCode::FAILURE;
        }
    };
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let dir = || project::project_dir(cli.project_dir.as_deref());
    match cli.command {
        Command::Init(args) => commands::init::run(&dir()?, &args),
        Command::Create(CreateCommand::Api(args)) => commands::create_api::run(&dir()?, &args),
        Command::Create(CreateCommand::Webhook(args)) => {
            commands::create_webhook::run(&dir()?, &args)
        }
        Command::Edit(args) => commands::edit::run(&dir()?, &args),
        Command::Generate(args) => commands::generate::run(&dir()?, &args),
        Command::Envtest(EnvtestCommand::Serve(args)) => commands::envtest::serve(&args),
        Command::Alpha(AlphaCommand::Generate(args)) => commands::alpha::generate(&dir()?, &args),
        Command::Version => {
            println!("kubesmith:   {}", env!("CARGO_PKG_VERSION"));
            println!("kube:        {}", versions::KUBE);
            println!(
                "k8s-openapi: {} ({})",
                versions::K8S_OPENAPI,
                versions::K8S_OPENAPI_FEATURE
            );
            Ok(())
        }
        Command::Completion { shell } => {
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "kubesmith",
                &mut std::io::stdout(),
            );
            Ok(())
        }
    }
}
