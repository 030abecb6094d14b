#[kubesmith_derive::resource(group = "Cache.Example.com", version = "v1", kind = "A")]
pub struct ASpec {
    pub size: i32,
}

#[kubesmith_derive::resource(group = "b.example.com", version = "1.0", kind = "B")]
pub struct BSpec {
    pub size: i32,
}

#[kubesmith_derive::resource(group = "c.example.com", version = "v1", kind = "my_kind")]
pub struct CSpec {
    pub size: i32,
}

#[kubesmith_derive::resource(group = "d.example.com", version = "v1", kind = "D", plural = "Ds")]
pub struct DSpec {
    pub size: i32,
}

#[kubesmith_derive::resource(group = "e.example.com", version = "v1", kind = "E", shortnames = ["e", "e_1"])]
pub struct ESpec {
    pub size: i32,
}

fn main() {}
