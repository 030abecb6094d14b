//! kubesmith-runtime: informer cache, work queue, controllers and manager for operators
//! scaffolded by kubesmith.

pub mod queue;
