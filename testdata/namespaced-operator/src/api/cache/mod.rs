//! The cache.example.com API group.

pub mod v1;
// +kubesmith:scaffold:versions
