//! One module per subcommand.

pub mod alpha;
pub mod create_api;
pub mod create_webhook;
pub mod edit;
pub mod envtest;
pub mod generate;
pub mod init;
