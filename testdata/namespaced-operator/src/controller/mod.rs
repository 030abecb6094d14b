//! Controllers, one module per reconciled kind.

pub mod redis;
// +kubesmith:scaffold:controllers
