use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[kubesmith_derive::schema]
#[derive(Serialize, Deserialize, JsonSchema)]
pub struct Misspelt {
    #[kubesmith(minimun = 1)]
    pub a: i32,
}

#[kubesmith_derive::schema]
#[derive(Serialize, Deserialize, JsonSchema)]
pub struct WrongValue {
    #[kubesmith(max_length = "10")]
    pub a: String,
}

#[kubesmith_derive::schema]
#[derive(Serialize, Deserialize, JsonSchema)]
pub struct FlagWithValue {
    #[kubesmith(immutable = true)]
    pub a: String,
}

#[kubesmith_derive::schema]
#[derive(Serialize, Deserialize, JsonSchema)]
pub struct BadChoice {
    #[kubesmith(list_type = "sorted")]
    pub a: Vec<String>,
}

#[kubesmith_derive::schema]
#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[kubesmith(exactly_one_of = ["image", "bild"])]
pub struct UnknownField {
    pub image: Option<String>,
    pub build: Option<String>,
}

#[kubesmith_derive::schema]
#[derive(Serialize, Deserialize, JsonSchema)]
pub struct RuleWithoutRule {
    #[kubesmith(validation(message = "must be set"))]
    pub a: String,
}

#[kubesmith_derive::schema]
#[derive(Serialize, Deserialize, JsonSchema)]
#[kubesmith(minimum = 1)]
pub struct FieldKeyOnType {
    pub a: String,
}

#[kubesmith_derive::resource(group = "a.example.com", version = "v1", kind = "Col",
    printcolumn(name = "Size", type = "int", json_path = ".spec.size"))]
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct ColSpec {
    pub size: i32,
}

#[kubesmith_derive::resource(group = "a.example.com", version = "v1", kind = "Scaled",
    scale(spec_replicas_path = ".spec.replicas", status_replicas_path = ".status.replicas"))]
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct ScaledSpec {
    pub replicas: i32,
}

#[kubesmith_derive::schema]
#[derive(Serialize, Deserialize, JsonSchema)]
pub enum OnVariant {
    #[kubesmith(title = "A")]
    A,
}

fn main() {}
