// TEMPORARY STUB (not committed)
use crate::source::SourceFile;
use anyhow::Result;
pub struct RbacRule;
pub fn rules(_f: &[SourceFile]) -> Result<Vec<RbacRule>> {
    Ok(vec![])
}
pub fn role_yaml(_r: &[RbacRule]) -> String {
    String::new()
}
