#[kubesmith_derive::resource(group = cache.example.com, version = "v1", kind = "A")]
pub struct ASpec {
    pub size: i32,
}

#[kubesmith_derive::resource(group = "b.example.com", version = "v1", kind = "B", plural = ["bs"])]
pub struct BSpec {
    pub size: i32,
}

#[kubesmith_derive::resource(group = "c.example.com", version = "v1", kind = "C", shortnames = [c])]
pub struct CSpec {
    pub size: i32,
}

#[kubesmith_derive::resource(group = "d.example.com", version = "v1", kind = "D", namespaced = true)]
pub struct DSpec {
    pub size: i32,
}

fn main() {}
