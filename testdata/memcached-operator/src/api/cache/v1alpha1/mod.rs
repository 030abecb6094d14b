//! Version v1alpha1 of the cache.example.com API group.

pub mod memcached;
pub use memcached::*;
// +kubesmith:scaffold:kinds
