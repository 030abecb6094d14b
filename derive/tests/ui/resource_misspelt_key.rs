#[kubesmith_derive::resource(grup = "cache.example.com", version = "v1alpha1", kind = "Memcached")]
pub struct MemcachedSpec {
    pub size: i32,
}

fn main() {}
