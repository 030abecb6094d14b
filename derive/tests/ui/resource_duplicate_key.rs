#[kubesmith_derive::resource(group = "a.example.com", version = "v1", kind = "A", version = "v2")]
pub struct ASpec {
    pub size: i32,
}

#[kubesmith_derive::resource(group = "b.example.com", version = "v1", kind = "B", namespaced, scope = "Cluster")]
pub struct BSpec {
    pub size: i32,
}

fn main() {}
