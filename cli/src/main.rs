#[allow(dead_code)]
mod rbac;

fn main() {}
