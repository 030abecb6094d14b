//! Controllers, one module per reconciled kind.

pub mod captain;
pub mod captain_backup;
pub mod frigate;
pub mod r#match;
// +kubesmith:scaffold:controllers
