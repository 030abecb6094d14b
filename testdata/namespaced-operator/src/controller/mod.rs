//! Controllers, one module per reconciled kind.

pub mod deployment;
pub mod redis;
// +kubesmith:scaffold:controllers
