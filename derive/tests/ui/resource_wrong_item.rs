#[kubesmith_derive::resource(group = "a.example.com", version = "v1", kind = "A")]
pub enum ASpec {
    One,
}

#[kubesmith_derive::resource(group = "b.example.com", version = "v1", kind = "B")]
pub struct BSpec(i32);

#[kubesmith_derive::resource(group = "c.example.com", version = "v1", kind = "C")]
pub struct C {
    pub size: i32,
}

fn main() {}
