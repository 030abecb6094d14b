//! Controllers, one module per reconciled kind.

pub mod memcached;
// +kubesmith:scaffold:controllers
