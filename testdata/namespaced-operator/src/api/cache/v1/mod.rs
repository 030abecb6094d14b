//! Version v1 of the cache.example.com API group.

pub mod redis;
pub use redis::*;
// +kubesmith:scaffold:kinds
