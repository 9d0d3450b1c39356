//! Hash commands.

use super::table::c;
use super::Command;

/// This family's entries in the command table.
pub fn commands() -> Vec<Command> {
    let _ = c;
    Vec::new()
}
