//! API types, one module per group.

pub mod crew;
pub mod sea_creatures;
pub mod ship;
// +kubesmith:scaffold:groups
