//! Compile-fail snapshots: each class of bad attribute is reported on the
//! offending token with the valid choices. Regenerate with `TRYBUILD=overwrite`.

#[test]
fn ui() {
    trybuild::TestCases::new().compile_fail("tests/ui/*.rs");
}
