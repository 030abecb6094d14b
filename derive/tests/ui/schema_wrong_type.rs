use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[kubesmith_derive::resource(group = "a.example.com", version = "v1", kind = "Typed")]
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct TypedSpec {
    #[kubesmith(minimum = 1)]
    pub name: String,
    #[kubesmith(max_length = 3)]
    pub size: Option<i32>,
    #[kubesmith(min_items = 1)]
    pub tag: String,
    #[kubesmith(minimum = 0, max_length = 5, max_items = 2)]
    pub number: i64,
}

#[kubesmith_derive::schema]
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[kubesmith(max_length = 5)]
pub struct Count(pub u32);

fn main() {}
