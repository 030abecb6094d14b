#[kubesmith_derive::resource(group = "cache.example.com", version = "v1alpha1")]
pub struct MemcachedSpec {
    pub size: i32,
}

fn main() {}
