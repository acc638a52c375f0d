//! Compose: a `compose.yaml` per host for small single-host estates.

use crate::RenderError;
use crate::tree::Tree;
use ward_estate::Estate;

/// Renders the estate as compose projects.
pub fn render(_estate: &Estate) -> Result<Tree, RenderError> {
    Ok(Tree::default())
}
