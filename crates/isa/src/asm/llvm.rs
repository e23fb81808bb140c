//! PLACEHOLDER: being written.

use super::{LineError, Statement};

pub(crate) fn parse_line(_line: &str) -> Result<Vec<Statement>, LineError> {
    Ok(Vec::new())
}
